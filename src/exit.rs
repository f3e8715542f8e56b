//! The process exit codes of every `wsim` command, as documented constants.

/// Everything passed (or, for `connect`, the client connected).
pub const SUCCESS: i32 = 0;
/// Some check failed (for `connect`: the client never connected).
pub const FAILED: i32 = 1;
/// Bad input or usage: a malformed argument, URI or file.
pub const BAD_INPUT: i32 = 2;
/// The device under test could not be reached.
pub const DUT_UNREACHABLE: i32 = 3;
/// An internal error of wsim itself; for `wsim run`, also a report that could not be
/// written in full during or after the run (a full disk): the verdicts are still printed.
pub const INTERNAL: i32 = 4;
/// `wsim run` was interrupted (Ctrl-C, SIGINT): the report holds what finished, marked
/// partial. 130 is the shell's code for a process ended by SIGINT.
pub const INTERRUPTED: i32 = 130;
