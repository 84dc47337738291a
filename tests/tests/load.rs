//! Load through all four webhook sources at once, with the state in DynamoDB (moto): 200
//! conversations of five messages each (Twilio SMS, Smooch, Messenger, and agents writing in
//! HyperChat live chats), fifty posts in flight at a time, each posted once. None may be lost,
//! none answered twice, and each conversation's replies come in the order of its messages.
//! The acknowledgement and webhook-to-reply times are printed (measured, not asserted);
//! `LOAD_BOT_DELAY_MS` makes every chatbot call take that long (default 0), to measure them
//! with a slow bot.

use connector_tests::connector::{COMPANY_NUMBER, Connector, request};
use connector_tests::graph::{Event, now_ms, signed_headers};
use connector_tests::hyperchat::{FakeHyperChat, WEBHOOK_SECRET as HYPERCHAT_SECRET, event_body, hook_signature};
use connector_tests::inbenta::unrated;
use connector_tests::smooch::{FakeSmooch, WEBHOOK_SECRET as SMOOCH_SECRET, v2_message};
use connector_tests::twilio_signing::inbound_form;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

const PER_SOURCE: usize = 50;
const MESSAGES: usize = 5;
const IN_FLIGHT: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Twilio,
    Smooch,
    Messenger,
    HyperChat,
}

/// One conversation: where it comes from, and the text its `n`th reply has.
#[derive(Clone)]
struct Conversation {
    source: Source,
    index: usize,
    /// The HyperChat chat and agent, for agents' messages.
    chat: Option<(String, String)>,
}

impl Conversation {
    fn reply(&self, n: usize) -> String {
        match self.source {
            Source::HyperChat => format!("agent {}-{n}", self.index),
            _ => format!("answer {:?} {}-{n}", self.source, self.index),
        }
    }

    fn phone(&self) -> String {
        let base = if self.source == Source::HyperChat { 7_100_000 } else { 7_000_000 };
        format!("+3460{:07}", base + self.index)
    }
}

/// Every reply seen so far, by text: when it was first seen, how often, and its place in its
/// fake's log (the order the channel received them).
type Seen = Arc<Mutex<HashMap<String, (Instant, usize, usize)>>>;

