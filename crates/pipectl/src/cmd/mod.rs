//! One module per subcommand, each a thin layer over a library call.

pub mod check;
pub mod compose;
pub mod fetch;
pub mod key;
pub mod publish;
pub mod registry;
pub mod run;
pub mod test;
pub mod sign;
pub mod verify;
pub mod wit;
