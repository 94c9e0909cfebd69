//! Integration tests of `accord-policy`, one module per feature (one test binary).

mod approval;
mod check;
mod gate;
mod mandate;
mod mandate_prop;
