//! A deliberately tiny HTTP/1.1 client over `tokio::net::TcpStream`.
//!
//! The test crate has no HTTP client dependency (the product's `reqwest` is
//! the thing under test, and we do not want the test driver to share its
//! bugs). This client sends one request per connection with
//! `Connection: close` and reads until EOF, which is all a test driver needs
//! to post webhooks to the connector's local server or poke a fake directly.
//! Only `http://` URLs are supported. Wrap calls in `tokio::time::timeout`
//! if the server might hang.

use std::io;

use serde_json::Value;
use tokio::net::TcpStream;

/// A complete HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lower-cased, values as sent.
    pub headers: Vec<(String, String)>,
    /// Body with any chunked transfer-encoding already removed.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Body as (lossy) UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Body as JSON; panics with the body text if it is not JSON (test helper).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response (status {}) is not JSON ({e}): {:?}", self.status, self.text()))
    }
}

/// Sends one request and returns the full response.
///
/// `url` is `http://host:port/path?query`. `Host`, `Content-Length` and
/// `Connection: close` are added automatically; `headers` may add anything
/// else (including `Content-Type`).
pub async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> io::Result<HttpResponse> {
    let (authority, target) = split_url(url)?;
    let stream = TcpStream::connect(authority.as_str()).await?;

    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {authority}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    let mut request = head.into_bytes();
    request.extend_from_slice(body);

    write_all(&stream, &request).await?;
    let raw = read_to_end(&stream).await?;
    parse_response(&raw)
}

/// `POST` with a JSON body.
pub async fn post_json(url: &str, headers: &[(&str, &str)], body: &Value) -> io::Result<HttpResponse> {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    send("POST", url, &all, body.to_string().as_bytes()).await
}

/// `POST` with an `application/x-www-form-urlencoded` body.
pub async fn post_form(url: &str, headers: &[(&str, &str)], params: &[(String, String)]) -> io::Result<HttpResponse> {
    let body = serde_urlencoded::to_string(params).map_err(io::Error::other)?;
    let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    send("POST", url, &all, body.as_bytes()).await
}

/// `GET` without a body.
pub async fn get(url: &str, headers: &[(&str, &str)]) -> io::Result<HttpResponse> {
    send("GET", url, headers, b"").await
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Splits `http://authority/target` into `(authority, target)`.
fn split_url(url: &str) -> io::Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("only http:// URLs are supported: {url}")))?;
    Ok(match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (rest[..i].to_owned(), rest[i..].to_owned()),
        // "host?query" has an empty path; HTTP requires "/" before the query.
        Some(i) => (rest[..i].to_owned(), format!("/{}", &rest[i..])),
        None => (rest.to_owned(), "/".to_owned()),
    })
}

/// Writes raw bytes to `address` (`host:port`) and reads until the server closes: for drivers
/// that send what no client library would (a short body, a bare connection).
pub async fn exchange(address: &str, request: &[u8]) -> io::Result<Vec<u8>> {
    let stream = TcpStream::connect(address).await?;
    write_all(&stream, request).await?;
    read_to_end(&stream).await
}

/// Writes all of `buf` (the crate's tokio has no `io-util`, hence the `try_*` loops).
pub async fn write_all(stream: &TcpStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        stream.writable().await?;
        match stream.try_write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads until the peer closes the connection.
pub async fn read_to_end(stream: &TcpStream) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        stream.readable().await?;
        match stream.try_read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

fn parse_response(raw: &[u8]) -> io::Result<HttpResponse> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| invalid("response has no end of headers"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| invalid("response head is not UTF-8"))?;
    let rest = &raw[split + 4..];

    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| invalid(format!("bad status line: {status_line:?}")))?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|line| line.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned())).collect();

    let find = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let body = if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        dechunk(rest)?
    } else if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        rest.get(..len).ok_or_else(|| invalid("body shorter than Content-Length"))?.to_vec()
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse { status, headers, body })
}

fn dechunk(mut data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n").ok_or_else(|| invalid("truncated chunk size"))?;
        let size_text = std::str::from_utf8(&data[..eol]).map_err(|_| invalid("bad chunk size"))?;
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| invalid("bad chunk size"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).ok_or_else(|| invalid("truncated chunk"))?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).ok_or_else(|| invalid("truncated chunk"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_request_target() {
        let split = |u: &str| {
            let (a, t) = split_url(u).unwrap();
            (a, t)
        };
        assert_eq!(split("http://127.0.0.1:80/a/b?c=1"), ("127.0.0.1:80".into(), "/a/b?c=1".into()));
        assert_eq!(split("http://localhost:9"), ("localhost:9".into(), "/".into()));
        assert_eq!(split("http://h:1?x=1"), ("h:1".into(), "/?x=1".into()));
        assert!(split_url("https://example.com/").is_err());
    }

    #[test]
    fn chunked_bodies_are_reassembled() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let resp = parse_response(raw).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body, b"abcde");
    }

    #[test]
    fn content_length_bounds_the_body() {
        let raw = b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\nX-A: b\r\n\r\n{}trailing";
        let resp = parse_response(raw).unwrap();
        assert_eq!(resp.status, 404);
        assert_eq!(resp.body, b"{}");
        assert_eq!(resp.header("x-a"), Some("b"));
    }
}
