//! The limits a scenario is held to at load, so that whatever `wsim check` accepts runs
//! without exhausting memory or time. The README lists them.

/// Largest scenario file (loading takes about a hundred times its size in memory).
pub const MAX_FILE_BYTES: u64 = 8 << 20;
/// Largest single payload (`repeat.len`, `random`, a `file`, a hex or text payload).
pub const MAX_PAYLOAD_BYTES: usize = 16 << 20;
/// Largest total of all payloads a scenario generates.
pub const MAX_SCENARIO_PAYLOAD_BYTES: usize = 256 << 20;
/// Largest `{ file = … }` (payloads and certificates).
pub const MAX_DATA_FILE_BYTES: u64 = MAX_PAYLOAD_BYTES as u64;
/// Most steps in one scenario.
pub const MAX_STEPS: usize = 200_000;
/// Most clients or servers in one scenario.
pub const MAX_INSTANCES: usize = 1_000;
/// Fastest `bandwidth` toxic, in KB/s (10 GB/s).
pub const MAX_RATE_KBPS: u64 = 10_000_000;
/// Most events one scenario may raise before it errors (a client and a server, or a
/// reaction, that answer each other at no virtual cost would otherwise loop forever).
pub const MAX_EVENTS: usize = 200_000;
/// Most entries in a list a scenario gives (fragments, handshake pieces, frames in one
/// write, refused connections, suppressed frames, expectations in one step, …).
pub const MAX_LIST: usize = 100_000;
/// Largest handshake `pad`.
pub const MAX_PAD_BYTES: usize = 1 << 20;
/// Longest time anything takes or waits: `timeout_ms`, `wait_ms`, `within_ms`, call
/// timeouts, toxic times, client timers (24 hours).
pub const MAX_TIME_MS: u64 = 24 * 60 * 60 * 1000;
/// Largest `buffer_size` of a client (the model allocates two buffers of it).
pub const MAX_BUFFER_SIZE: i32 = 16 << 20;

/// Checks a number against an upper bound, naming the field and the limit.
pub fn at_most<T: PartialOrd + std::fmt::Display>(
    field: &str,
    value: T,
    max: T,
) -> Result<T, String> {
    if value > max {
        Err(format!("{field} = {value} exceeds the limit of {max}"))
    } else {
        Ok(value)
    }
}

/// Checks a time in milliseconds against [`MAX_TIME_MS`].
pub fn time_ms(field: &str, ms: u64) -> Result<u64, String> {
    at_most(field, ms, MAX_TIME_MS).map_err(|e| format!("{e} ms (24 hours)"))
}

/// Checks a list's length against [`MAX_LIST`].
pub fn list<T>(field: &str, items: &[T]) -> Result<(), String> {
    if items.len() > MAX_LIST {
        Err(format!("{field} has {} entries, more than the limit of {MAX_LIST}", items.len()))
    } else {
        Ok(())
    }
}