/// Records the replies the fakes accept, every 5 ms, until `stop`.
fn watch(c: Arc<Connector>, seen: Seen, stop: Arc<std::sync::atomic::AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (mut counted, mut place) = ((0, 0, 0), 0);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let now = Instant::now();
            let twilio: Vec<String> = c.twilio.messages().into_iter().skip(counted.0).map(|m| m.body).collect();
            let smooch: Vec<String> = c.smooch.messages().into_iter().skip(counted.1).filter_map(|m| m.text().map(str::to_owned)).collect();
            let graph: Vec<String> = c.graph.messages().into_iter().skip(counted.2).filter_map(|m| m.text().map(str::to_owned)).collect();
            counted = (counted.0 + twilio.len(), counted.1 + smooch.len(), counted.2 + graph.len());
            {
                let mut seen = seen.lock().unwrap();
                for text in twilio.into_iter().chain(smooch).chain(graph) {
                    place += 1;
                    seen.entry(text).or_insert((now, 0, place)).1 += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
}

/// Opens a live chat for the SMS user of `conversation` and has an agent accept it.
async fn open_chat(c: &Connector, hc: &FakeHyperChat, agent: &str, conversation: &Conversation) -> (String, String) {
    let from = conversation.phone();
    c.text_from(&from, "zzz").await;
    let opened = c.text_from(&from, "1").await;
    assert!(opened.text().contains("connect you with an agent"), "{}", opened.text());
    let chat = hc.chats().last().and_then(|chat| chat["id"].as_str()).expect("a chat was opened").to_owned();
    assert_eq!(c.hyperchat_event("invitations:accept", json!({"chatId": chat, "userId": agent})).await.status, 200);
    (chat, agent.to_owned())
}

/// Posts the `n`th message of `conversation` once; its HTTP status.
async fn post(c: &Connector, conversation: &Conversation, n: usize) -> u16 {
    let i = conversation.index;
    let text = format!("q {:?} {i}-{n}", conversation.source);
    let response = match conversation.source {
        Source::Twilio => {
            let params = inbound_form(&conversation.phone(), COMPANY_NUMBER, &text, &format!("SMfeed{i:014}{n:014}"));
            c.webhook.handle(c.signed(&params), None).await
        }
        Source::Smooch => {
            let body = v2_message(FakeSmooch::APP_ID, &format!("conv-{i}"), &format!("user-{i}"), &format!("msg-{i}-{n}"), &text);
            let mut request = request(body.to_string().into_bytes(), &[("content-type", "application/json"), ("x-api-key", SMOOCH_SECRET)]);
            *request.uri_mut() = http::Uri::from_static("/smooch");
            c.smooch_webhook.handle(request, None).await
        }
        Source::Messenger => {
            let body = Event::text(&format!("71{i:014}"), &format!("m_{i}_{n}"), &text, now_ms()).body();
            let headers = signed_headers(&body);
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let mut request = request(body.into_bytes(), &headers);
            *request.uri_mut() = http::Uri::from_static("/messenger");
            c.messenger_webhook.handle(request, None).await
        }
        Source::HyperChat => {
            let (chat, agent) = conversation.chat.clone().expect("an open chat");
            let message =
                json!({"id": format!("M-{i}-{n}"), "chat": chat, "sender": agent, "type": "text", "message": conversation.reply(n)});
            let body = event_body("messages:new", json!({ "message": message }));
            let signature = hook_signature(HYPERCHAT_SECRET, &body);
            let mut request = request(body.into_bytes(), &[("content-type", "application/json"), ("x-hook-signature", &signature)]);
            *request.uri_mut() = http::Uri::from_static("/hyperchat");
            c.hyperchat.handle(request, None).await
        }
    };
    response.status().as_u16()
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_conversations_of_five_messages_over_all_four_sources_are_answered_once_each_in_order() {
    let table = connector_tests::connector::fresh_table().await;
    let hc = FakeHyperChat::start().await;
    hc.set_agents_available(1);
    let (api, app, secret) = (hc.base_url(), FakeHyperChat::APP_ID.to_owned(), FakeHyperChat::SECRET.to_owned());
    let env = [("TABLE_NAME", table.as_str()), ("HYPERCHAT_API_URL", &api), ("HYPERCHAT_APP_ID", &app), ("HYPERCHAT_SECRET", &secret)];
    let custom = [
        ("chat.toml", "[chat]\nenabled = true\ntriesBeforeEscalation = 1\n"),
        // The default budget (five minutes), with retries sooner than in production.
        ("queue.toml", "retry_budget_secs = 300\nbackoff_initial_ms = 100\nbackoff_max_ms = 2000\n"),
    ];
    let c = Arc::new(Connector::start_with(&env, &custom).await);
    assert_eq!(c.hyperchat_handshake(HYPERCHAT_SECRET).await.status(), 200);
    let agent = hc.add_agent("Ana");

    let mut conversations = Vec::new();
    for source in [Source::Twilio, Source::Smooch, Source::Messenger, Source::HyperChat] {
        for index in 0..PER_SOURCE {
            let mut conversation = Conversation { source, index, chat: None };
            if source == Source::HyperChat {
                conversation.chat = Some(open_chat(&c, &hc, &agent, &conversation).await);
            } else {
                for n in 0..MESSAGES {
                    let question = format!("q {source:?} {index}-{n}");
                    c.inbenta.on_message(&question, unrated(&conversation.reply(n)));
                }
            }
            conversations.push(conversation);
        }
    }

    let bot_delay = Duration::from_millis(std::env::var("LOAD_BOT_DELAY_MS").ok().and_then(|ms| ms.parse().ok()).unwrap_or(0));
    c.inbenta.set_delay(bot_delay);
    let seen: Seen = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = watch(c.clone(), seen.clone(), stop.clone());
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let posted_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let started = Instant::now();
    let tasks: Vec<_> = conversations
        .iter()
        .cloned()
        .map(|conversation| {
            let (c, slots, posted_at) = (c.clone(), slots.clone(), posted_at.clone());
            tokio::spawn(async move {
                let mut acks = Vec::new();
                for n in 0..MESSAGES {
                    let _slot = slots.acquire().await.expect("open semaphore");
                    let at = Instant::now();
                    posted_at.lock().unwrap().insert(conversation.reply(n), at);
                    assert_eq!(post(&c, &conversation, n).await, 200, "{:?} {} message {n}", conversation.source, conversation.index);
                    acks.push(at.elapsed());
                }
                acks
            })
        })
        .collect();
    let mut acks = Vec::new();
    for task in tasks {
        acks.extend(task.await.expect("a conversation's posts"));
    }
    let expected = conversations.len() * MESSAGES;
    let deadline = Instant::now() + Duration::from_secs(300);
    while seen.lock().unwrap().len() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.queue.settle().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    watcher.await.expect("the watcher");
    let total = started.elapsed();

    let seen = seen.lock().unwrap().clone();
    let posted_at = posted_at.lock().unwrap().clone();
    let dead: Vec<String> = c.queue.dead_letters().into_iter().map(|dead| dead.cause).collect();
    assert!(dead.is_empty(), "dead-lettered: {dead:?}");
    let mut latencies = Vec::new();
    for conversation in &conversations {
        let mut last = 0;
        for n in 0..MESSAGES {
            let reply = conversation.reply(n);
            let Some((at, times, place)) = seen.get(&reply) else { panic!("{reply:?} never reached its user") };
            assert_eq!(*times, 1, "{reply:?} sent {times} times");
            assert!(last < *place, "{reply:?} came before the reply to the message before it");
            last = *place;
            latencies.push(at.saturating_duration_since(posted_at[&reply]));
        }
    }
    acks.sort();
    latencies.sort();
    eprintln!(
        "load: {expected} messages in {total:?}, bot calls taking {bot_delay:?}; acknowledgement p50 {:?} p99 {:?}; webhook to reply p50 {:?} p99 {:?}",
        percentile(&acks, 50),
        percentile(&acks, 99),
        percentile(&latencies, 50),
        percentile(&latencies, 99)
    );
}
