use super::*;
use serde_json::json;

/// The events of `body` as Meta would post it.
fn read_body(body: &Value) -> Vec<MessengerInbound> {
    read_bytes(body.to_string().as_bytes())
}

fn read_bytes(body: &[u8]) -> Vec<MessengerInbound> {
    super::read_body(&Body::read(body).unwrap())
}

fn ids(read: &[MessengerInbound]) -> Vec<&str> {
    read.iter().map(|m| m.id.as_str()).collect()
}

/// `levels` arrays, one in the other.
fn nested(levels: usize) -> String {
    format!("{}{}", "[".repeat(levels), "]".repeat(levels))
}

fn text_event(psid: &str, mid: &str, text: &str, at: i64) -> Value {
    json!({"sender":{"id":psid},"recipient":{"id":"PAGE"},"timestamp":at,"message":{"mid":mid,"text":text}})
}

fn body(entries: Value) -> Value {
    json!({"object":"page","entry":entries})
}

fn one(event: Value) -> Vec<MessengerInbound> {
    read_body(&body(json!([{"id":"PAGE","time":1,"messaging":[event]}])))
}

#[test]
fn every_event_of_every_entry_is_read_in_order() {
    let entries = json!([
        {"id":"PAGE","time":10,"messaging":[text_event("U1","m_1","one",1), text_event("U2","m_2","two",2)]},
        {"id":"PAGE2","time":20,"messaging":[text_event("U1","m_3","three",3), text_event("U3","m_4","four",4)]},
    ]);
    let read = read_body(&body(entries));
    let summary: Vec<(&str, &str, &str)> = read.iter().map(|m| (m.id.as_str(), m.page.as_str(), m.psid.as_str())).collect();
    assert_eq!(summary, [("m_1", "PAGE", "U1"), ("m_2", "PAGE", "U2"), ("m_3", "PAGE2", "U1"), ("m_4", "PAGE2", "U3")]);
    assert_eq!(read[3].input, UserInput::Text("four".into()));
}

#[test]
fn the_conversation_key_is_the_php_external_id_and_the_event_carries_the_reply_address() {
    let read = one(text_event("U1", "m_1", "hi", 1));
    assert_eq!(read[0].conversation_key().as_str(), "fb-PAGE-U1");
    let event = read[0].to_event();
    assert_eq!(event.id.as_str(), "messenger#m_1");
    assert_eq!(event.route, Route::Conversation(ConversationKey::new("fb-PAGE-U1")));
    let address = event.address.unwrap();
    assert_eq!((address.channel.as_str(), address.to), ("messenger", json!({"page":"PAGE","psid":"U1"})));
}

#[test]
fn echoes_receipts_reactions_and_handover_events_give_no_event() {
    let events = json!([
        {"sender":{"id":"PAGE"},"recipient":{"id":"U1"},"timestamp":1,"message":{"mid":"m_e","text":"hi","is_echo":true,"app_id":1}},
        {"sender":{"id":"U1"},"recipient":{"id":"PAGE"},"timestamp":2,"message":{"mid":"m_f","text":"flagged","is_echo":true}},
        {"sender":{"id":"U1"},"recipient":{"id":"PAGE"},"delivery":{"mids":["m_1"],"watermark":1}},
        {"sender":{"id":"U1"},"recipient":{"id":"PAGE"},"timestamp":3,"read":{"watermark":2}},
        {"sender":{"id":"U1"},"recipient":{"id":"PAGE"},"timestamp":4,"reaction":{"mid":"m_1","action":"react","emoji":"👍"}},
        {"sender":{"id":"U1"},"recipient":{"id":"PAGE"},"timestamp":5,"optin":{"ref":"x"}},
        {"recipient":{"id":"PAGE"},"timestamp":6,"message":{"mid":"m_anonymous","text":"who?"}},
    ]);
    let standby = json!({"id":"PAGE","time":1,"standby":[text_event("U1","m_s","hidden",7)]});
    let read = read_body(&body(json!([{"id":"PAGE","time":1,"messaging":events}, standby])));
    assert!(read.is_empty(), "{read:?}");
}

