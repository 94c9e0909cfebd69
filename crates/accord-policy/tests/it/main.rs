//! Integration tests of `accord-policy`, one module per feature (one test binary).

mod approval;
mod check;
mod gate;
mod governance;
mod mandate;
mod mandate_prop;
mod support;
