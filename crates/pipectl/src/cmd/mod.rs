//! One module per subcommand, each a thin layer over a library call.

pub mod check;
pub mod compare;
pub mod compose;
pub mod docs;
pub mod fetch;
pub mod inspect;
pub mod key;
pub mod plugin;
pub mod publish;
pub mod run;
pub mod serve;
pub mod sign;
pub mod test;
pub mod verify;
pub mod wit;
