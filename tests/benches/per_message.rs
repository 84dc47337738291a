//! Every function's per-message path, against zero-latency fakes on loopback: a plain answer
//! through the Twilio (SMS), Smooch (v2) and Messenger webhooks, and an agent's message relayed
//! by the HyperChat events function to an SMS user. For each, over `BENCH_MESSAGES` messages
//! (default 1000) after `BENCH_WARMUP` (default 50):
//!
//! - acknowledgement time (p50, p99): the webhook's `handle()` (ingest: authenticate, parse,
//!   enqueue) called to answer returned, wall clock;
//! - handler time (p50, p99, mean): from the same call until the in-process queue has
//!   processed the message (replies sent, state committed). It includes the loopback round
//!   trips to the fakes (and to moto with DynamoDB);
//! - CPU per message, twice: the whole process (`getrusage(RUSAGE_SELF)`, so the fakes too),
//!   and the handler thread alone (`RUSAGE_THREAD`). The fakes run on a tokio runtime of their
//!   own with one worker thread; the handlers run on this thread, on a current-thread runtime,
//!   so the handler thread's figure is the connector's work (its HTTP client and connection
//!   tasks, the DynamoDB SDK, the kernel's side of its socket calls), without the fakes';
//! - allocations and bytes allocated per message, by a counting global allocator, only
//!   during the measured loop: on the handler thread, and in the whole process;
//! - upstream calls per message (Inbenta, the channel's API, HyperChat) and state-store calls
//!   per message (each one DynamoDB request on the DynamoDB store), with the writes among them
//!   and the write and read units DynamoDB bills for them (estimated from the items' sizes);
//! - with DynamoDB, what a million such messages cost at AWS list prices (see [`PRICES`]);
//! - answers other than 200 (on moto a store too slow for the deadline gets a 503, which asks
//!   the provider to deliver again; on the in-memory store any is a failure);
//! - the share of the machine's CPU time the hypervisor stole meanwhile (`/proc/stat`).
//!
//! A last row, "floor", is no function: one Twilio Messages API send through the product's own
//! client against the same fake, what one upstream call costs on this path (a function's
//! figures minus its calls times the floor is roughly its own logic).
//! `BENCH_ONLY=twilio,floor` runs just those (e.g. under `perf record`).
//!
//! With the in-memory store always; with DynamoDB (moto on loopback, `scripts/test.sh bench`)
//! when `AWS_ENDPOINT_URL_DYNAMODB` is set (`BENCH_DYNAMODB_MESSAGES` messages, default
//! `BENCH_MESSAGES`). Budgets are printed beside the figures, informational only: nothing here
//! fails the run. `BENCH_MARKDOWN=<file>` also writes the tables there as Markdown.
//!
//! The connector logs at `warn` here (the harness's filter); the Lambda functions default to
//! `info`.

use channel_twilio::TwilioClient;
use channel_twilio::render::OutboundMessage;
use connector_core::WebhookRequest;
use connector_tests::connector::{COMPANY_NUMBER, Connector, SMS_USER, request};
use connector_tests::graph::{Event, now_ms, signed_headers};
use connector_tests::hyperchat::{FakeHyperChat, WEBHOOK_SECRET as HYPERCHAT_SECRET, event_body, hook_signature};
use connector_tests::inbenta::unrated;
use connector_tests::smooch::{FakeSmooch, WEBHOOK_SECRET as SMOOCH_SECRET, v2_message};
use connector_tests::twilio::FakeTwilio;
use connector_tests::twilio_signing::inbound_form;
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Runtime};

// ----- counting allocator ---------------------------------------------------------------------

/// The system allocator, counting allocations while [`COUNTING`] is on. A `realloc` counts as
/// one allocation of its new size.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static PROCESS_ALLOCS: AtomicU64 = AtomicU64::new(0);
static PROCESS_BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// `(allocations, bytes)` made on this thread while counting (const-initialised, no
    /// destructor: safe to touch from the allocator).
    static THREAD_COUNTS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

