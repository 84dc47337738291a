//! The files agents share, handed to users without HyperChat's credentials.
//!
//! HyperChat serves a chat's files only to callers with the app id and secret; the PHP connector
//! put both in the URL it sent the user's channel (php-behavior §7, bug 4). Here the user's
//! channel gets a link to this function instead: `{webhook_url}/files/{token}/{name}`, where the
//! token names the file and its expiry and is signed with a key derived from the app secret. The
//! function checks the token and fetches the file from HyperChat with the credentials in headers.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use connector_core::{WebhookResponse, text_response};
use connector_engine::ports::Clock;
use connector_engine::{SharedFile, Timestamp};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderValue, StatusCode, header};
use inbenta::hyperchat::HyperChatClient;
use inbenta::url_path_segment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use upstream::DownloadError;

/// Signs and reads the links to agents' files.
pub struct FileLinks {
    /// The function's public URL (`HYPERCHAT_WEBHOOK_URL`), without a trailing `/`.
    base: String,
    key: [u8; 32],
    lifetime: Duration,
    clock: Arc<dyn Clock>,
}

/// What a link names (the token's signed content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedFile {
    /// The file's path at HyperChat (`/media/...`).
    #[serde(rename = "p")]
    pub path: String,
    #[serde(rename = "t")]
    pub media_type: String,
    #[serde(rename = "n")]
    pub name: String,
    /// Unix seconds.
    #[serde(rename = "e")]
    pub expires: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("not a link of this connector")]
    Forged,
    #[error("the link has expired")]
    Expired,
}

impl FileLinks {
    /// Links under `base` (the public URL HyperChat calls), signed with a key of their own derived
    /// from HyperChat's app secret; `None` without either.
    pub fn new(base: &str, app_secret: &SecretString, lifetime: Duration, clock: Arc<dyn Clock>) -> Option<Self> {
        let base = base.trim().trim_end_matches('/');
        if base.is_empty() || app_secret.expose_secret().is_empty() {
            return None;
        }
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(app_secret.expose_secret().as_bytes()).ok()?;
        mac.update(b"inbenta-connector agent file links v1");
        Some(Self { base: base.to_owned(), key: mac.finalize().into_bytes().into(), lifetime, clock })
    }

    /// The link for a file HyperChat keeps at `path`; `None` for a path that is not a plain path
    /// under HyperChat's API (it is used as one when the link is followed).
    pub fn link(&self, path: &str, media_type: &str, name: &str) -> Option<SharedFile> {
        if !is_plain_path(path) {
            return None;
        }
        let name = Some(connector_core::files::file_name(name)).filter(|n| !n.is_empty()).unwrap_or_else(|| "file".to_owned());
        let expires = self.clock.now().plus(self.lifetime).0;
        let linked = LinkedFile { path: path.to_owned(), media_type: media_type.trim().to_owned(), name: name.clone(), expires };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&linked).ok()?);
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        let url = format!("{}/files/{payload}.{signature}/{}", self.base, url_path_segment(&name));
        Some(SharedFile { url, name, media_type: linked.media_type })
    }

    /// What the token of a link names, when this connector signed it and it has not expired.
    pub fn open(&self, token: &str) -> Result<LinkedFile, LinkError> {
        let (payload, signature) = token.split_once('.').ok_or(LinkError::Forged)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| LinkError::Forged)?;
        self.mac(payload).verify_slice(&signature).map_err(|_| LinkError::Forged)?;
        let linked: LinkedFile =
            URL_SAFE_NO_PAD.decode(payload).ok().and_then(|json| serde_json::from_slice(&json).ok()).ok_or(LinkError::Forged)?;
        if self.clock.now() >= Timestamp(linked.expires) {
            return Err(LinkError::Expired);
        }
        Ok(linked)
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(payload.as_bytes());
        mac
    }
}

/// A path HyperChat's API can be asked for as it is: no scheme, host, query or climbing up,
/// written plainly or percent-escaped (`%2e%2e`).
fn is_plain_path(path: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    !path.is_empty()
        && !decoded.starts_with("//")
        && !decoded.contains("://")
        && !decoded.chars().any(|c| c.is_control() || matches!(c, '?' | '#' | '\\' | '%'))
        && !decoded.split('/').any(|segment| matches!(segment, "." | ".."))
}

