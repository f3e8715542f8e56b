//! The command line: clap subcommands, each mapping its outcome to an exit code.

pub mod connect;
