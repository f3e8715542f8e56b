//! The process exit codes of every `wsim` command, as documented constants.

/// Everything passed (or, for `connect`, the client connected).
pub const SUCCESS: i32 = 0;
/// Some check failed (for `connect`: the client never connected).
pub const FAILED: i32 = 1;
/// Bad input or usage: a malformed argument, URI or file.
pub const BAD_INPUT: i32 = 2;
/// The device under test could not be reached.
pub const DUT_UNREACHABLE: i32 = 3;
/// An internal error of wsim itself.
pub const INTERNAL: i32 = 4;