#[test]
fn a_quick_reply_with_our_tap_payload_is_a_pick_and_a_foreign_one_is_its_text() {
    let tap = Tap { number: 2, label: "No".into() };
    let ours = json!({"sender":{"id":"U1"},"timestamp":1,"message":{"mid":"m_1","text":"No","quick_reply":{"payload":tap.payload()}}});
    assert_eq!(one(ours)[0].input, UserInput::Pick(tap));
    let foreign = json!({"sender":{"id":"U1"},"timestamp":1,"message":{"mid":"m_2","text":"Red","quick_reply":{"payload":"OPT_RED"}}});
    assert_eq!(one(foreign)[0].input, UserInput::Text("Red".into()));
}

#[test]
fn a_postback_with_our_tap_is_a_pick_and_a_foreign_payload_is_its_title_typed() {
    let tap = Tap { number: 1, label: "Shipping".into() };
    let ours = json!({"sender":{"id":"U1"},"timestamp":1,"postback":{"mid":"m_p","title":"Shipping","payload":tap.payload()}});
    let read = one(ours);
    assert_eq!((read[0].id.as_str(), &read[0].input), ("m_p", &UserInput::Pick(tap)));
    let started =
        json!({"sender":{"id":"U1"},"timestamp":1,"postback":{"title":"Get Started","payload":"GET_STARTED","referral":{"ref":"ad"}}});
    assert_eq!(one(started)[0].input, UserInput::Text("Get Started".into()));
}

#[test]
fn a_postback_without_mid_gets_a_stable_id_from_user_and_timestamp() {
    let postback =
        json!({"sender":{"id":"U1"},"recipient":{"id":"PAGE"},"timestamp":1458692752478_i64,"postback":{"title":"Menu","payload":"MENU"}});
    let first = one(postback.clone());
    assert_eq!(first[0].id, "postback:U1:1458692752478");
    assert_eq!(one(postback)[0].to_event().id, first[0].to_event().id, "a redelivery has the same id");
    let later = json!({"sender":{"id":"U1"},"timestamp":1458692752479_i64,"postback":{"title":"Menu","payload":"MENU"}});
    assert_ne!(one(later)[0].id, first[0].id);
}

#[test]
fn attachments_are_media_with_the_message_text_as_caption_and_their_files() {
    let file = |url: &str| UserFile { url: url.into(), media_type: None, name: None };
    let image = json!({"sender":{"id":"U1"},"timestamp":1,"message":{"mid":"m_1","attachments":[{"type":"image","payload":{"url":"https://cdn/x.png"}}]}});
    assert_eq!(one(image)[0].input, UserInput::Media { caption: String::new(), files: vec![file("https://cdn/x.png")] });
    let sticker = json!({"sender":{"id":"U1"},"timestamp":1,"message":{"mid":"m_2","sticker_id":369239263222822_i64,"attachments":[{"type":"image","payload":{"url":"https://cdn/s.png","sticker_id":369239263222822_i64}}]}});
    assert_eq!(one(sticker)[0].input, UserInput::Media { caption: String::new(), files: vec![file("https://cdn/s.png")] });
    let captioned = json!({"sender":{"id":"U1"},"timestamp":1,"message":{"mid":"m_3","text":"look","attachments":[
        {"type":"file","payload":{"url":"https://cdn/a.pdf"}},{"type":"audio","payload":{"url":"https://cdn/v.mp4"}},{"type":"fallback","payload":{"url":"https://x"}}
    ]}});
    let files = vec![file("https://cdn/a.pdf"), file("https://cdn/v.mp4")];
    assert_eq!(one(captioned)[0].input, UserInput::Media { caption: "look".into(), files });
}