fn note(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        let size = size as u64;
        PROCESS_ALLOCS.fetch_add(1, Ordering::Relaxed);
        PROCESS_BYTES.fetch_add(size, Ordering::Relaxed);
        let _ = THREAD_COUNTS.try_with(|counts| {
            let (allocs, bytes) = counts.get();
            counts.set((allocs + 1, bytes + size));
        });
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `(allocations, bytes)`: this thread's and the whole process's.
fn allocations() -> ((u64, u64), (u64, u64)) {
    let thread = THREAD_COUNTS.with(Cell::get);
    (thread, (PROCESS_ALLOCS.load(Ordering::Relaxed), PROCESS_BYTES.load(Ordering::Relaxed)))
}

// ----- CPU time -------------------------------------------------------------------------------

/// `(user, system)` CPU time of `who` (`RUSAGE_SELF`: the process; `RUSAGE_THREAD`: this
/// thread).
fn cpu_time(who: libc::c_int) -> (Duration, Duration) {
    // SAFETY: `rusage` is plain data, and getrusage only writes into the struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(who, &mut usage), 0, "getrusage failed");
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (time(usage.ru_utime), time(usage.ru_stime))
}

/// `(steal, total)` ticks of all CPUs from `/proc/stat`: how much of the machine the
/// hypervisor gave to others (a noisy neighbour inflates wall-clock figures). `None` off Linux.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).take(8).filter_map(|f| f.parse().ok()).collect();
    (fields.len() == 8).then(|| (fields[7], fields.iter().sum()))
}

// ----- the functions --------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Function {
    Twilio,
    Smooch,
    Messenger,
    HyperChat,
    /// Not a function: one Twilio Messages API send through the product's client, the floor
    /// of what one upstream call costs here.
    TwilioSend,
}

impl Function {
    const ALL: [Function; 5] = [Function::Twilio, Function::Smooch, Function::Messenger, Function::HyperChat, Function::TwilioSend];

    fn name(self) -> &'static str {
        match self {
            Function::Twilio => "twilio",
            Function::Smooch => "smooch",
            Function::Messenger => "messenger",
            Function::HyperChat => "hyperchat",
            Function::TwilioSend => "floor",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Function::Twilio => "twilio: SMS, plain answer",
            Function::Smooch => "smooch: v2, plain answer",
            Function::Messenger => "messenger: plain answer",
            Function::HyperChat => "hyperchat: agent msg to SMS",
            Function::TwilioSend => "floor: 1 Twilio API send",
        }
    }

    fn channel_api(self) -> &'static str {
        match self {
            Function::Twilio | Function::HyperChat | Function::TwilioSend => "Twilio",
            Function::Smooch => "Smooch",
            Function::Messenger => "Graph",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Store {
    Memory,
    Dynamo,
}

impl Store {
    fn label(self) -> &'static str {
        match self {
            Store::Memory => "in memory",
            Store::Dynamo => "DynamoDB (moto)",
        }
    }
}

const SMOOCH_CONVERSATION: &str = "conv-bench";
const SMOOCH_USER: &str = "user-bench";
const PSID: &str = "6000000000000001";

/// A connector with its fakes, and the live chat the HyperChat function relays from.
struct Setup {
    c: Connector,
    hyperchat: Option<FakeHyperChat>,
    chat: String,
    agent: String,
    /// For [`Function::TwilioSend`].
    twilio_client: Option<TwilioClient>,
}

/// One message's worth of work.
enum Work {
    Webhook(WebhookRequest),
    Send(OutboundMessage),
}

/// Starts the fakes and builds the functions; runs on the fakes' runtime, so the fakes' server
/// tasks stay there.
async fn start(function: Function, store: Store) -> Setup {
    let table = match store {
        Store::Memory => None,
        Store::Dynamo => Some(connector_tests::connector::fresh_table().await),
    };
    let mut vars: Vec<(&str, String)> = table.into_iter().map(|t| ("TABLE_NAME", t)).collect();
    let (hyperchat, custom) = if function == Function::HyperChat {
        let hc = FakeHyperChat::start().await;
        hc.set_agents_available(1);
        vars.push(("HYPERCHAT_API_URL", hc.base_url()));
        vars.push(("HYPERCHAT_APP_ID", FakeHyperChat::APP_ID.to_owned()));
        vars.push(("HYPERCHAT_SECRET", FakeHyperChat::SECRET.to_owned()));
        (Some(hc), vec![("chat.toml", "[chat]\nenabled = true\ntriesBeforeEscalation = 1\n")])
    } else {
        (None, vec![])
    };
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let c = Connector::start_with(&vars, &custom).await;
    c.inbenta.on_message("hello", unrated("<p>Hi! How can I <b>help</b>?</p>"));
    let twilio_client = (function == Function::TwilioSend).then(|| {
        let token = FakeTwilio::AUTH_TOKEN.to_owned().into();
        let base = c.twilio.base_url();
        let endpoints = channel_twilio::client::Endpoints {
            api: &base,
            content: &base,
            status_callback: format!("{}/status", connector_tests::connector::WEBHOOK_URL),
            status_callbacks: channel_twilio::client::StatusCallbacks::All,
        };
        TwilioClient::new(&endpoints, FakeTwilio::ACCOUNT_SID, token, Duration::from_secs(10)).expect("twilio client")
    });
    Setup { c, hyperchat, chat: String::new(), agent: String::new(), twilio_client }
}