/// The token of a request for a file: `{token}` in `.../files/{token}/{name}`, read from the
/// end (API Gateway may put a stage before the function's path; a name may be `files`).
pub fn file_token(path: &str) -> Option<&str> {
    let mut backwards = path.rsplit('/');
    let (_name, token, files) = (backwards.next()?, backwards.next()?, backwards.next()?);
    (files == "files" && token.contains('.')).then_some(token)
}

/// Serves the files behind the links: checks the link, fetches the file from HyperChat.
pub struct FileProxy {
    pub links: Arc<FileLinks>,
    pub hyperchat: Arc<HyperChatClient>,
    /// The largest file served (a Lambda answer holds 6 MB, base64-encoded).
    pub max_bytes: u64,
}

impl FileProxy {
    /// The answer to `GET` of a file link; `HEAD` (no `with_body`) says what the link names
    /// without fetching it.
    pub async fn serve(&self, token: &str, with_body: bool, deadline: Instant) -> WebhookResponse {
        let linked = match self.links.open(token) {
            Ok(linked) => linked,
            Err(LinkError::Forged) => {
                tracing::warn!("a file link that is not ours was refused");
                return text_response(StatusCode::FORBIDDEN, "invalid link");
            }
            Err(LinkError::Expired) => return text_response(StatusCode::GONE, "this link has expired"),
        };
        if !with_body {
            return self.file_answer(&linked, None, bytes::Bytes::new());
        }
        let download = match self.hyperchat.download(&linked.path, self.max_bytes, deadline).await {
            Ok(download) => download,
            Err(DownloadError::TooLarge { limit }) => {
                tracing::warn!(limit, "an agent's file is larger than links serve (hyperchat.max_file_bytes)");
                return text_response(StatusCode::BAD_GATEWAY, "file too large");
            }
            Err(DownloadError::Upstream(error)) if error.status() == Some(404) => {
                return text_response(StatusCode::NOT_FOUND, "file not found");
            }
            Err(error @ (DownloadError::Upstream(_) | DownloadError::Refused)) => {
                tracing::warn!(error = %connector_engine::error_chain(&error), "an agent's file could not be fetched from HyperChat");
                return text_response(StatusCode::BAD_GATEWAY, "file unavailable");
            }
        };
        self.file_answer(&linked, download.content_type.as_deref(), download.body.into())
    }

