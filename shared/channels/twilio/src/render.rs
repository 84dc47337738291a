//! Replies -> Twilio messages: HTML to text (WhatsApp keeps bold/italic/strike), numbered
//! options, media (one per WhatsApp message), at most 1600 characters per message, and as few
//! messages as fit while keeping the order.

use crate::Network;
use crate::interactive::Interactive;
use connector_engine::Reply;
use richtext::{Block, Style};

/// Twilio refuses longer bodies (error 21617), on SMS and WhatsApp alike.
pub const MAX_BODY_CHARS: usize = 1600;

/// One Messages API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// The text; for an interactive message, the numbered text sent if its content cannot be
    /// made.
    pub body: String,
    pub media_url: Option<String>,
    /// WhatsApp buttons or a list (Content API), instead of `body`.
    pub interactive: Option<Interactive>,
}

impl OutboundMessage {
    pub fn text(body: String) -> Self {
        Self { body, media_url: None, interactive: None }
    }

    pub fn media(url: String) -> Self {
        Self { body: String::new(), media_url: Some(url), interactive: None }
    }
}

#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub network: Network,
    /// Send media as links on SMS (no MMS outside the US/Canada).
    pub sms_media_as_links: bool,
    /// WhatsApp options as buttons or a list, with this label on the list's button; `None`:
    /// numbered text (SMS, interactive messages turned off, or the user's window closed).
    pub interactive: Option<String>,
}

impl RenderOptions {
    /// Whether a file of this type goes out as media: on WhatsApp, the types it accepts
    /// (<https://www.twilio.com/docs/whatsapp/guidance-whatsapp-media-messages>); on SMS, any
    /// when MMS is used.
    fn takes_as_media(&self, media_type: &str) -> bool {
        match self.network {
            Network::Sms => !self.sms_media_as_links,
            Network::WhatsApp => {
                WHATSAPP_MEDIA_TYPES.contains(&media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase().as_str())
            }
        }
    }
}

/// What WhatsApp takes as a media message.
const WHATSAPP_MEDIA_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "audio/ogg",
    "audio/amr",
    "audio/3gpp",
    "audio/aac",
    "audio/mpeg",
    "video/mp4",
    "video/3gpp",
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "text/vcard",
];

pub fn render(replies: &[Reply], options: &RenderOptions) -> Vec<OutboundMessage> {
    let style = match options.network {
        Network::WhatsApp => Style::WhatsApp,
        Network::Sms => Style::Plain,
    };
    let mut pieces = Vec::new();
    for reply in replies {
        match reply {
            Reply::Text(html) => push_blocks(&mut pieces, richtext::html_to_blocks(html, style), options),
            Reply::Choice { text, options: labels, first_number, number_hint } => {
                let mut blocks = richtext::html_to_blocks(text, style);
                let numbered: Vec<String> = labels
                    .iter()
                    .enumerate()
                    .map(|(i, option)| format!("{}) {}", first_number + i, richtext::html_to_text(&option.label, style)))
                    .collect();
                let hint = number_hint.trim();
                let list = numbered.join("\n");
                let interactive = options.interactive.as_deref().and_then(|button| {
                    let question = blocks
                        .iter()
                        .map(|b| if let Block::Text(text) = b { Some(text.as_str()) } else { None })
                        .collect::<Option<Vec<_>>>()?;
                    Interactive::of(&question.join("\n\n"), labels, *first_number, button)
                });
                match blocks.last_mut() {
                    Some(Block::Text(question)) if hint.is_empty() => *question = format!("{question}\n{list}"),
                    Some(Block::Text(question)) => *question = format!("{question} {hint}\n{list}"),
                    _ if hint.is_empty() => blocks.push(Block::Text(list)),
                    _ => blocks.push(Block::Text(format!("{hint}\n{list}"))),
                }
                let fallback =
                    blocks.iter().map(|b| if let Block::Text(text) = b { text.as_str() } else { "" }).collect::<Vec<_>>().join("\n\n");
                match interactive {
                    Some(content) if fallback.chars().count() <= MAX_BODY_CHARS => pieces.push(Piece::Interactive(content, fallback)),
                    _ => push_blocks(&mut pieces, blocks, options),
                }
            }
            // A media message where the network takes the file; its name and link otherwise (SMS
            // without MMS, a type WhatsApp refuses, which Twilio would only report later).
            Reply::File(file) if options.takes_as_media(&file.media_type) => pieces.push(Piece::Media(file.url.clone())),
            Reply::File(file) => pieces.push(Piece::Text(format!("{}: {}", file.name, file.url))),
            // No buttons on SMS or WhatsApp session messages: each link as "title: url".
            Reply::Links { text, links } => {
                let mut blocks = richtext::html_to_blocks(text, style);
                blocks.extend(links.iter().map(|link| Block::Text(format!("{}: {}", link.title, link.url))));
                push_blocks(&mut pieces, blocks, options);
            }
        }
    }
    pack(pieces)
}

enum Piece {
    Text(String),
    Media(String),
    /// Buttons or a list, and the numbered text it falls back to.
    Interactive(Interactive, String),
}

fn push_blocks(pieces: &mut Vec<Piece>, blocks: Vec<Block>, options: &RenderOptions) {
    for block in blocks {
        pieces.push(match block {
            Block::Text(text) => Piece::Text(text),
            Block::Media(media) if options.network == Network::Sms && options.sms_media_as_links => Piece::Text(media.url),
            Block::Media(media) => Piece::Media(media.url),
        });
    }
}

