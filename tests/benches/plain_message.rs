//! One plain SMS through the Twilio webhook handler, against zero-latency fakes on loopback:
//! handler time per message (p50, p99) and upstream calls per message, with the in-memory store
//! and, when `AWS_ENDPOINT_URL_DYNAMODB` is set, with DynamoDB (moto on loopback).
//!
//! `BENCH_MESSAGES` (default 1000) messages per store, after 20 warm-up messages.

use connector_tests::connector::{COMPANY_NUMBER, Connector, SMS_USER};
use connector_tests::inbenta::unrated;
use connector_tests::twilio_signing::inbound_form;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let messages: usize = std::env::var("BENCH_MESSAGES").ok().and_then(|n| n.parse().ok()).unwrap_or(1000);
    println!("{:<28} {:>9} {:>9} {:>9} {:>13} {:>13} {:>12}", "store", "p50", "p99", "mean", "inbenta/msg", "twilio/msg", "store/msg");
    run("in memory", Connector::start().await, messages).await;
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some() {
        run("dynamodb (moto, loopback)", Connector::start_on_dynamodb().await, messages).await;
    } else {
        println!("(DynamoDB skipped: AWS_ENDPOINT_URL_DYNAMODB not set)");
    }
}

async fn run(label: &str, c: Connector, messages: usize) {
    c.inbenta.on_message("hello", unrated("Hi! How can I help?"));
    for _ in 0..20 {
        send(&c).await;
    }
    let (inbenta_before, twilio_before, store_before) = (c.inbenta.requests().len(), c.twilio.requests().len(), c.store_calls.calls());
    let mut times: Vec<Duration> = Vec::with_capacity(messages);
    for _ in 0..messages {
        times.push(send(&c).await);
    }
    times.sort();
    let per_message = |calls: usize| calls as f64 / messages as f64;
    let mean = times.iter().sum::<Duration>() / u32::try_from(messages).unwrap_or(u32::MAX);
    println!(
        "{label:<28} {:>9} {:>9} {:>9} {:>13.2} {:>13.2} {:>12.2}",
        format!("{:.2?}", times[messages / 2]),
        format!("{:.2?}", times[(messages * 99 / 100).min(messages - 1)]),
        format!("{mean:.2?}"),
        per_message(c.inbenta.requests().len() - inbenta_before),
        per_message(c.twilio.requests().len() - twilio_before),
        per_message(c.store_calls.calls() - store_before),
    );
}

async fn send(c: &Connector) -> Duration {
    let request = c.signed(&inbound_form(SMS_USER, COMPANY_NUMBER, "hello", &c.next_sid()));
    let started = Instant::now();
    let response = c.handle(request).await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), 200);
    elapsed
}
