//! The host DUT's reactions: a [`ReactionSpec`] as an [`esp::Reaction`](Reaction) of
//! the client model, reporting each call it makes and what the call returned.

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::command::{ClientCommand, DutReport, HandlerCall, ReactionSpec};
use crate::esp::{
    Assembled, BoxFuture, Echo, EchoReport, HandlerApi, OwnedEvent, Reaction, Reassembler,
};

/// The longest message a reassembling reaction keeps (the scenario payload limit);
/// longer ones are not echoed.
pub const MAX_REASSEMBLED: usize = crate::scenario::MAX_PAYLOAD_BYTES;

/// One scripted reaction of a host-DUT client.
pub struct ScriptedReaction {
    spec: ReactionSpec,
    reporter: Reporter,
    assembler: Reassembler,
    echo: Option<Echo>,
    messages: u64,
}

impl std::fmt::Debug for ScriptedReaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedReaction")
            .field("client", &self.reporter.client)
            .field("index", &self.reporter.index)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl ScriptedReaction {
    /// Reaction number `index` (1-based) of `client`, reporting on `tx` with times
    /// since `epoch`.
    pub fn new(
        spec: ReactionSpec,
        index: usize,
        client: &str,
        tx: mpsc::UnboundedSender<DutReport>,
        epoch: Instant,
    ) -> Self {
        let reporter = Reporter { tx, client: client.to_string(), index, epoch };
        let echo = match &spec {
            ReactionSpec::Echo { timeout } => {
                let reporter = reporter.clone();
                Some(Echo::new(MAX_REASSEMBLED, *timeout, move |r| match r {
                    EchoReport::Sent { function, returned, .. } => {
                        reporter.report(function, i64::from(returned))
                    }
                    // Not echoed: reported as a send that was not made.
                    EchoReport::TooLong { .. } => reporter.report("echo (message too long)", -1),
                }))
            }
            _ => None,
        };
        ScriptedReaction {
            echo,
            spec,
            reporter,
            assembler: Reassembler::new(MAX_REASSEMBLED),
            messages: 0,
        }
    }
}

/// Sends a reaction's calls to the DUT's report stream.
#[derive(Clone)]
struct Reporter {
    tx: mpsc::UnboundedSender<DutReport>,
    client: String,
    index: usize,
    epoch: Instant,
}

impl Reporter {
    fn report(&self, function: &'static str, returned: i64) {
        let _ = self.tx.send(DutReport::Call(HandlerCall {
            client: self.client.clone(),
            at_ms: self.epoch.elapsed().as_millis() as u64,
            reaction: self.index,
            function: function.to_string(),
            returned,
        }));
    }
}

/// Makes `call` from a handler; returns the C value.
async fn call(api: &mut HandlerApi<'_>, call: &ClientCommand) -> i64 {
    i64::from(match call {
        ClientCommand::Stop => api.stop(),
        ClientCommand::Destroy => api.destroy(),
        ClientCommand::Close { timeout } => api.close(*timeout).await,
        ClientCommand::CloseWithCode { code, reason, timeout } => {
            api.close_with_code(*code, reason, *timeout).await
        }
        ClientCommand::SendText { data, timeout } => api.send_text(data, *timeout).await,
        ClientCommand::SendBin { data, timeout } => api.send_bin(data, *timeout).await,
        ClientCommand::SendTextPartial { data, timeout } => {
            api.send_text_partial(data, *timeout).await
        }
        ClientCommand::SendBinPartial { data, timeout } => {
            api.send_bin_partial(data, *timeout).await
        }
        ClientCommand::SendContMsg { data, timeout } => api.send_cont_msg(data, *timeout).await,
        ClientCommand::SendFin { timeout } => api.send_fin(*timeout).await,
        ClientCommand::SendWithOpcode { opcode, data, timeout } => {
            api.send_with_opcode(*opcode, data, *timeout).await
        }
        ClientCommand::IsConnected => i32::from(api.is_connected()),
        // Loading admits only the calls above (ReactionSpec::allowed_call); a handler
        // that tried another would be a wsim bug, reported as the C NULL-handle value.
        _ => crate::transport::codes::ESP_ERR_INVALID_ARG,
    })
}

impl Reaction for ScriptedReaction {
    fn react<'a>(
        &'a mut self,
        event: &'a OwnedEvent,
        api: &'a mut HandlerApi<'_>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            match &self.spec {
                ReactionSpec::Call { on, call: c } => {
                    if on.matches(event) {
                        let r = call(api, c).await;
                        self.reporter.report(c.name(), r);
                    }
                }
                ReactionSpec::Echo { .. } => {
                    if let Some(echo) = self.echo.as_mut() {
                        echo.react(event, api).await;
                    }
                }
                ReactionSpec::CloseAfter { messages, code, reason, timeout } => {
                    if matches!(self.assembler.push(event), Assembled::Pending) {
                        return;
                    }
                    self.messages += 1;
                    if self.messages == *messages {
                        let r = api.close_with_code(*code, reason, *timeout).await;
                        self.reporter.report("close_with_code", i64::from(r));
                    }
                }
            }
        })
    }
}