/// Merges runs of text into as few bodies as fit; media stay where they were.
fn pack(pieces: Vec<Piece>) -> Vec<OutboundMessage> {
    let mut messages = Vec::new();
    let mut run: Vec<String> = Vec::new();
    let flush = |run: &mut Vec<String>, messages: &mut Vec<OutboundMessage>| {
        messages.extend(richtext::pack(run, "\n\n", MAX_BODY_CHARS).into_iter().map(OutboundMessage::text));
        run.clear();
    };
    for piece in pieces {
        match piece {
            Piece::Text(text) if !text.trim().is_empty() => run.push(text),
            Piece::Text(_) => {}
            Piece::Media(url) => {
                flush(&mut run, &mut messages);
                messages.push(OutboundMessage::media(url));
            }
            Piece::Interactive(content, fallback) => {
                flush(&mut run, &mut messages);
                messages.push(OutboundMessage { body: fallback, media_url: None, interactive: Some(content) });
            }
        }
    }
    flush(&mut run, &mut messages);
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_engine::{ChoiceOption, Link};

    fn opts(network: Network) -> RenderOptions {
        RenderOptions { network, sms_media_as_links: true, interactive: None }
    }

    fn text(body: &str) -> OutboundMessage {
        OutboundMessage::text(body.into())
    }

    #[test]
    fn consecutive_answers_are_merged_into_one_message() {
        let replies = [Reply::Text("<p>One</p>".into()), Reply::Text("Two".into())];
        assert_eq!(render(&replies, &opts(Network::Sms)), vec![text("One\n\nTwo")]);
    }

    #[test]
    fn a_choice_is_numbered_from_its_first_number_with_the_hint() {
        let replies = [Reply::Choice {
            text: "More?".into(),
            options: vec![ChoiceOption::new("Yes"), ChoiceOption::new("No")],
            first_number: 3,
            number_hint: "(type a number)".into(),
        }];
        assert_eq!(render(&replies, &opts(Network::Sms)), vec![text("More? (type a number)\n3) Yes\n4) No")]);
    }

    #[test]
    fn a_whatsapp_choice_that_fits_is_one_interactive_message_whose_body_is_the_numbered_fallback() {
        let replies = [
            Reply::Text("Hello.".into()),
            Reply::Choice {
                text: "More?".into(),
                options: vec![ChoiceOption::new("Yes"), ChoiceOption::new("No")],
                first_number: 1,
                number_hint: "(type a number)".into(),
            },
        ];
        let whatsapp = RenderOptions { interactive: Some("Options".into()), ..opts(Network::WhatsApp) };
        let out = render(&replies, &whatsapp);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0], text("Hello."));
        assert_eq!(out[1].body, "More? (type a number)\n1) Yes\n2) No");
        assert!(matches!(&out[1].interactive, Some(Interactive::QuickReply { body, actions }) if body == "More?" && actions.len() == 2));
        assert!(render(&replies, &opts(Network::WhatsApp)).iter().all(|m| m.interactive.is_none()), "turned off: text");
    }

    #[test]
    fn link_buttons_are_written_out_as_title_and_url() {
        let replies = [Reply::Links { text: "See".into(), links: vec![Link { title: "Shop".into(), url: "https://shop.test".into() }] }];
        assert_eq!(render(&replies, &opts(Network::Sms)), vec![text("See\n\nShop: https://shop.test")]);
    }

    #[test]
    fn whatsapp_gets_each_image_as_its_own_media_message_in_order() {
        let replies = [Reply::Text("<p>Look</p><img src=\"https://x.test/a.png\"><img src=\"https://x.test/b.png\"><p>Done</p>".into())];
        let out = render(&replies, &opts(Network::WhatsApp));
        assert_eq!(
            out,
            vec![
                text("Look"),
                OutboundMessage::media("https://x.test/a.png".into()),
                OutboundMessage::media("https://x.test/b.png".into()),
                text("Done"),
            ]
        );
    }

    #[test]
    fn an_agents_file_is_a_media_message_on_whatsapp_and_its_name_and_link_on_sms() {
        let file = connector_engine::SharedFile {
            url: "https://c.test/files/t/a.pdf".into(),
            name: "a.pdf".into(),
            media_type: "application/pdf".into(),
        };
        let replies = [Reply::Text("Here".into()), Reply::File(file)];
        assert_eq!(
            render(&replies, &opts(Network::WhatsApp)),
            vec![text("Here"), OutboundMessage::media("https://c.test/files/t/a.pdf".into())]
        );
        assert_eq!(render(&replies, &opts(Network::Sms)), vec![text("Here\n\na.pdf: https://c.test/files/t/a.pdf")]);
        let zip = connector_engine::SharedFile {
            url: "https://c.test/files/t/b.zip".into(),
            name: "b.zip".into(),
            media_type: "application/zip".into(),
        };
        assert_eq!(
            render(&[Reply::File(zip)], &opts(Network::WhatsApp)),
            vec![text("b.zip: https://c.test/files/t/b.zip")],
            "a type WhatsApp refuses"
        );
    }

    #[test]
    fn sms_gets_images_as_links_inside_the_text() {
        let replies = [Reply::Text("<p>Look</p><img src=\"https://x.test/a.png\"><p>Done</p>".into())];
        assert_eq!(render(&replies, &opts(Network::Sms)), vec![text("Look\n\nhttps://x.test/a.png\n\nDone")]);
    }

    #[test]
    fn no_message_is_longer_than_twilio_allows() {
        let long = "A sentence that repeats. ".repeat(200);
        let out = render(&[Reply::Text(long)], &opts(Network::Sms));
        assert!(out.len() >= 4);
        assert!(out.iter().all(|m| m.body.chars().count() <= MAX_BODY_CHARS));
    }
}
