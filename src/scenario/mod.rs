//! Scenario files: the format (TOML, JSON accepted), loading with precise errors,
//! validation, payload generators, and the JSON Schema.

mod load;
mod model;
mod payload;

pub use load::{LoadedScenario, ScenarioError, discover, load_all, load_scenario, parse_scenario};
pub use model::*;
pub use payload::{Payload, PayloadError, PayloadGen, parse_hex};

/// The JSON Schema of the scenario format.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Scenario)).unwrap_or_default()
}
