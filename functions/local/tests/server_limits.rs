//! `connector-local` is reachable through a tunnel while someone develops: slow, idle or
//! lying clients must not hang it or starve `/health`.

use connector_tests::inbenta::FakeInbenta;
use connector_tests::local::{LocalOptions, LocalServer, free_port};
use connector_tests::raw_http;
use connector_tests::twilio::FakeTwilio;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

const LIMITS: &[(&str, &str)] = &[("local.toml", "header_timeout_ms = 1000\nbody_timeout_ms = 1000\nmax_connections = 64")];

async fn start(inbenta: &FakeInbenta, twilio: &FakeTwilio, open_files: Option<u32>) -> LocalServer {
    LocalServer::start(LocalOptions {
        binary: env!("CARGO_BIN_EXE_connector-local"),
        port: free_port(),
        table: None,
        dynamodb: None,
        inbenta,
        twilio,
        custom: LIMITS,
        open_files,
        queue: None,
    })
    .await
}

/// How long the server kept a connection open, if it closed it within `limit`.
async fn closed_within(stream: &TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    tokio::time::timeout(limit, raw_http::read_to_end(stream)).await.ok().map(|_| started.elapsed())
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_header_timeout() {
    let (inbenta, twilio) = (FakeInbenta::start().await, FakeTwilio::start().await);
    let local = start(&inbenta, &twilio, None).await;
    let idle = TcpStream::connect(local.url.trim_start_matches("http://")).await.unwrap();
    let kept = closed_within(&idle, Duration::from_secs(5)).await;
    assert!(kept.is_some_and(|k| k < Duration::from_secs(3)), "idle connection kept {kept:?}");
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_gets_408_instead_of_hanging() {
    let (inbenta, twilio) = (FakeInbenta::start().await, FakeTwilio::start().await);
    let local = start(&inbenta, &twilio, None).await;
    let request = "POST /twilio HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: AAAA\r\nContent-Length: 1000\r\n\r\nFrom=%2B1";
    let started = Instant::now();
    let exchanged =
        tokio::time::timeout(Duration::from_secs(5), raw_http::exchange(local.url.trim_start_matches("http://"), request.as_bytes())).await;
    let answer = exchanged.map(|read| read.unwrap_or_default()).unwrap_or_default();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "after {:?}: {text:?}", started.elapsed());
    assert!(twilio.requests().is_empty() && inbenta.requests().is_empty());
}

#[tokio::test]
async fn health_answers_again_soon_after_more_idle_connections_than_the_process_has_descriptors() {
    let (inbenta, twilio) = (FakeInbenta::start().await, FakeTwilio::start().await);
    let local = start(&inbenta, &twilio, Some(128)).await;
    let address = local.url.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..300 {
        if let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(&address)).await {
            idle.push(stream);
        }
    }
    let started = Instant::now();
    let health = format!("{}/health", local.url);
    let answered = loop {
        if let Ok(Ok(response)) = tokio::time::timeout(Duration::from_millis(500), raw_http::get(&health, &[])).await {
            break Some((response.status, started.elapsed()));
        }
        if started.elapsed() > Duration::from_secs(8) {
            break None;
        }
        // Not a tight loop: a refused connection fails at once, and thousands of them a second
        // (5,604 in one run) only load the server this test measures.
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(idle);
    let (status, after) = answered.expect("/health never answered while idle connections were held open");
    assert_eq!(status, 200);
    assert!(after < Duration::from_secs(5), "answered only after {after:?}");
}