/// Meta's messages webhook reference: from 1 June 2026 a sticker comes as a `sticker`
/// attachment (its picture at `payload.url`, with `sticker_id`) beside the old `image`
/// attachment of the same sticker; from 30 August 2026 only the `sticker` one.
#[test]
fn a_sticker_attachment_is_media_with_its_picture_and_its_legacy_image_copy_is_not_a_second_file() {
    let file = |url: &str| UserFile { url: url.into(), media_type: None, name: None };
    let sticker = json!({"type":"sticker","payload":{"url":"https://cdn/s.png","sticker_id":369239263222822_i64}});
    let only = json!({"sender":{"id":"U1"},"timestamp":1,"message":{"mid":"m_1","attachments":[sticker]}});
    assert_eq!(one(only)[0].input, UserInput::Media { caption: String::new(), files: vec![file("https://cdn/s.png")] });
    let legacy = json!({"type":"image","payload":{"url":"https://cdn/s-legacy.png","sticker_id":369239263222822_i64}});
    // The old format named the sticker on the message and in the image's payload; either says it.
    let on_message = json!({"mid":"m_2","sticker_id":369239263222822_i64,"attachments":[{"type":"image","payload":{"url":"https://cdn/s-legacy.png"}}, sticker.clone()]});
    let in_payload = json!({"mid":"m_2","attachments":[sticker.clone(), legacy]});
    for message in [on_message, in_payload] {
        let both = json!({"sender":{"id":"U1"},"timestamp":1,"message":message});
        assert_eq!(
            one(both)[0].input,
            UserInput::Media { caption: String::new(), files: vec![file("https://cdn/s.png")] },
            "one sticker, one file"
        );
    }
    let photo = json!({"type":"image","payload":{"url":"https://cdn/photo.jpg"}});
    let with_photo = json!({"sender":{"id":"U1"},"timestamp":1,"message":{"mid":"m_3","attachments":[photo, sticker.clone()]}});
    assert_eq!(
        one(with_photo)[0].input,
        UserInput::Media { caption: String::new(), files: vec![file("https://cdn/photo.jpg"), file("https://cdn/s.png")] },
        "a picture that is no sticker stays"
    );
    let twice = json!({"sender":{"id":"U1"},"timestamp":1,"message":{"mid":"m_4","attachments":[sticker.clone(), sticker]}});
    assert_eq!(
        one(twice)[0].input,
        UserInput::Media { caption: String::new(), files: vec![file("https://cdn/s.png")] },
        "one URL, one file"
    );
    let bare =
        json!({"sender":{"id":"U1"},"timestamp":1,"message":{"mid":"m_5","attachments":[{"type":"sticker","payload":{"sticker_id":1}}]}});
    assert_eq!(
        one(bare)[0].input,
        UserInput::Media { caption: String::new(), files: vec![] },
        "no picture: nothing to pass on, and no text either"
    );
}

#[test]
fn a_shared_location_with_title_and_url_is_text() {
    let location = json!({"sender":{"id":"U1"},"timestamp":1,"message":{"mid":"m_1","attachments":[
        {"type":"location","title":"Home","url":"https://maps.test/?q=1,2","payload":{"coordinates":{"lat":1.0,"long":2.0}}}
    ]}});
    assert_eq!(one(location)[0].input, UserInput::Text("Home: https://maps.test/?q=1,2".into()));
    let bare = json!({"sender":{"id":"U1"},"timestamp":1,"message":{"mid":"m_2","attachments":[{"type":"location","payload":{"coordinates":{"lat":1.0,"long":2.0}}}]}});
    assert_eq!(one(bare)[0].input, UserInput::Media { caption: String::new(), files: vec![] });
}

#[test]
fn numeric_ids_and_odd_fields_are_read_without_failing_the_batch() {
    let events = json!([
        {"sender":{"id":1234},"recipient":{"id":99},"timestamp":"7","message":{"mid":"m_1","text":"numeric"}},
        {"sender":"nobody","message":"not an object"},
        42,
    ]);
    let read = read_body(&body(json!([{"id":99,"messaging":events}, {"id":"PAGE","messaging":"oops"}])));
    assert_eq!(read.len(), 1);
    assert_eq!((read[0].page.as_str(), read[0].psid.as_str()), ("99", "1234"));
    assert!(read_body(&json!({"object":"page"})).is_empty());
}

#[test]
fn an_event_too_deep_for_serde_json_is_skipped_and_the_others_of_the_batch_are_read() {
    let mut deep = text_event("U2", "m_2", "deep", 2);
    deep["message"]["nlp"] = json!("DEEP");
    let batch = body(json!([
        {"id":"PAGE","time":1,"messaging":[text_event("U1","m_1","one",1), deep]},
        {"id":"PAGE","time":1,"messaging":[text_event("U3","m_3","three",3)]},
    ]));
    // serde_json takes 127 levels, counted from the event when it is parsed alone: with the
    // event and its message, 125 levels are read (the whole body, 4 levels more, would not
    // be); one more and that event alone is skipped.
    for (levels, read) in [(125, vec!["m_1", "m_2", "m_3"]), (126, vec!["m_1", "m_3"]), (200, vec!["m_1", "m_3"])] {
        let body = batch.to_string().replace("\"DEEP\"", &nested(levels));
        assert!(serde_json::from_str::<Value>(&body).is_err(), "the whole body is too deep for serde_json");
        assert_eq!(ids(&read_bytes(body.as_bytes())), read, "{levels} levels");
    }
}