/// Opens the live chat an agent writes in (on the handler's runtime, like every handler call).
async fn open_chat(s: &mut Setup) {
    let Some(hc) = &s.hyperchat else { return };
    assert_eq!(s.c.hyperchat_handshake(HYPERCHAT_SECRET).await.status(), 200);
    s.agent = hc.add_agent("Ana");
    s.c.sms("zzz").await;
    assert_eq!(s.c.sms("1").await.replies[0].body, "I will try to connect you with an agent. Please wait.");
    s.chat = hc.chats().last().and_then(|chat| chat["id"].as_str()).expect("a chat was opened").to_owned();
    let joined = s.c.hyperchat_event("invitations:accept", json!({"chatId": s.chat, "userId": s.agent})).await;
    assert_eq!(joined.status, 200);
}

/// The `n`th message's webhook request, signed as its provider would.
fn message(s: &Setup, function: Function, n: usize) -> Work {
    let with_path = |mut request: WebhookRequest, uri: &'static str| {
        *request.uri_mut() = http::Uri::from_static(uri);
        request
    };
    Work::Webhook(match function {
        Function::TwilioSend => return Work::Send(OutboundMessage::text("Hi! How can I help?".to_owned())),
        Function::Twilio => s.c.signed(&inbound_form(SMS_USER, COMPANY_NUMBER, "hello", &s.c.next_sid())),
        Function::Smooch => {
            let body = v2_message(FakeSmooch::APP_ID, SMOOCH_CONVERSATION, SMOOCH_USER, &format!("bench-{n}"), "hello").to_string();
            let headers = [("content-type", "application/json"), ("x-api-key", SMOOCH_SECRET)];
            with_path(request(body.into_bytes(), &headers), "/smooch")
        }
        Function::Messenger => {
            let body = Event::text(PSID, &format!("m_bench_{n}"), "hello", now_ms()).body();
            let headers = signed_headers(&body);
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            with_path(request(body.into_bytes(), &headers), "/messenger")
        }
        Function::HyperChat => {
            let text = "<p>I have <b>unblocked</b> it.</p>";
            let data =
                json!({"message": {"id": format!("M-agent-{n}"), "chat": s.chat, "sender": s.agent, "type": "text", "message": text}});
            let body = event_body("messages:new", data);
            let signature = hook_signature(HYPERCHAT_SECRET, &body);
            let headers = [("content-type", "application/json"), ("x-hook-signature", signature.as_str())];
            with_path(request(body.into_bytes(), &headers), "/hyperchat")
        }
    })
}

/// Handles one message; its HTTP status (200 expected).
async fn handle(s: &Setup, function: Function, work: Work) -> u16 {
    let request = match work {
        Work::Webhook(request) => request,
        Work::Send(message) => {
            let client = s.twilio_client.as_ref().expect("a Twilio client");
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            return if client.send(COMPANY_NUMBER, SMS_USER, &message, None, false, deadline).await.is_ok() { 200 } else { 502 };
        }
    };
    let response = match function {
        Function::Twilio | Function::TwilioSend => s.c.webhook.handle(request, None).await,
        Function::Smooch => s.c.smooch_webhook.handle(request, None).await,
        Function::Messenger => s.c.messenger_webhook.handle(request, None).await,
        Function::HyperChat => s.c.hyperchat.handle(request, None).await,
    };
    response.status().as_u16()
}

/// Waits until what the webhooks enqueued is processed.
async fn processed(s: &Setup) {
    s.c.queue.settle().await;
}

