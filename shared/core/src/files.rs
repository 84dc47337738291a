//! Users' files, fetched from their channel for the agent: the one download every sender uses,
//! with its size limit, and the name and media type the agent sees.

use connector_engine::ports::FileError;
use connector_engine::values::{FileContent, UserFile};
use tokio::time::Instant;
use upstream::{Download, DownloadError, Upstream};

/// Downloads `file` with `request` (the channel adds what its media URLs need), at most `limit`
/// bytes, before `deadline`.
pub async fn fetch(
    upstream: &Upstream,
    request: upstream::RequestBuilder,
    file: &UserFile,
    limit: u64,
    deadline: Instant,
) -> Result<FileContent, FileError> {
    match upstream.download(request, deadline, limit).await {
        Ok(download) => Ok(content(file, download)),
        Err(DownloadError::TooLarge { limit }) => Err(FileError::TooLarge { limit }),
        Err(error @ (DownloadError::Refused | DownloadError::Upstream(_))) => {
            Err(FileError::Unavailable(connector_engine::error_chain(&error)))
        }
    }
}

/// A file at a public URL (a channel's CDN), fetched without credentials.
pub async fn fetch_public(upstream: &Upstream, file: &UserFile, limit: u64, deadline: Instant) -> Result<FileContent, FileError> {
    let url = file_url(file)?;
    fetch(upstream, upstream.request(upstream::Method::GET, url), file, limit, deadline).await
}

/// The URL of a user's file, if it is one a download may be sent to (http or https).
pub fn file_url(file: &UserFile) -> Result<upstream::Url, FileError> {
    match upstream::Url::parse(&file.url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
        _ => Err(FileError::Unavailable("not an http(s) URL".into())),
    }
}

/// What the agent gets: the channel's name for the file, else the server's, else the URL's last
/// path segment, with an extension for its type when it has none; the server's media type unless
/// it only says "bytes".
fn content(file: &UserFile, download: Download) -> FileContent {
    let served = download.content_type.as_deref().map(essence).filter(|t| !t.is_empty() && t != "application/octet-stream");
    let media_type = served.or_else(|| file.media_type.as_deref().map(essence)).unwrap_or_else(|| "application/octet-stream".to_owned());
    let from_url = download
        .final_url
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .map(|segment| percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned());
    let name = [file.name.clone(), download.disposition.as_deref().and_then(disposition_name), from_url]
        .into_iter()
        .flatten()
        .map(|name| file_name(&name))
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "file".to_owned());
    let name = match extension_of(&media_type) {
        Some(extension) if !name.contains('.') => format!("{name}.{extension}"),
        _ => name,
    };
    FileContent { name, media_type, bytes: download.body }
}

/// `image/png` of `Image/PNG; charset=binary`.
fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// The `filename` of a `Content-Disposition` (`attachment; filename="a.pdf"`).
fn disposition_name(disposition: &str) -> Option<String> {
    disposition.split(';').map(str::trim).find_map(|part| part.strip_prefix("filename=")).map(|name| name.trim_matches('"').to_owned())
}

/// A file's name as shown and put in headers: no directories, no control characters, quotes,
/// angle brackets or semicolons; empty when nothing is left.
pub fn file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    base.chars().filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | ';')).collect::<String>().trim().to_owned()
}

/// The usual extension of the media types users send from phones (Twilio's media URLs end in
/// an id, so the agent would otherwise get a file with no type).
fn extension_of(media_type: &str) -> Option<&'static str> {
    Some(match media_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/heic" => "heic",
        "application/pdf" => "pdf",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/mp4" | "audio/aac" => "m4a",
        "audio/amr" => "amr",
        "video/mp4" => "mp4",
        "video/3gpp" => "3gp",
        "text/plain" => "txt",
        "text/vcard" | "text/x-vcard" => "vcf",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn download(url: &str, content_type: Option<&str>, disposition: Option<&str>) -> Download {
        Download {
            content_type: content_type.map(str::to_owned),
            disposition: disposition.map(str::to_owned),
            final_url: upstream::Url::parse(url).unwrap(),
            body: b"bytes".to_vec(),
        }
    }

    fn file(name: Option<&str>, media_type: Option<&str>) -> UserFile {
        UserFile { url: "https://cdn.test/x".into(), media_type: media_type.map(str::to_owned), name: name.map(str::to_owned) }
    }

    #[test]
    fn a_file_named_by_nobody_gets_the_urls_last_segment_and_an_extension_for_its_type() {
        let got = content(&file(None, Some("image/jpeg")), download("https://media.test/Media/ME123", Some("image/jpeg"), None));
        assert_eq!((got.name.as_str(), got.media_type.as_str()), ("ME123.jpg", "image/jpeg"));
    }

    #[test]
    fn the_channels_name_comes_first_then_the_servers_and_names_lose_their_directories() {
        let named = content(&file(Some("../../etc/passwd"), None), download("https://m.test/a.bin", Some("text/plain"), None));
        assert_eq!(named.name, "passwd.txt");
        let served = content(&file(None, None), download("https://m.test/a", None, Some("attachment; filename=\"Q3 report.pdf\"")));
        assert_eq!((served.name.as_str(), served.media_type.as_str()), ("Q3 report.pdf", "application/octet-stream"));
        let escaped = content(&file(None, None), download("https://m.test/na%C3%AFve%20cat.png", Some("image/png; q=1"), None));
        assert_eq!((escaped.name.as_str(), escaped.media_type.as_str()), ("naïve cat.png", "image/png"));
    }

    #[test]
    fn a_server_that_only_says_bytes_leaves_the_type_the_channel_announced() {
        let got = content(&file(None, Some("audio/ogg")), download("https://m.test/v", Some("application/octet-stream"), None));
        assert_eq!((got.name.as_str(), got.media_type.as_str()), ("v.ogg", "audio/ogg"));
    }

    #[test]
    fn only_http_urls_are_fetched() {
        assert!(file_url(&UserFile { url: "file:///etc/passwd".into(), media_type: None, name: None }).is_err());
        assert!(file_url(&UserFile { url: "https://cdn.test/a.png".into(), media_type: None, name: None }).is_ok());
    }
}
