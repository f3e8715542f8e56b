//! The verdict of a case once its connection is gone, by Autobahn's rules
//! (`../shared/spec/autobahn.md` §1.1): `behavior` from the recorded events against the
//! expected lists, `behaviorClose` from who closed, how cleanly and with which code,
//! then the per-case overrides.

use serde::{Deserialize, Serialize};

use super::catalogue::{Case, Event, Rule};

/// Autobahn's status values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Status {
    /// Passed.
    #[serde(rename = "OK")]
    Ok,
    /// Passed, but not the strictest way.
    #[serde(rename = "NON-STRICT")]
    NonStrict,
    /// Outcome not defined by the spec.
    #[serde(rename = "INFORMATIONAL")]
    Informational,
    /// The client lacks the feature (permessage-deflate).
    #[serde(rename = "UNIMPLEMENTED")]
    Unimplemented,
    /// Failed.
    #[serde(rename = "FAILED")]
    Failed,
    /// The client closed with a code it should not have used.
    #[serde(rename = "WRONG CODE")]
    WrongCode,
    /// The close handshake did not complete where it must.
    #[serde(rename = "UNCLEAN")]
    Unclean,
    /// The client dropped TCP (fuzzingclient mode only).
    #[serde(rename = "FAILED BY CLIENT")]
    FailedByClient,
}

impl Status {
    /// The spelling in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::NonStrict => "NON-STRICT",
            Status::Informational => "INFORMATIONAL",
            Status::Unimplemented => "UNIMPLEMENTED",
            Status::Failed => "FAILED",
            Status::WrongCode => "WRONG CODE",
            Status::Unclean => "UNCLEAN",
            Status::FailedByClient => "FAILED BY CLIENT",
        }
    }

    /// Parses the report spelling.
    pub fn parse(s: &str) -> Option<Status> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }

    /// How good it is, for the golden gate: a lower rank is worse. INFORMATIONAL and
    /// UNIMPLEMENTED rank with OK (they are not failures of what the client does).
    pub fn rank(self) -> u8 {
        match self {
            Status::Ok | Status::Informational | Status::Unimplemented => 3,
            Status::NonStrict => 2,
            Status::FailedByClient | Status::WrongCode => 1,
            Status::Failed | Status::Unclean => 0,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the fuzzer saw of one connection, everything the verdict depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// The opening handshake completed.
    pub open: bool,
    /// The events recorded (messages, pings, pongs, timeouts), in order.
    pub received: Vec<Event>,
    /// The fuzzer sent the first close.
    pub closed_by_me: bool,
    /// The fuzzer failed the connection (a violation by the client, or `killAfter`).
    pub failed_by_me: bool,
    /// The fuzzer closed the TCP connection.
    pub dropped_by_me: bool,
    /// Close frames went both ways before TCP closed.
    pub was_clean: bool,
    /// The code of the client's close (`None`: no close, or one without a code).
    pub remote_close_code: Option<u16>,
    /// The outcome of a 9.x flow (`Some(Ok)` on a right echo), with its text.
    pub flow: Option<(Status, String)>,
    /// Whether a 12/13 case negotiated permessage-deflate (never, so far).
    pub deflate: bool,
    /// Frames the fuzzer sent, by opcode, before the case's own close (10.1.1).
    pub tx_data_frames: [u64; 3],
}

/// A case's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `behavior`.
    pub behavior: Status,
    /// `behaviorClose`.
    pub behavior_close: Status,
    /// `result`.
    pub result: String,
    /// `resultClose`.
    pub result_close: String,
}

const MATCH: &str = "Actual events match at least one expected.";
const DIFFER: &str = "Actual events differ from any expected.";

/// Judges `obs` for `case`.
pub fn judge(case: &Case, obs: &Observation) -> Verdict {
    let xc = &case.expected_close;
    // behavior: the first expected list that equals what was received.
    let (mut behavior, mut result) = (Status::Failed, DIFFER.to_string());
    if let Some((k, _)) = case.expected.iter().find(|(_, ev)| *ev == obs.received) {
        behavior = if *k == "OK" { Status::Ok } else { Status::NonStrict };
        result = MATCH.to_string();
    }
    // behaviorClose.
    let (mut behavior_close, mut result_close) = if !obs.open {
        (Status::Failed, "The WebSocket opening handshake was never completed!".to_string())
    } else if xc.closed_by_me != obs.closed_by_me {
        (Status::Failed, "The connection was failed by the wrong endpoint".to_string())
    } else if xc.require_clean && !obs.was_clean {
        (Status::Unclean, "The spec requires the connection to be failed cleanly here".to_string())
    } else if obs.remote_close_code.is_some_and(|c| !xc.codes.contains(&c)) {
        let codes: Vec<String> = xc.codes.iter().map(|c| c.to_string()).collect();
        (Status::WrongCode, format!("The close code should have been {} or empty", codes.join(",")))
    } else {
        (Status::Ok, "Connection was properly closed".to_string())
    };
    if xc.wrong_endpoint_fatal && xc.closed_by_me != obs.closed_by_me {
        behavior = Status::Failed;
    }
    match case.rule {
        Rule::Events => {}
        Rule::CloseCodeFatal => {
            if behavior_close == Status::WrongCode {
                behavior = Status::Failed;
                result = result_close.clone();
            }
        }
        Rule::Informational => {
            behavior = Status::Informational;
            behavior_close = Status::Informational;
            result = informational_result(case, obs);
            result_close = format!(
                "Connection was closed {}.",
                if obs.was_clean { "cleanly" } else { "uncleanly" }
            );
        }
        Rule::FrameCount => {
            if behavior == Status::Ok && obs.tx_data_frames[..2] != [50, 1] {
                behavior = Status::Failed;
                result = format!(
                    "Frame counts were not as expected: sent {} text and {} continuation frames, expected 1 and 50.",
                    obs.tx_data_frames[1], obs.tx_data_frames[0]
                );
            }
        }
        Rule::Flow => match &obs.flow {
            Some((s, text)) => {
                behavior = *s;
                result = text.clone();
            }
            None => {
                behavior = Status::Failed;
                result = format!(
                    "Did not receive message within {} seconds.",
                    case.max_wait_ms() / 1000
                );
            }
        },
        Rule::Deflate => {
            if !obs.deflate {
                behavior = Status::Unimplemented;
                result = DIFFER.to_string();
            }
        }
    }
    Verdict { behavior, behavior_close, result, result_close }
}

/// The text of an INFORMATIONAL case: what the client did.
fn informational_result(case: &Case, obs: &Observation) -> String {
    if case.id.0 == [7, 1, 6] {
        let got = obs.received.iter().filter(|e| matches!(e, Event::Message { .. })).count();
        return match got {
            2 => "Both messages were echoed before the close: the messages were processed before the close.".into(),
            0 => "No message was echoed: the close was processed first.".into(),
            _ => "Part of the messages were echoed before the close.".into(),
        };
    }
    match obs.remote_close_code {
        Some(c) => format!("The client closed with code {c}."),
        None if obs.closed_by_me && !obs.was_clean => "The client did not answer the close.".into(),
        None => "The client closed without a code or dropped the connection.".into(),
    }
}

#[cfg(test)]
mod tests;