/// Requests received so far by each fake: (Inbenta, the function's channel API, HyperChat).
/// Each call copies the fakes' logs: never inside the measured loop.
fn upstream_requests(s: &Setup, function: Function) -> (usize, usize, usize) {
    let channel = match function {
        Function::Twilio | Function::HyperChat | Function::TwilioSend => s.c.twilio.requests().len(),
        Function::Smooch => s.c.smooch.requests().len(),
        Function::Messenger => s.c.graph.requests().len(),
    };
    (s.c.inbenta.requests().len(), channel, s.hyperchat.as_ref().map_or(0, |hc| hc.requests().len()))
}

// ----- one measurement ------------------------------------------------------------------------

struct Row {
    function: Function,
    store: Store,
    messages: usize,
    ack_p50: Duration,
    ack_p99: Duration,
    p50: Duration,
    p99: Duration,
    mean: Duration,
    cpu_process: Duration,
    cpu_thread: Duration,
    cpu_thread_system: Duration,
    /// Share of the machine's CPU time stolen by the hypervisor during the loop.
    steal: Option<f64>,
    /// Answers other than 200: a 503 asks the provider to deliver again (a store too slow to
    /// answer, on moto); the time and work they took are counted like the others'.
    not_ok: usize,
    allocs_thread: f64,
    bytes_thread: f64,
    allocs_process: f64,
    bytes_process: f64,
    inbenta: f64,
    channel: f64,
    hyperchat: f64,
    store_calls: f64,
    store_writes: f64,
    write_units: f64,
    read_units: f64,
    /// Status callbacks Twilio would post for the replies (each an HTTP API request and a short
    /// invocation of the Twilio function).
    status_callbacks: f64,
}

fn measure(fakes: &Runtime, handler: &Runtime, function: Function, store: Store, messages: usize, warmup: usize) -> Row {
    let mut s = fakes.block_on(start(function, store));
    handler.block_on(open_chat(&mut s));
    let warm: Vec<Work> = (0..warmup).map(|n| message(&s, function, n)).collect();
    let measured: Vec<Work> = (warmup..warmup + messages).map(|n| message(&s, function, n)).collect();
    handler.block_on(async {
        for request in warm {
            let status = handle(&s, function, request).await;
            processed(&s).await;
            assert_eq!(status, 200);
        }
    });

    let (inbenta_before, channel_before, hyperchat_before) = upstream_requests(&s, function);
    let callbacks_before = s.c.twilio.status_callbacks().len();
    let store_before = (s.c.store_calls.calls(), s.c.store_calls.writes(), s.c.store_calls.write_units(), s.c.store_calls.read_units());
    let mut acks: Vec<Duration> = Vec::with_capacity(messages);
    let mut times: Vec<Duration> = Vec::with_capacity(messages);
    let mut not_ok = 0;
    let ticks_before = cpu_ticks();
    let (cpu_process_before, cpu_thread_before) = (cpu_time(libc::RUSAGE_SELF), cpu_time(libc::RUSAGE_THREAD));
    let (thread_before, process_before) = allocations();
    COUNTING.store(true, Ordering::SeqCst);
    handler.block_on(async {
        for request in measured {
            let started = Instant::now();
            let status = handle(&s, function, request).await;
            acks.push(started.elapsed());
            processed(&s).await;
            times.push(started.elapsed());
            not_ok += usize::from(status != 200);
        }
    });
    COUNTING.store(false, Ordering::SeqCst);
    let (thread_after, process_after) = allocations();
    let (cpu_process, cpu_thread) = (cpu_time(libc::RUSAGE_SELF), cpu_time(libc::RUSAGE_THREAD));
    let steal = match (ticks_before, cpu_ticks()) {
        (Some((steal_before, total_before)), Some((steal, total))) if total > total_before => {
            Some((steal - steal_before) as f64 / (total - total_before) as f64)
        }
        _ => None,
    };
    let (inbenta_after, channel_after, hyperchat_after) = upstream_requests(&s, function);

    times.sort();
    acks.sort();
    let n = messages as f64;
    let per = |count: u64| count as f64 / n;
    let per_message = |total: Duration| total.div_f64(n);
    let row = Row {
        function,
        store,
        messages,
        not_ok,
        ack_p50: acks[messages / 2],
        ack_p99: acks[(messages * 99 / 100).min(messages - 1)],
        p50: times[messages / 2],
        p99: times[(messages * 99 / 100).min(messages - 1)],
        mean: per_message(times.iter().sum()),
        cpu_process: per_message(cpu_process.0 + cpu_process.1 - cpu_process_before.0 - cpu_process_before.1),
        cpu_thread: per_message(cpu_thread.0 + cpu_thread.1 - cpu_thread_before.0 - cpu_thread_before.1),
        cpu_thread_system: per_message(cpu_thread.1 - cpu_thread_before.1),
        steal,
        allocs_thread: per(thread_after.0 - thread_before.0),
        bytes_thread: per(thread_after.1 - thread_before.1),
        allocs_process: per(process_after.0 - process_before.0),
        bytes_process: per(process_after.1 - process_before.1),
        inbenta: per((inbenta_after - inbenta_before) as u64),
        channel: per((channel_after - channel_before) as u64),
        hyperchat: per((hyperchat_after - hyperchat_before) as u64),
        store_calls: per((s.c.store_calls.calls() - store_before.0) as u64),
        store_writes: per((s.c.store_calls.writes() - store_before.1) as u64),
        write_units: per((s.c.store_calls.write_units() - store_before.2) as u64),
        read_units: per((s.c.store_calls.read_units() - store_before.3) as u64),
        status_callbacks: per((s.c.twilio.status_callbacks().len() - callbacks_before) as u64),
    };
    // The functions' HTTP clients have connection tasks on the handler's runtime: dropped there.
    handler.block_on(async move { drop(s) });
    row
}