#[test]
fn an_event_nested_100000_deep_is_skipped_without_overflowing_the_stack() {
    for deep in [nested(100_000), "{\"a\":".repeat(100_000) + "1" + &"}".repeat(100_000)] {
        let body = body(json!([{"id":"PAGE","time":1,"messaging":[text_event("U1","m_1","DEEP",1), text_event("U2","m_2","hi",2)]}]))
            .to_string()
            .replace("\"DEEP\"", &deep);
        assert_eq!(ids(&read_bytes(body.as_bytes())), ["m_2"]);
    }
    // An entry's own field that deep counts as absent; `object` that deep, or a whole body
    // without end, is refused; no overflow either way.
    let deep_id =
        body(json!([{"id":"DEEP","time":1,"messaging":[text_event("U1","m_1","hi",1)]}])).to_string().replace("\"DEEP\"", &nested(100_000));
    let read = read_bytes(deep_id.as_bytes());
    assert_eq!((read[0].id.as_str(), read[0].page.as_str()), ("m_1", "PAGE"), "the page from the recipient");
    let deep_object = format!(r#"{{"object":{},"entry":[]}}"#, nested(100_000));
    assert_eq!(Body::read(deep_object.as_bytes()).unwrap_err(), BodyError::Object);
    assert!(!Body::read(nested(100_000).as_bytes()).unwrap().is_page());
    assert_eq!(Body::read("[".repeat(100_000).as_bytes()).unwrap_err(), BodyError::NotJson);
}

#[test]
fn an_event_with_a_lone_surrogate_or_a_number_out_of_range_is_skipped_alone() {
    let batch = body(json!([{"id":"PAGE","time":1,"messaging":[
        text_event("U1","m_1","LEADING",1),
        text_event("U2","m_2","TRAILING",2),
        {"sender":{"id":"U3"},"timestamp":"HUGE","message":{"mid":"m_3","text":"fine"}},
        text_event("U4","m_4","pair 😀",4),
    ]}]))
    .to_string()
    .replace("LEADING", r"a \ud800 b")
    .replace("TRAILING", r"\udc00")
    .replace("\"HUGE\"", "1e400")
    .replace("😀", r"\ud83d\ude00");
    let read = read_bytes(batch.as_bytes());
    assert_eq!(ids(&read), ["m_4"]);
    assert_eq!(read[0].input, UserInput::Text("pair 😀".into()), "a surrogate pair is a character");
}

#[test]
fn a_body_that_is_not_json_is_refused_and_json_that_is_no_page_event_has_no_events() {
    let good = body(json!([{"id":"PAGE","time":1,"messaging":[text_event("U1","m_1","hello",1)]}])).to_string();
    assert!(Body::read(good.as_bytes()).unwrap().is_page());
    let mut not_utf8 = good.clone().into_bytes();
    not_utf8[good.find("hello").unwrap()] = 0xff;
    for refused in [
        b"{not json".to_vec(),
        Vec::new(),
        good.replace("\"hello\"", "hello").into_bytes(),
        good.replace("\"hello\"", r#""\q""#).into_bytes(),
        format!("{good} {good}").into_bytes(),
        not_utf8,
    ] {
        assert_eq!(Body::read(&refused).unwrap_err(), BodyError::NotJson, "{}", String::from_utf8_lossy(&refused));
    }
    let lone = good.replace(r#""object":"page""#, r#""object":"\ud800""#);
    assert_eq!(Body::read(lone.as_bytes()).unwrap_err(), BodyError::Object);
    for other in ["[1]", "\"page\"", "null", r#"{"object":"instagram","entry":[]}"#, r#"{"entry":[]}"#] {
        assert!(!Body::read(other.as_bytes()).unwrap().is_page(), "{other}");
    }
    // Members the connector does not read are only checked as JSON text.
    let extra = good.replacen('{', &format!(r#"{{"extra":{{"x":"\ud800","y":{}}},"#, nested(300)), 1);
    assert_eq!(ids(&read_bytes(extra.as_bytes())), ["m_1"]);
    let standby = body(json!([{"id":"PAGE","time":1,"standby":"DEEP","messaging":[text_event("U1","m_1","hi",1)]}]))
        .to_string()
        .replace("\"DEEP\"", &nested(300));
    assert_eq!(ids(&read_bytes(standby.as_bytes())), ["m_1"]);
}
