//! The command line: clap subcommands, each mapping its outcome to an exit code.

pub mod agent;
pub mod conformance;
pub mod connect;
pub mod fuzzingserver;
pub mod run;
pub mod serve;
pub mod sweep;
