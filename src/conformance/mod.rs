//! Autobahn|Testsuite conformance without Docker or Python: the fuzzingserver's case
//! catalogue as data, a fuzzing server that plays a case on any byte stream, the
//! judge with Autobahn's verdict rules, Autobahn's report files, and the runs against
//! the client model (simulated or real world) and agent DUTs.

mod catalogue;
mod fuzzingserver;
mod golden;
mod handshake;
mod id;
mod judge;
mod player;
mod report;
mod run;
mod utf8;

pub use catalogue::{
    Case, End, Event, ExpectedClose, FrameSpec, Payload, PayloadBuilder, Plan, Rule, Step,
    catalogue, category_name, find, render_payload,
};
pub use fuzzingserver::{FuzzingServer, Spec, SpecFile, load_spec, spec_from};
pub use golden::{Change, GoldenDiff, behavior_counts, compare, golden_entries};
pub use handshake::{
    MAX_REQUEST, Request, RequestError, SERVER, parse as parse_request, read_request,
};
pub use id::{CaseId, Pattern};
pub use judge::{Observation, Status, Verdict, judge};
pub use player::{CLOSE_HANDSHAKE_TIMEOUT, CaseRecord, WIRELOG_ROWS, play};
pub use report::{
    CaseFile, ExpectedCloseJson, Index, IndexEntry, ReportWriter, case_html, case_stem, index_html,
    read_index, to_json, write_atomic,
};
pub use run::{CaseOutcome, RunConfig, SIM_PORT, World, run_cases, run_one, select};
pub use utf8::Utf8Stream;