// ----- report ---------------------------------------------------------------------------------

const CPU_BUDGET: Duration = Duration::from_micros(250);
const P50_BUDGET: Duration = Duration::from_micros(300);
const P99_BUDGET: Duration = Duration::from_millis(1);
/// Durability at no extra cost: at most the write units that keep the total at or below the
/// single-pass design's (issue 18).
const WRITE_UNITS_BUDGET: f64 = 4.0;

/// AWS list prices, us-east-1, December 2026, in dollars per million (requests or units).
mod prices {
    /// API Gateway HTTP API requests (first 300 million a month).
    pub const HTTP_API: f64 = 1.00;
    /// Lambda requests.
    pub const LAMBDA_REQUESTS: f64 = 0.20;
    /// Lambda compute on arm64, per million GB-seconds... per GB-second: $0.0000133334.
    pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4 * 1e6;
    /// SQS FIFO requests (each up to 64 KiB).
    pub const SQS_FIFO: f64 = 0.50;
    /// DynamoDB on-demand write request units (a transactional write counts twice).
    pub const WRITE_UNIT: f64 = 0.625;
    /// DynamoDB on-demand read request units (a strongly consistent read of up to 4 KiB).
    pub const READ_UNIT: f64 = 0.125;
}

/// The functions' memory (template.yaml `FunctionMemorySize`), in GB.
const MEMORY_GB: f64 = 128.0 / 1024.0;

/// SQS requests per plain message: the webhook's one `SendMessage`, and the event source's
/// `ReceiveMessage` and `DeleteMessageBatch` (one each per batch; a quiet queue delivers
/// batches of one). A HyperChat event is forwarded into its conversation's queue: three more.
fn sqs_requests(function: Function) -> f64 {
    if function == Function::HyperChat { 6.0 } else { 3.0 }
}

/// How long an invocation that only ingests (or forwards) is billed: it waits for nothing.
const INGEST_BILLED: Duration = Duration::from_millis(5);

/// Dollars per million messages, by part, for a row measured on DynamoDB, with the processing
/// invocation billed `billed` (the ingest, and a HyperChat event's forwarding, 5 ms each).
fn cost(r: &Row, billed: Duration) -> [(String, f64); 7] {
    let short_invocations = if r.function == Function::HyperChat { 2.0 } else { 1.0 };
    let seconds = short_invocations * INGEST_BILLED.as_secs_f64() + billed.as_secs_f64();
    let callback = prices::HTTP_API + prices::LAMBDA_REQUESTS + INGEST_BILLED.as_secs_f64() * MEMORY_GB * prices::LAMBDA_GB_SECOND;
    [
        ("HTTP API".to_owned(), prices::HTTP_API),
        ("Lambda requests".to_owned(), (short_invocations + 1.0) * prices::LAMBDA_REQUESTS),
        ("Lambda compute".to_owned(), seconds * MEMORY_GB * prices::LAMBDA_GB_SECOND),
        ("SQS FIFO".to_owned(), sqs_requests(r.function) * prices::SQS_FIFO),
        ("DynamoDB writes".to_owned(), r.write_units * prices::WRITE_UNIT),
        ("DynamoDB reads".to_owned(), r.read_units * prices::READ_UNIT),
        ("Twilio status callbacks".to_owned(), r.status_callbacks * callback),
    ]
}

