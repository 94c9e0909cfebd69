//! Integration tests of `accord-policy`, one module per feature (one test binary).

mod gate;
