//! The runner: builds each scenario's world, drives its steps, matches events, decides
//! verdicts, and emits a linear stream of run events. No printing here.

mod events;
mod execute;
mod matcher;
mod runner;
mod sweep;
mod world;

pub use crate::text::panic_message;
pub use events::{EventRecord, RunEvent, RunInfo, ScenarioReport, TraceEntry, Verdict};
pub use execute::{RunContext, run_scenario, scenario_seed};
pub use matcher::sha256_hex;
pub use runner::{RunOptions, Selection, StopSignal, run, run_until};
pub use sweep::{SeedRange, SweepEvent, sweep};
pub use world::DutSite;