const COST_NOTE: &str = "\nDollars per million messages at AWS list prices (us-east-1, December 2026): HTTP API $1.00 per \
million requests; Lambda $0.20 per million requests and $0.0000133334 per GB-second (arm64), at the template's 128 MB, \
the ingest invocation billed 5 ms and the processing one the given time (5 ms: no wait; 300 ms: a bot that takes that long); SQS FIFO $0.50 per million \
requests (a webhook's SendMessage, the event source's ReceiveMessage and DeleteMessageBatch, batches of one); DynamoDB \
on-demand $0.625 per million write units and $0.125 per million read units, as measured above. A HyperChat event is \
forwarded into its conversation's queue (three more SQS requests, one more invocation). Twilio posts a status callback \
for each status of each reply (`sent` and `delivered` here; WhatsApp adds `read`), each an HTTP API request and a 5 ms \
invocation that only checks and drops it (a failure is enqueued like a message); `twilio.status_callbacks = \"agent\"` \
asks them for agents' messages only.\n\n";

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn verdict(within: bool) -> &'static str {
    if within { "PASS" } else { "OVER" }
}

const HEADERS: [&str; 23] = [
    "function",
    "store",
    "ack p50",
    "ack p99",
    "p50",
    "p99",
    "mean",
    "CPU/msg, handler thread",
    "of which system",
    "CPU/msg, process",
    "allocs/msg, handler thread",
    "KiB/msg, handler thread",
    "allocs/msg, process",
    "KiB/msg, process",
    "Inbenta/msg",
    "channel API/msg",
    "HyperChat/msg",
    "store/msg",
    "writes/msg",
    "write units/msg",
    "read units/msg",
    "non-200",
    "steal",
];

fn cells(r: &Row) -> [String; 23] {
    [
        r.function.label().to_owned(),
        format!("{} ({})", r.store.label(), r.messages),
        ms(r.ack_p50),
        ms(r.ack_p99),
        ms(r.p50),
        ms(r.p99),
        ms(r.mean),
        ms(r.cpu_thread),
        ms(r.cpu_thread_system),
        ms(r.cpu_process),
        format!("{:.0}", r.allocs_thread),
        format!("{:.1}", r.bytes_thread / 1024.0),
        format!("{:.0}", r.allocs_process),
        format!("{:.1}", r.bytes_process / 1024.0),
        format!("{:.2}", r.inbenta),
        format!("{:.2} {}", r.channel, r.function.channel_api()),
        format!("{:.2}", r.hyperchat),
        format!("{:.2}", r.store_calls),
        format!("{:.2}", r.store_writes),
        format!("{:.2}", r.write_units),
        format!("{:.2}", r.read_units),
        r.not_ok.to_string(),
        r.steal.map_or_else(|| "?".to_owned(), |steal| format!("{:.0}%", steal * 100.0)),
    ]
}

/// `(function, budget, figure, verdict)` for each budget that applies to the row.
fn budgets(r: &Row) -> Vec<[String; 4]> {
    if r.function == Function::TwilioSend {
        return vec![];
    }
    let name = format!("{} / {}", r.function.label(), r.store.label());
    match r.store {
        Store::Memory => vec![
            [name.clone(), "CPU/msg (handler thread) ≤ 0.25 ms".into(), ms(r.cpu_thread), verdict(r.cpu_thread <= CPU_BUDGET).into()],
            [name.clone(), "p50 ≤ 0.3 ms".into(), ms(r.p50), verdict(r.p50 <= P50_BUDGET).into()],
            [name, "p99 ≤ 1 ms".into(), ms(r.p99), verdict(r.p99 <= P99_BUDGET).into()],
        ],
        Store::Dynamo => vec![
            [
                name.clone(),
                "DynamoDB write units/msg ≤ 4".into(),
                format!("{:.2}", r.write_units),
                verdict(r.write_units <= WRITE_UNITS_BUDGET).into(),
            ],
            [name, "p99 acknowledgement ≤ 1 ms".into(), ms(r.ack_p99), verdict(r.ack_p99 <= P99_BUDGET).into()],
        ],
    }
}

