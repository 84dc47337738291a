//! Starts a fake Inbenta and a fake Twilio on 127.0.0.1, prints the environment a connector
//! function needs to use them (one `KEY=VALUE` per line) and serves until killed or until stdin
//! reaches end of file; then it lists on stderr the messages the fake Twilio accepted, one
//! `sent to=<to> from=<from> body="<quoted text>"` line each. `infra/lambda-check.sh` uses it to
//! invoke the real Lambda binary offline. A background job's stdin is often /dev/null, which ends
//! at once: give it a pipe.

use connector_tests::inbenta::FakeInbenta;
use connector_tests::twilio::FakeTwilio;
use std::io::{Read as _, Write as _};

#[tokio::main]
async fn main() {
    let inbenta = FakeInbenta::start().await;
    let twilio = FakeTwilio::start().await;
    let mut out = std::io::stdout().lock();
    for (key, value) in [
        ("INBENTA_AUTH_URL", inbenta.auth_url()),
        ("INBENTA_API_KEY", FakeInbenta::API_KEY.to_owned()),
        ("INBENTA_API_SECRET", FakeInbenta::API_SECRET.to_owned()),
        ("TWILIO_API_URL", twilio.base_url()),
        ("TWILIO_ACCOUNT_SID", FakeTwilio::ACCOUNT_SID.to_owned()),
    ] {
        writeln!(out, "{key}={value}").expect("stdout is writable");
    }
    out.flush().expect("stdout is writable");
    drop(out);
    let stdin_closed = tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new()));
    let _ = stdin_closed.await;
    for sent in twilio.messages() {
        eprintln!("sent to={} from={} body={:?}", sent.to, sent.from, sent.body);
    }
    drop((inbenta, twilio));
}
