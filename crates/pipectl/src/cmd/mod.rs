//! One module per subcommand, each a thin layer over a library call.

pub mod check;
pub mod compose;
pub mod run;
pub mod wit;
