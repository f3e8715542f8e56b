//! The well-behaved echo server (tokio-tungstenite): echoes text and binary messages,
//! answers pings and closes, and answers subprotocol requests by policy.

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

use super::io::ServerIo;

/// How the echo server answers `Sec-WebSocket-Protocol`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SubprotocolPolicy {
    /// Never answer with a subprotocol.
    #[default]
    None,
    /// Answer with the first protocol the client offered.
    First,
    /// Answer with this protocol if the client offered it, else with none.
    Pick(String),
    /// Always answer with this protocol, offered or not.
    Unoffered(String),
}

impl SubprotocolPolicy {
    /// The protocol to answer for the offered list (`Sec-WebSocket-Protocol` value).
    pub fn answer(&self, offered: Option<&str>) -> Option<String> {
        let list: Vec<&str> = offered
            .map(|o| o.split(',').map(str::trim).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        match self {
            SubprotocolPolicy::None => None,
            SubprotocolPolicy::First => list.first().map(|s| s.to_string()),
            SubprotocolPolicy::Pick(p) => list.contains(&p.as_str()).then(|| p.clone()),
            SubprotocolPolicy::Unoffered(p) => Some(p.clone()),
        }
    }
}

/// Serves one echo connection until the client goes away.
pub async fn serve_echo<S: ServerIo>(stream: S, policy: SubprotocolPolicy) {
    #[expect(clippy::result_large_err, reason = "the callback signature is tungstenite's")]
    let callback = move |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let offered = req.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok());
        if let Some(p) = policy.answer(offered)
            && let Ok(v) = p.parse()
        {
            resp.headers_mut().insert("Sec-WebSocket-Protocol", v);
        }
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        let offered = Some("chat, superchat");
        assert_eq!(SubprotocolPolicy::None.answer(offered), None);
        assert_eq!(SubprotocolPolicy::First.answer(offered).as_deref(), Some("chat"));
        assert_eq!(
            SubprotocolPolicy::Pick("superchat".into()).answer(offered).as_deref(),
            Some("superchat")
        );
        assert_eq!(SubprotocolPolicy::Pick("x".into()).answer(offered), None);
        assert_eq!(SubprotocolPolicy::Unoffered("x".into()).answer(None).as_deref(), Some("x"));
    }
}
