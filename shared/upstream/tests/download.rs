//! Downloads against real HTTP servers on loopback: redirects are followed without the first
//! request's headers, files users name reach public addresses only, and a file larger than the
//! limit is not read.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use upstream::{DownloadError, Timeouts, Upstream};

/// A server on 127.0.0.1 answering every request with `answer`; the heads of the requests it
/// got, and its port.
fn serve(answer: String) -> (Arc<Mutex<Vec<String>>>, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            log.lock().unwrap().push(String::from_utf8_lossy(&head).to_lowercase());
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (seen, port)
}

fn file(body: &str) -> String {
    format!("HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())
}

fn redirect(to: &str) -> String {
    format!("HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
}

fn timeouts() -> Timeouts {
    Timeouts::overall(Duration::from_secs(5))
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

#[tokio::test]
async fn a_redirect_is_followed_with_a_bare_get_so_the_api_credentials_stay_behind() {
    let (storage, storage_port) = serve(file("png bytes"));
    let (api, api_port) = serve(redirect(&format!("http://127.0.0.1:{storage_port}/stored/a.png")));
    let client = Upstream::new("Test", timeouts()).unwrap();
    let request =
        client.request(upstream::Method::GET, format!("http://127.0.0.1:{api_port}/v1/media/F1")).header("x-hyper-secret", "s3cr3t");
    let download = client.download(request, soon(), 1000).await.unwrap();
    assert_eq!((download.body.as_slice(), download.final_url.path()), (&b"png bytes"[..], "/stored/a.png"));
    assert!(api.lock().unwrap()[0].contains("x-hyper-secret: s3cr3t"));
    let at_storage = storage.lock().unwrap()[0].clone();
    assert!(!at_storage.contains("s3cr3t"), "{at_storage}");
}

#[tokio::test]
async fn a_users_file_at_a_private_address_or_a_name_resolving_to_one_is_not_fetched() {
    let (private, port) = serve(file("internal"));
    let files = Upstream::for_files("Test", timeouts(), "https://api.channel.example/v2").unwrap();
    for url in [format!("http://127.0.0.1:{port}/"), format!("http://[::1]:{port}/"), format!("http://localhost:{port}/")] {
        let fetched = files.download(files.request(upstream::Method::GET, &url), soon(), 1000).await;
        assert!(fetched.is_err(), "{url}");
    }
    assert!(private.lock().unwrap().is_empty(), "nothing reached the private server");
}

#[tokio::test]
async fn the_channel_apis_own_host_is_reached_but_not_a_private_address_it_redirects_to() {
    let (inner, inner_port) = serve(file("internal"));
    let (api, api_port) = serve(redirect(&format!("http://localhost:{inner_port}/")));
    let files = Upstream::for_files("Test", timeouts(), "http://127.0.0.1:1/").unwrap();
    let fetched = files.download(files.request(upstream::Method::GET, format!("http://127.0.0.1:{api_port}/media")), soon(), 1000).await;
    assert!(fetched.is_err());
    assert_eq!(api.lock().unwrap().len(), 1, "the trusted host was asked");
    assert!(inner.lock().unwrap().is_empty(), "the redirect to a private address was not followed");
}

#[tokio::test]
async fn a_file_larger_than_the_limit_is_refused_and_redirects_without_end_too() {
    let (_, port) = serve(file("0123456789"));
    let client = Upstream::new("Test", timeouts()).unwrap();
    let too_large = client.download(client.request(upstream::Method::GET, format!("http://127.0.0.1:{port}/")), soon(), 9).await;
    assert!(matches!(too_large, Err(DownloadError::TooLarge { limit: 9 })), "{too_large:?}");
    let (_, looping) = serve(redirect("/again"));
    let endless = client.download(client.request(upstream::Method::GET, format!("http://127.0.0.1:{looping}/")), soon(), 9).await;
    assert!(matches!(endless, Err(DownloadError::Refused)), "{endless:?}");
}
