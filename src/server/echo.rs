//! The well-behaved echo server (tokio-tungstenite): echoes text and binary messages,
//! answers pings and closes, and answers subprotocol requests by policy.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// How long the CLOSE of an over-limit message may take to write.
const CLOSE_LIMIT: Duration = Duration::from_secs(1);

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

/// What one echo connection may hold: a larger message or frame closes the connection
/// (tungstenite answers with a CLOSE 1009), so memory per connection is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoLimits {
    /// The largest message echoed.
    pub max_message: usize,
    /// The largest frame payload accepted.
    pub max_frame: usize,
}

impl Default for EchoLimits {
    fn default() -> Self {
        EchoLimits { max_message: 16 << 20, max_frame: 16 << 20 }
    }
}

impl EchoLimits {
    fn config(self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(32 * 1024)
            .write_buffer_size(32 * 1024)
            .max_write_buffer_size(2 * self.max_message + 64 * 1024)
            .max_message_size(Some(self.max_message))
            .max_frame_size(Some(self.max_frame))
    }
}

/// Serves one echo connection until the client goes away; the handshake must finish
/// within `handshake_timeout`. `limits` (`None`: tungstenite's defaults) bound what one
/// message may take.
pub async fn serve_echo<S: ServerIo>(
    stream: S,
    policy: SubprotocolPolicy,
    handshake_timeout: Duration,
    limits: Option<EchoLimits>,
) {
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
    let config = limits.map(EchoLimits::config);
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, config);
    let Ok(Ok(mut ws)) = tokio::time::timeout(handshake_timeout, handshake).await else {
        return;
    };
    loop {
        match ws.next().await {
            Some(Ok(msg)) => {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                    return;
                }
            }
            Some(Err(WsError::Capacity(e))) => {
                // Too big for the limits: say so (1009) before the connection ends.
                let close = CloseFrame { code: CloseCode::Size, reason: e.to_string().into() };
                let _ = tokio::time::timeout(CLOSE_LIMIT, ws.close(Some(close))).await;
                return;
            }
            Some(Err(_)) | None => return,
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
