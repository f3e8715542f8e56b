//! Scenario files: the format (TOML, JSON accepted), loading with precise errors,
//! validation and lowering into a ready-to-run [`Plan`], payload generators, limits,
//! and the JSON Schema.

mod draw;
mod dut;
mod files;
mod limits;
mod load;
mod locate;
mod lower;
mod model;
mod payload;
mod plan;
mod template;

pub use draw::{Choice, DrawSite, Drawn, Draws, MAX_DRAW_SITES, MAX_ONE_OF};
pub use dut::{DutKind, DutRules, SkipReason};
pub use limits::*;
pub use load::{LoadedScenario, ScenarioError, discover, load_all, load_scenario, parse_scenario};
pub use model::*;
pub use payload::{Payload, PayloadError, PayloadGen, parse_hex};
pub use plan::*;
pub use template::{AddrPart, ServerAddr, Template};

/// The JSON Schema of the scenario format (every integer may be randomised).
pub fn json_schema() -> serde_json::Value {
    draw::schema_with_ranges(
        serde_json::to_value(schemars::schema_for!(Scenario)).unwrap_or_default(),
    )
}
