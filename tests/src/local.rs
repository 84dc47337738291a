//! `connector-local` as operators run it: a real process on a real port, configured through
//! its environment and `conf/`, pointed at the fakes (and at DynamoDB, directly or through
//! [`FaultyDynamo`](crate::dynamo_proxy::FaultyDynamo)).

use crate::connector::{conf_dir_with, fresh_table, repo_root};
use crate::dynamo_proxy::FaultyDynamo;
use crate::inbenta::FakeInbenta;
use crate::raw_http::{self, HttpResponse};
use crate::twilio::FakeTwilio;
use crate::twilio_signing::{inbound_form, twilio_signature};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user every [`LocalServer::sms`] comes from, and the number written to.
pub const LOCAL_USER: &str = "+34600000009";
pub const LOCAL_COMPANY: &str = "+14155550100";

/// A running `connector-local`; killed when dropped.
pub struct LocalServer {
    child: Child,
    pub url: String,
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How to start one.
pub struct LocalOptions<'a> {
    /// `env!("CARGO_BIN_EXE_connector-local")` of the test.
    pub binary: &'a str,
    pub port: u16,
    /// DynamoDB table; `None` for the in-memory store.
    pub table: Option<&'a str>,
    /// Overrides `AWS_ENDPOINT_URL_DYNAMODB` (a fault proxy).
    pub dynamodb: Option<String>,
    pub inbenta: &'a FakeInbenta,
    pub twilio: &'a FakeTwilio,
    /// `(file name, TOML)` written to `conf/custom/`.
    pub custom: &'a [(&'a str, &'a str)],
    /// A lower limit of open files for the process (`ulimit -n`), to meet descriptor exhaustion
    /// with a few hundred connections.
    pub open_files: Option<u32>,
    /// `(QUEUE_URL, DEAD_LETTER_QUEUE_URL)` of an SQS-API server's queues; `None` for the
    /// in-process queue.
    pub queue: Option<(String, String)>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl LocalServer {
    /// `CONNECTOR_LOCAL_BIN`, when set, runs another build instead (to measure a fault case
    /// before and after a fix).
    pub async fn start(options: LocalOptions<'_>) -> Self {
        let url = format!("http://127.0.0.1:{}", options.port);
        let root = repo_root();
        let binary = std::env::var("CONNECTOR_LOCAL_BIN").unwrap_or_else(|_| options.binary.to_owned());
        let mut command = match options.open_files {
            Some(limit) => {
                let mut shell = Command::new("sh");
                shell.args(["-c", &format!("ulimit -n {limit} && exec \"$0\""), &binary]);
                shell
            }
            None => Command::new(binary),
        };
        command
            .env("PORT", options.port.to_string())
            .env("CONF_DIR", conf_dir_with(options.custom))
            .env("LANG_DIR", root.join("lang"))
            .envs(options.inbenta.env())
            .envs(options.twilio.env())
            .env("TWILIO_AUTH_TOKEN", FakeTwilio::AUTH_TOKEN)
            .env("TWILIO_WEBHOOK_URL", format!("{url}/twilio"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        match options.table {
            Some(table) => command.env("TABLE_NAME", table),
            None => command.env_remove("TABLE_NAME"),
        };
        if let Some(endpoint) = &options.dynamodb {
            command.env("AWS_ENDPOINT_URL_DYNAMODB", endpoint);
        }
        match &options.queue {
            Some((queue, dead_letters)) => command.env("QUEUE_URL", queue).env("DEAD_LETTER_QUEUE_URL", dead_letters),
            None => command.env_remove("QUEUE_URL").env_remove("DEAD_LETTER_QUEUE_URL"),
        };
        let local = Self { child: command.spawn().expect("connector-local starts"), url };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = raw_http::get(&format!("{}/health", local.url), &[]).await {
                assert_eq!(response.status, 200);
                return local;
            }
            assert!(Instant::now() < deadline, "connector-local did not become healthy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Posts a signed message webhook as Twilio would (redeliveries reuse `sid`); a
    /// `whatsapp:` sender writes to the company's WhatsApp number.
    pub async fn sms_from(&self, from: &str, text: &str, sid: &str) -> HttpResponse {
        let webhook = format!("{}/twilio", self.url);
        let to = if from.starts_with("whatsapp:") { format!("whatsapp:{LOCAL_COMPANY}") } else { LOCAL_COMPANY.to_owned() };
        let params = inbound_form(from, &to, text, sid);
        let signature = twilio_signature(FakeTwilio::AUTH_TOKEN, &webhook, &params);
        raw_http::post_form(&webhook, &[("x-twilio-signature", &signature)], &params).await.expect("connector-local answers")
    }

    pub async fn sms(&self, text: &str, sid: &str) -> HttpResponse {
        self.sms_from(LOCAL_USER, text, sid).await
    }

    /// Ends the process at once (SIGKILL): no shutdown, nothing flushed.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh FIFO queue and its dead-letter queue on the SQS-API server of `scripts/test.sh`.
pub async fn fresh_queue() -> (String, String) {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_SQS").is_some(),
        "AWS_ENDPOINT_URL_SQS is not set: run the tests with scripts/test.sh, which starts a local SQS-API server"
    );
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let name = format!("connector-test-{}-{}", std::process::id(), COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let (queue, dead_letters) = state_store::sqs::create_local(&name).await.expect("queues created");
    (queue.url().to_owned(), dead_letters.url().to_owned())
}

/// A message sid unique in this test binary.
pub fn sid(n: u64) -> String {
    format!("SM{:08x}{n:024x}", std::process::id())
}

/// `connector-local` on a fresh DynamoDB table reached through a fault proxy, with fresh
/// Inbenta and Twilio fakes: what the fault cases run against.
pub struct FaultRig {
    pub inbenta: FakeInbenta,
    pub twilio: FakeTwilio,
    pub proxy: FaultyDynamo,
    pub table: String,
    pub local: LocalServer,
    /// The SQS queue and dead-letter queue, when the rig runs on them.
    pub queue: Option<(String, String)>,
}

impl FaultRig {
    /// With the in-process queue.
    pub async fn start(binary: &str, custom: &[(&str, &str)]) -> Self {
        Self::start_with_queue(binary, custom, None).await
    }

    /// With a fresh SQS FIFO queue (and dead-letter queue) on the SQS-API server that
    /// `scripts/test.sh` started (`AWS_ENDPOINT_URL_SQS`).
    pub async fn start_on_sqs(binary: &str, custom: &[(&str, &str)]) -> Self {
        Self::start_with_queue(binary, custom, Some(fresh_queue().await)).await
    }

    async fn start_with_queue(binary: &str, custom: &[(&str, &str)], queue: Option<(String, String)>) -> Self {
        let moto = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("run with scripts/test.sh, which starts moto");
        let (inbenta, twilio, proxy) = (FakeInbenta::start().await, FakeTwilio::start().await, FaultyDynamo::start(&moto).await);
        let table = fresh_table().await;
        let local = LocalServer::start(LocalOptions {
            binary,
            port: free_port(),
            table: Some(&table),
            dynamodb: Some(proxy.endpoint()),
            inbenta: &inbenta,
            twilio: &twilio,
            custom,
            open_files: None,
            queue: queue.clone(),
        })
        .await;
        Self { inbenta, twilio, proxy, table, local, queue }
    }

    /// Starts `connector-local` again, as configured before (after [`LocalServer::kill`]).
    pub async fn restart(&mut self, binary: &str, custom: &[(&str, &str)]) {
        self.local.kill();
        self.local = LocalServer::start(LocalOptions {
            binary,
            port: free_port(),
            table: Some(&self.table),
            dynamodb: Some(self.proxy.endpoint()),
            inbenta: &self.inbenta,
            twilio: &self.twilio,
            custom,
            open_files: None,
            queue: self.queue.clone(),
        })
        .await;
    }

    /// How often the bot was asked `text`.
    pub fn asked(&self, text: &str) -> usize {
        self.inbenta.bot_inputs().iter().filter(|input| **input == serde_json::json!({ "message": text })).count()
    }
}
