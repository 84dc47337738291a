//! URL rules: which sources may become media, what a link shows, and what
//! kind of file an embedded URL points at.

use crate::MediaKind;

/// An absolute http(s) URL fit to be sent as media, or `None`.
///
/// Channels fetch media themselves, so relative, `data:` or `javascript:`
/// sources are useless there. Protocol-relative `//host/x` is taken as https,
/// which is what the page embedding the answer would load.
pub(crate) fn absolute(src: &str) -> Option<String> {
    let url = clean(src)?;
    let lower = url.to_ascii_lowercase();
    let has_host = ["http://", "https://"].iter().any(|scheme| lower.strip_prefix(scheme).is_some_and(|host| !host.is_empty()));
    has_host.then(|| url.replace(' ', "%20"))
}

/// What a link shows after its text, or `None` when the link leads nowhere
/// a chat user could follow (`javascript:`, `data:`, in-page `#anchors`).
/// `mailto:` and `tel:` show the bare address (a mail subject is dropped).
pub(crate) fn link_target(href: &str) -> Option<String> {
    let href = clean(href)?;
    let lower = href.to_ascii_lowercase();
    let unusable = ["javascript:", "vbscript:", "data:"].iter().any(|scheme| lower.starts_with(scheme));
    if unusable || href.starts_with('#') {
        return None;
    }
    let display = if lower.starts_with("mailto:") {
        let address = href.get("mailto:".len()..).unwrap_or("");
        address.split_once('?').map_or(address, |(a, _)| a).trim().to_owned()
    } else if lower.starts_with("tel:") {
        href.get("tel:".len()..).unwrap_or("").trim().to_owned()
    } else {
        href.replace(' ', "%20")
    };
    (!display.is_empty()).then_some(display)
}

/// Whether a link's text already says where it goes, so repeating the URL
/// would be noise. Ignores case, scheme, `www.`, trailing slashes and spaces
/// (so "900 123 456" matches `tel:900123456`).
pub(crate) fn same_target(text: &str, target: &str) -> bool {
    comparable(text) == comparable(target)
}

fn comparable(url: &str) -> String {
    let lower = url.trim().to_lowercase();
    let rest = ["https://", "http://", "mailto:", "tel:"].iter().find_map(|scheme| lower.strip_prefix(scheme)).unwrap_or(&lower);
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    rest.trim_end_matches('/').chars().filter(|c| !c.is_whitespace()).collect()
}

/// The media kind implied by the file extension of the URL path, ignoring
/// query and fragment; `None` for pages such as video-site embeds.
pub(crate) fn kind_by_extension(url: &str) -> Option<MediaKind> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let file = path.rsplit('/').next().unwrap_or(path);
    let (_, extension) = file.rsplit_once('.')?;
    match extension.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" | "png" | "gif" | "webp" => Some(MediaKind::Image),
        "mp4" | "mov" | "avi" | "webm" => Some(MediaKind::Video),
        "mp3" | "ogg" | "wav" | "m4a" => Some(MediaKind::Audio),
        "pdf" | "doc" | "docx" | "xls" | "xlsx" | "ppt" | "pptx" | "csv" | "txt" => Some(MediaKind::File),
        _ => None,
    }
}

/// Trims, removes tabs and line breaks (as browsers do in URLs) and makes
/// protocol-relative URLs https.
fn clean(raw: &str) -> Option<String> {
    let url: String = raw.trim().chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect();
    let url = if url.starts_with("//") { format!("https:{url}") } else { url };
    (!url.is_empty()).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::{absolute, kind_by_extension, link_target, same_target};
    use crate::MediaKind;

    #[test]
    fn only_http_and_https_urls_with_a_host_are_absolute() {
        assert_eq!(absolute(" https://a.es/x y.png\n"), Some("https://a.es/x%20y.png".to_owned()));
        assert_eq!(absolute("//cdn.es/a.png"), Some("https://cdn.es/a.png".to_owned()));
        for src in ["/a.png", "a.png", "data:image/png;base64,AA", "javascript:x", "https://", ""] {
            assert_eq!(absolute(src), None, "{src}");
        }
    }

    #[test]
    fn mail_and_phone_links_show_the_bare_address() {
        assert_eq!(link_target("MAILTO:a@b.es?subject=Hi"), Some("a@b.es".to_owned()));
        assert_eq!(link_target("tel:+34 900"), Some("+34 900".to_owned()));
        assert_eq!(link_target("mailto:"), None);
        assert_eq!(link_target("#top"), None);
    }

    #[test]
    fn link_text_matching_ignores_scheme_www_slash_case_and_spaces() {
        assert!(same_target("www.Example.com", "https://example.com/"));
        assert!(same_target("900 123 456", "900123456"));
        assert!(!same_target("Example", "https://example.com"));
    }

    #[test]
    fn the_extension_is_read_from_the_path_only() {
        assert_eq!(kind_by_extension("https://a.es/v.MP4?x=a.pdf"), Some(MediaKind::Video));
        assert_eq!(kind_by_extension("https://a.es/doc.pdf#page=2"), Some(MediaKind::File));
        assert_eq!(kind_by_extension("https://cdn.es"), None);
        assert_eq!(kind_by_extension("https://youtube.com/embed/abc"), None);
    }
}
