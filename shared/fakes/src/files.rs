//! A fake file host: the CDNs where channels keep users' media (Smooch's media host, Meta's
//! attachment CDN, the storage Twilio's media URLs redirect to).
//!
//! A real HTTP server on `127.0.0.1:<random port>` serving `GET /f/{name}` with the file's bytes
//! and `Content-Type`; unknown names get 404. Every request is recorded, headers included, so a
//! test can check that no credential reached it.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use bytes::Bytes;
use serde_json::json;

pub use crate::recording::Recorded;
use crate::recording::{RequestLog, lock};
use crate::server::{RawReply, Reply, Running, Upstream};

#[derive(Clone, Debug)]
pub struct FakeFileHost {
    server: Running<Shared>,
}

struct Shared {
    log: RequestLog,
    files: Mutex<HashMap<String, (String, Bytes)>>,
}

impl FakeFileHost {
    pub async fn start() -> Self {
        let server = Running::start("FakeFileHost", |_| Shared { log: RequestLog::default(), files: Mutex::default() }).await;
        Self { server }
    }

    /// Serves `body` as `name` with `content_type`; its URL.
    pub fn put(&self, name: &str, content_type: &str, body: &[u8]) -> String {
        lock(&self.server.shared.files).insert(name.to_owned(), (content_type.to_owned(), Bytes::copy_from_slice(body)));
        self.url_of(name)
    }

    pub fn url_of(&self, name: &str) -> String {
        format!("{}/f/{name}", self.server.base_url())
    }

    /// Every request received, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.server.shared.log.snapshot()
    }
}

impl Upstream for Shared {
    fn log(&self) -> &RequestLog {
        &self.log
    }

    async fn answer(&self, _method: &Method, _uri: &Uri, _headers: &HeaderMap, _body: &[u8]) -> Result<Reply, Reply> {
        Err((StatusCode::NOT_FOUND, json!({"error": "no such file"})))
    }

    fn file(&self, method: &Method, uri: &Uri, _headers: &HeaderMap) -> Option<RawReply> {
        let name = uri.path().strip_prefix("/f/").filter(|_| method == Method::GET)?;
        let (content_type, body) = lock(&self.files).get(name).cloned()?;
        Some(RawReply::file(&content_type, body))
    }
}