    /// The file with its type (the one HyperChat announced, else the one it served), its name,
    /// and how long it may be kept.
    fn file_answer(&self, linked: &LinkedFile, served_type: Option<&str>, body: bytes::Bytes) -> WebhookResponse {
        let media_type = Some(linked.media_type.as_str())
            .filter(|t| !t.is_empty())
            .or(served_type)
            .and_then(|t| HeaderValue::from_str(t).ok())
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        let left = linked.expires.saturating_sub(self.links.clock.now().0).max(0);
        let mut response = http::Response::new(body);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, media_type);
        let ascii: String = linked.name.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }).collect();
        let disposition = format!("inline; filename=\"{ascii}\"; filename*=UTF-8''{}", url_path_segment(&linked.name));
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
        if let Ok(value) = HeaderValue::from_str(&format!("private, max-age={left}")) {
            headers.insert(header::CACHE_CONTROL, value);
        }
        // An agent's HTML or SVG file opened in a browser runs nothing on this function's origin.
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    struct TestClock(AtomicI64);

    impl Clock for TestClock {
        fn now(&self) -> Timestamp {
            Timestamp(self.0.load(Ordering::SeqCst))
        }
    }

    fn links(secret: &str) -> (FileLinks, Arc<TestClock>) {
        let clock = Arc::new(TestClock(AtomicI64::new(1_800_000_000)));
        let links =
            FileLinks::new("https://fn.test/hyperchat/", &SecretString::from(secret.to_owned()), Duration::from_secs(600), clock.clone());
        (links.expect("configured"), clock)
    }

    fn token_of(url: &str) -> &str {
        file_token(url.strip_prefix("https://fn.test").unwrap()).unwrap()
    }

    #[test]
    fn a_link_names_its_file_without_the_secret_and_opens_to_the_same_file() {
        let (links, _) = links("app-secret-123");
        let shared = links.link("/media/F1", "image/png", "my photo.png").unwrap();
        assert!(shared.url.starts_with("https://fn.test/hyperchat/files/"), "{}", shared.url);
        assert!(shared.url.ends_with("/my%20photo.png"), "{}", shared.url);
        assert!(!shared.url.contains("app-secret-123"));
        assert_eq!((shared.name.as_str(), shared.media_type.as_str()), ("my photo.png", "image/png"));
        let opened = links.open(token_of(&shared.url)).unwrap();
        assert_eq!((opened.path.as_str(), opened.expires), ("/media/F1", 1_800_000_600));
    }

    #[test]
    fn a_changed_token_or_another_deployments_link_is_forged_and_an_old_one_expired() {
        let (links, clock) = links("app-secret-123");
        let url = links.link("/media/F1", "image/png", "a.png").unwrap().url;
        let token = token_of(&url);
        let (payload, signature) = token.split_once('.').unwrap();
        let other_path = URL_SAFE_NO_PAD.encode(br#"{"p":"/users","t":"text/plain","n":"x","e":1900000000}"#);
        for forged in [format!("{other_path}.{signature}"), format!("{payload}.{}", &signature[1..]), payload.to_owned(), String::new()] {
            assert_eq!(links.open(&forged), Err(LinkError::Forged), "{forged}");
        }
        let (theirs, _) = self::links("another-secret");
        assert_eq!(theirs.open(token), Err(LinkError::Forged));
        clock.0.store(1_800_000_600, Ordering::SeqCst);
        assert_eq!(links.open(token), Err(LinkError::Expired));
    }

    #[test]
    fn paths_that_are_not_plain_paths_under_the_api_get_no_link() {
        let (links, _) = links("s");
        for path in [
            "https://evil.test/x",
            "//evil.test/x",
            "/media/../users",
            "/media/%2e%2E/users",
            "/media/.%2e/users",
            "/media/%252e%252e/x",
            "/media/a?secret=1",
            "/media/a%3Fx",
            "",
            "/media/a\\b",
        ] {
            assert!(links.link(path, "image/png", "a").is_none(), "{path}");
        }
        assert_eq!(links.link("/media/a", "", "../../x\"y").unwrap().name, "xy");
        assert!(links.link("/media/F1/photo%20one.png", "image/png", "a").is_some(), "an escaped name is still a plain path");
    }

    /// The link of `infra/events/hyperchat-file-link.json`, which `infra/events/generate.py`
    /// signs on its own (an independent writing of the token's format).
    #[test]
    fn a_link_signed_by_the_sample_event_generator_opens() {
        let (links, _) = links("test-hyperchat-secret");
        let token = "eyJwIjoiL21lZGlhL0YxIiwidCI6ImltYWdlL3BuZyIsIm4iOiJjaGVjay5wbmciLCJlIjo0MTAyNDQ0ODAwfQ.pGnLLrjDjl1w0TJrniaydrfCAQUF6l-OJ58TRVFELC4";
        let opened = links.open(token).unwrap();
        assert_eq!((opened.path.as_str(), opened.media_type.as_str(), opened.name.as_str()), ("/media/F1", "image/png", "check.png"));
    }

    #[test]
    fn the_token_is_found_after_the_files_segment_whatever_comes_before() {
        assert_eq!(file_token("/prod/hyperchat/files/abc.def/a.png"), Some("abc.def"));
        assert_eq!(file_token("/files/abc.def/"), Some("abc.def"));
        assert_eq!(file_token("/hyperchat/files/abc.def/files"), Some("abc.def"), "a file named files");
        assert_eq!(file_token("/hyperchat"), None);
        assert_eq!(file_token("/hyperchat/files/"), None);
        assert_eq!(file_token("/hyperchat/files/abc.def"), None, "no name");
    }

    #[test]
    fn no_links_without_a_public_url_or_a_secret() {
        let clock: Arc<dyn Clock> = Arc::new(TestClock(AtomicI64::new(0)));
        assert!(FileLinks::new("", &SecretString::from("s".to_owned()), Duration::from_secs(1), clock.clone()).is_none());
        assert!(FileLinks::new("https://fn.test", &SecretString::from(String::new()), Duration::from_secs(1), clock).is_none());
    }
}