fn markdown_table<const N: usize>(out: &mut String, headers: [&str; N], rows: &[[String; N]]) {
    let _ = writeln!(out, "| {} |", headers.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(N));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
}

fn print_table<const N: usize>(headers: [&str; N], rows: &[[String; N]]) {
    let mut widths = headers.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

fn env_count(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|n| n.parse().ok()).filter(|&n| n > 0)
}

fn main() {
    let messages = env_count("BENCH_MESSAGES").unwrap_or(1000);
    let dynamo_messages = env_count("BENCH_DYNAMODB_MESSAGES").unwrap_or(messages);
    let warmup = env_count("BENCH_WARMUP").unwrap_or(50);
    // `BENCH_ONLY=twilio,smooch`: just those functions (e.g. under a profiler).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let functions: Vec<Function> =
        Function::ALL.into_iter().filter(|f| only.is_empty() || only.split(',').any(|name| name.trim() == f.name())).collect();
    let fakes = Builder::new_multi_thread().worker_threads(1).thread_name("fakes").enable_all().build().expect("fakes' runtime");
    let handler = Builder::new_current_thread().enable_all().build().expect("handler's runtime");

    let mut stores = vec![(Store::Memory, messages)];
    let dynamo = std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some();
    if dynamo {
        stores.push((Store::Dynamo, dynamo_messages));
    }
    let mut rows = Vec::new();
    for (store, messages) in stores {
        // The floor has no state: measured once.
        for &function in functions.iter().filter(|&&f| store == Store::Memory || f != Function::TwilioSend) {
            eprintln!("bench: {} / {}: {warmup} warm-up + {messages} messages", function.label(), store.label());
            rows.push(measure(&fakes, &handler, function, store, messages, warmup));
        }
    }

    let figures: Vec<[String; 23]> = rows.iter().map(cells).collect();
    let cost_headers = [
        "function",
        "Lambda billed",
        "HTTP API",
        "Lambda requests",
        "Lambda compute",
        "SQS FIFO",
        "DynamoDB writes",
        "DynamoDB reads",
        "Twilio status callbacks",
        "total",
    ];
    let costs: Vec<[String; 10]> = rows
        .iter()
        .filter(|r| r.store == Store::Dynamo && r.function != Function::TwilioSend)
        .flat_map(|r| {
            [Duration::from_millis(5), Duration::from_millis(300)].map(|billed| {
                let parts = cost(r, billed);
                let total: f64 = parts.iter().map(|(_, dollars)| dollars).sum();
                let mut row: [String; 10] = Default::default();
                row[0] = r.function.label().to_owned();
                row[1] = format!("{} ms", billed.as_millis());
                for (cell, (_, dollars)) in row[2..9].iter_mut().zip(&parts) {
                    *cell = format!("${dollars:.2}");
                }
                row[9] = format!("${total:.2}");
                row
            })
        })
        .collect();
    let checks: Vec<[String; 4]> = rows.iter().flat_map(budgets).collect();
    let budget_headers = ["function / store", "budget", "measured", "verdict"];
    println!();
    print_table(HEADERS, &figures);
    println!();
    print_table(budget_headers, &checks);
    if !costs.is_empty() {
        println!("\nDollars per million messages (AWS list prices, us-east-1, arm64 at 128 MB):");
        print_table(cost_headers, &costs);
    }
    if !dynamo {
        println!("\n(DynamoDB skipped: AWS_ENDPOINT_URL_DYNAMODB not set; scripts/test.sh bench sets it)");
    }

    if let Some(path) = std::env::var_os("BENCH_MARKDOWN") {
        let mut md = String::new();
        markdown_table(&mut md, HEADERS, &figures);
        md.push_str("\nBudgets (informational, never failing the run):\n\n");
        markdown_table(&mut md, budget_headers, &checks);
        if !costs.is_empty() {
            md.push_str(COST_NOTE);
            markdown_table(&mut md, cost_headers, &costs);
        }
        if !dynamo {
            md.push_str("\nDynamoDB skipped: `AWS_ENDPOINT_URL_DYNAMODB` not set.\n");
        }
        std::fs::write(&path, md).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.to_string_lossy()));
    }
    // The fakes' runtime ends here, with their servers.
    drop(fakes);
}
