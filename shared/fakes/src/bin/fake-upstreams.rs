//! Starts fakes of Inbenta, Twilio, Smooch, the Graph API and HyperChat on 127.0.0.1, prints the
//! environment a connector function needs to use them (one `KEY=VALUE` per line) and serves
//! until killed or until stdin reaches end of file; then it lists on stderr the messages the
//! fakes accepted: `sent to=<to> from=<from> body="<quoted text>"` for Twilio,
//! `smooch to=<conversation> text="<quoted text>"` and `graph to=<psid> text="<quoted text>"`.
//! HyperChat holds one agent's file, `/media/F1` ([`AGENT_FILE`], `image/png`), which the file
//! link of `infra/events/hyperchat-file-link.json` names. `infra/lambda-check.sh` uses it to
//! invoke the real Lambda binary offline. A background job's stdin is often /dev/null, which ends
//! at once: give it a pipe.

use connector_fakes::graph::FakeGraph;
use connector_fakes::hyperchat::FakeHyperChat;
use connector_fakes::inbenta::FakeInbenta;
use connector_fakes::smooch::FakeSmooch;
use connector_fakes::twilio::FakeTwilio;
use std::io::{Read as _, Write as _};

/// The agent's file HyperChat holds (`infra/lambda-check.sh` expects these bytes back).
const AGENT_FILE: &[u8] = b"\x89PNG\r\n\x1a\n lambda-check";

#[tokio::main]
async fn main() {
    let inbenta = FakeInbenta::start().await;
    let twilio = FakeTwilio::start().await;
    let smooch = FakeSmooch::start().await;
    let graph = FakeGraph::start().await;
    let hyperchat = FakeHyperChat::start().await;
    hyperchat.agent_file("C-lambda-check", "U-agent", "check.png", "image/png", AGENT_FILE);
    let mut out = std::io::stdout().lock();
    let env = [inbenta.env(), twilio.env(), smooch.env(), graph.env(), hyperchat.env()];
    for (key, value) in env.into_iter().flatten() {
        writeln!(out, "{key}={value}").expect("stdout is writable");
    }
    out.flush().expect("stdout is writable");
    drop(out);
    let stdin_closed = tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new()));
    let _ = stdin_closed.await;
    for sent in twilio.messages() {
        eprintln!("sent to={} from={} body={:?}", sent.to, sent.from, sent.body);
    }
    for sent in smooch.messages() {
        eprintln!("smooch to={} text={:?}", sent.target, sent.text().unwrap_or_default());
    }
    for sent in graph.messages() {
        eprintln!("graph to={} text={:?}", sent.psid, sent.text().unwrap_or_default());
    }
    drop((inbenta, twilio, smooch, graph, hyperchat));
}
