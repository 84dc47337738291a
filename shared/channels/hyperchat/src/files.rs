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
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use upstream::DownloadError;

/// What a path segment keeps unescaped (RFC 3986 unreserved characters).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

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
        let name = clean_name(name);
        let expires = self.clock.now().plus(self.lifetime).0;
        let linked = LinkedFile { path: path.to_owned(), media_type: media_type.trim().to_owned(), name: name.clone(), expires };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&linked).ok()?);
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        let url = format!("{}/files/{payload}.{signature}/{}", self.base, utf8_percent_encode(&name, SEGMENT));
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

/// A path HyperChat's API can be asked for as it is: no scheme, host, query or climbing up.
fn is_plain_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with("//")
        && !path.contains("://")
        && !path.chars().any(|c| c.is_control() || matches!(c, '?' | '#' | '\\'))
        && !path.split('/').any(|segment| segment == "..")
}

/// A file name to show and to put in a header: no directories, no quotes or control characters.
fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control() && !matches!(c, '"' | ';')).collect();
    match cleaned.trim() {
        "" => "file".to_owned(),
        name => name.to_owned(),
    }
}

/// The token of a request for a file: the segment after `files` in `.../files/{token}/{name}`
/// (API Gateway may put a stage before the function's path).
pub fn file_token(path: &str) -> Option<&str> {
    let segments: Vec<&str> = path.split('/').collect();
    let at = segments.iter().rposition(|segment| *segment == "files")?;
    segments.get(at + 1).copied().filter(|token| token.contains('.'))
}

/// Serves the files behind the links: checks the link, fetches the file from HyperChat.
pub struct FileProxy {
    pub links: Arc<FileLinks>,
    pub hyperchat: Arc<HyperChatClient>,
    /// The largest file served (a Lambda answer holds 6 MB, base64-encoded).
    pub max_bytes: u64,
}

impl FileProxy {
    /// The answer to `GET` (or `HEAD`, without the body) of a file link.
    pub async fn serve(&self, token: &str, with_body: bool, deadline: Instant) -> WebhookResponse {
        let linked = match self.links.open(token) {
            Ok(linked) => linked,
            Err(LinkError::Forged) => {
                tracing::warn!("a file link that is not ours was refused");
                return text_response(StatusCode::FORBIDDEN, "invalid link");
            }
            Err(LinkError::Expired) => return text_response(StatusCode::GONE, "this link has expired"),
        };
        let download = match self.hyperchat.download(&linked.path, self.max_bytes, deadline).await {
            Ok(download) => download,
            Err(DownloadError::TooLarge { limit }) => {
                tracing::warn!(limit, "an agent's file is larger than links serve (hyperchat.max_file_bytes)");
                return text_response(StatusCode::BAD_GATEWAY, "file too large");
            }
            Err(DownloadError::Upstream(error)) if error.status() == Some(404) => {
                return text_response(StatusCode::NOT_FOUND, "file not found");
            }
            Err(DownloadError::Upstream(error)) => {
                tracing::warn!(error = %connector_engine::error_chain(&error), "an agent's file could not be fetched from HyperChat");
                return text_response(StatusCode::BAD_GATEWAY, "file unavailable");
            }
        };
        let media_type = Some(linked.media_type.as_str())
            .filter(|t| !t.is_empty())
            .or(download.content_type.as_deref())
            .and_then(|t| HeaderValue::from_str(t).ok())
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        let left = linked.expires.saturating_sub(self.links.clock.now().0).max(0);
        let length = download.body.len();
        let mut response = http::Response::new(if with_body { download.body.into() } else { bytes::Bytes::new() });
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, media_type);
        if !with_body {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        let ascii: String = linked.name.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }).collect();
        let disposition = format!("inline; filename=\"{ascii}\"; filename*=UTF-8''{}", utf8_percent_encode(&linked.name, SEGMENT));
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
        for path in ["https://evil.test/x", "//evil.test/x", "/media/../users", "/media/a?secret=1", "", "/media/a\\b"] {
            assert!(links.link(path, "image/png", "a").is_none(), "{path}");
        }
        assert_eq!(links.link("/media/a", "", "../../x\"y").unwrap().name, "xy");
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
        assert_eq!(file_token("/hyperchat"), None);
        assert_eq!(file_token("/hyperchat/files/"), None);
    }

    #[test]
    fn no_links_without_a_public_url_or_a_secret() {
        let clock: Arc<dyn Clock> = Arc::new(TestClock(AtomicI64::new(0)));
        assert!(FileLinks::new("", &SecretString::from("s".to_owned()), Duration::from_secs(1), clock.clone()).is_none());
        assert!(FileLinks::new("https://fn.test", &SecretString::from(String::new()), Duration::from_secs(1), clock).is_none());
    }
}
