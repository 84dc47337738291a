use super::*;
use serde_json::json;

fn v2(events: Value) -> Value {
    json!({"app":{"id":"app1"},"webhook":{"id":"wh1","version":"v2"},"events":events})
}

fn v2_message(id: &str, user: &str, author: &str, content: Value) -> Value {
    json!({"id":format!("ev-{id}"),"type":"conversation:message","createdAt":"2026-12-01T00:00:00Z","payload":{
        "conversation":{"id":format!("conv-{user}"),"type":"personal"},
        "message":{"id":id,"author":{"type":author,"userId":user},"content":content}}})
}

/// The events of `body` as Smooch would post it.
fn events(body: &Value) -> Result<Vec<Event>, InboundError> {
    events_of(body.to_string().as_bytes())
}

fn events_of(body: &[u8]) -> Result<Vec<Event>, InboundError> {
    super::events(&Payload::read(body)?, &Switchboard::default())
}

/// The events of `body` for a deployment whose switchboard integration is `ours`.
fn events_for(ours: &str, body: &Value) -> Vec<Event> {
    super::events(&Payload::read(body.to_string().as_bytes()).unwrap(), &Switchboard::new(ours)).unwrap()
}

/// `event` (a v2 event) with `active` as its conversation's `activeSwitchboardIntegration`.
fn held(mut event: Value, active: Value) -> Value {
    event["payload"]["conversation"]["activeSwitchboardIntegration"] = active;
    event
}

/// A v2 `conversation:postback` as the spec has it: `postback.payload` and no text.
fn v2_postback(id: &str, user: &str, payload: &str) -> Value {
    json!({"id":id,"type":"conversation:postback","createdAt":"2026-12-01T00:00:00Z","payload":{
        "conversation":{"id":format!("conv-{user}"),"type":"personal"},"user":{"id":user},
        "postback":{"payload":payload},"source":{"type":"messenger","integrationId":"i1"}}})
}

fn ids(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.id.as_str()).collect()
}

/// `levels` arrays, one in the other.
fn nested(levels: usize) -> String {
    format!("{}{}", "[".repeat(levels), "]".repeat(levels))
}

fn inputs(events: &[Event]) -> Vec<Input> {
    events.iter().map(|e| e.input.clone()).collect()
}

#[test]
fn every_v2_message_of_a_batch_is_an_event_of_its_own_user_in_order() {
    let body = v2(json!([
        v2_message("m1", "u1", "user", json!({"type":"text","text":"hello"})),
        v2_message("m2", "u2", "user", json!({"type":"text","text":"hi"})),
    ]));
    let events = events(&body).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].id, MessageId::new("smooch", "m1"));
    assert_eq!(events[0].route, Route::Conversation(ConversationKey::new("smooch-app1-u1")));
    assert_eq!(events[1].route, Route::Conversation(ConversationKey::new("smooch-app1-u2")));
    let address: SmoochAddress = serde_json::from_value(events[1].address.clone().unwrap().to).unwrap();
    assert_eq!(address, SmoochAddress { app: "app1".into(), user: "u2".into(), conversation: Some("conv-u2".into()) });
    assert_eq!(inputs(&events), vec![Input::User(UserInput::Text("hello".into())), Input::User(UserInput::Text("hi".into()))]);
}

#[test]
fn business_messages_and_other_event_types_are_no_events() {
    let body = v2(json!([
        v2_message("m1", "u1", "business", json!({"type":"text","text":"our reply"})),
        {"id":"ev2","type":"conversation:read","payload":{}},
    ]));
    assert!(events(&body).unwrap().is_empty());
}

#[test]
fn a_reply_or_postback_with_our_tap_is_a_pick_and_a_foreign_v2_postback_is_no_event() {
    let tap = Tap { number: 2, label: "No".into() };
    let yes = Tap { number: 1, label: "Yes".into() };
    let body = v2(json!([
        v2_message("m1", "u1", "user", json!({"type":"text","text":"No","payload":tap.payload()})),
        v2_postback("ev2", "u1", &yes.payload()),
        v2_postback("ev3", "u1", "GET_STARTED"),
        v2_postback("ev4", "u1", ""),
    ]));
    let events = events(&body).unwrap();
    assert_eq!(inputs(&events), vec![Input::User(UserInput::Pick(tap)), Input::User(UserInput::Pick(yes))]);
    assert_eq!(ids(&events), ["smooch#m1", "smooch#ev2"], "Get Started and an empty payload reach nobody");
}

#[test]
fn a_foreign_v1_postback_is_the_text_the_user_saw_and_without_one_no_event() {
    let body = json!({"trigger":"postback","app":{"_id":"app1"},"appUser":{"_id":"au1"},"timestamp":1,"postbacks":[
        {"action":{"_id":"a1","type":"postback","text":"Opening hours","payload":"MENU_HOURS"}},
        {"action":{"_id":"a2","type":"postback","text":" ","payload":"GET_STARTED"}},
        {"action":{"_id":"a3","type":"postback","payload":"MENU_OTHER"}}
    ]});
    let events = events(&body).unwrap();
    assert_eq!(inputs(&events), [Input::User(UserInput::Text("Opening hours".into()))]);
    assert_eq!(ids(&events), ["smooch#postback:au1:a1::1:0"]);
}

#[test]
fn a_message_or_postback_of_a_conversation_another_integration_holds_is_no_event() {
    let agent = json!({"id":"sb-agent","name":"zd-agentWorkspace","integrationId":"int-agent","integrationType":"zd:agentWorkspace"});
    let ours = json!({"id":"sb-bot","name":"bot","integrationId":"int-bot","integrationType":"custom"});
    let tap = Tap { number: 1, label: "Yes".into() };
    let body = v2(json!([
        held(v2_message("m1", "u1", "user", json!({"type":"text","text":"to the agent"})), agent.clone()),
        held(v2_postback("ev2", "u1", &tap.payload()), agent),
        held(v2_message("m3", "u2", "user", json!({"type":"text","text":"to the bot"})), ours),
        held(v2_message("m4", "u3", "user", json!({"type":"text","text":"nobody holds it"})), Value::Null),
        v2_message("m5", "u4", "user", json!({"type":"text","text":"no switchboard"})),
    ]));
    assert_eq!(ids(&events_for("int-bot", &body)), ["smooch#m3", "smooch#m4", "smooch#m5"]);
}

#[test]
fn our_integration_is_known_by_its_integration_id_its_switchboard_id_or_its_name() {
    let ours = json!({"id":"sb-bot","name":"bot","integrationId":"int-bot","integrationType":"custom"});
    let body = v2(json!([held(v2_message("m1", "u1", "user", json!({"type":"text","text":"hi"})), ours)]));
    for configured in ["int-bot", "sb-bot", "bot", " bot "] {
        assert_eq!(ids(&events_for(configured, &body)), ["smooch#m1"], "{configured:?}");
    }
    for other in ["int-agent", "custom", "Bot"] {
        assert!(events_for(other, &body).is_empty(), "{other:?}");
    }
}

#[test]
fn without_our_integration_configured_only_a_human_agents_integration_silences_the_bot() {
    let bot = json!({"id":"sb-bot","name":"bot","integrationId":"int-bot","integrationType":"custom"});
    let agent = json!({"id":"sb-agent","name":"zd-agentWorkspace","integrationId":"int-agent","integrationType":"zd:agentWorkspace"});
    let body = v2(json!([
        held(v2_message("m1", "u1", "user", json!({"type":"text","text":"held by a bot"})), bot),
        held(v2_message("m2", "u2", "user", json!({"type":"text","text":"held by an agent"})), agent),
        v2_message("m3", "u3", "user", json!({"type":"text","text":"free"})),
    ]));
    assert_eq!(ids(&events_for("", &body)), ["smooch#m1", "smooch#m3"], "a deployment in the switchboard keeps answering");
    assert_eq!(ids(&events_for("", &body)), ids(&events(&body).unwrap()));
}

#[test]
fn an_image_is_media_with_its_caption_and_its_file() {
    let body = v2(json!([
        v2_message("m1", "u1", "user", json!({"type":"image","mediaUrl":"https://x.test/a.png","mediaType":"image/png","text":"mine"})),
        v2_message("m2", "u1", "user", json!({"type":"carousel","items":[]})),
    ]));
    let file = UserFile { url: "https://x.test/a.png".into(), media_type: Some("image/png".into()), name: None };
    assert_eq!(
        inputs(&events(&body).unwrap()),
        vec![
            Input::User(UserInput::Media { caption: "mine".into(), files: vec![file] }),
            Input::User(UserInput::Media { caption: String::new(), files: vec![] })
        ]
    );
}

#[test]
fn v1_messages_of_the_app_user_are_events_and_app_maker_echoes_are_not() {
    let body = json!({"trigger":"message:appUser","app":{"_id":"app1"},"appUser":{"_id":"au1"},"messages":[
        {"_id":"m1","type":"text","text":"hello","role":"appUser"},
        {"_id":"m2","type":"text","text":"echo","role":"appMaker"},
        {"_id":"m3","type":"text","text":"Yes","role":"appUser","payload":Tap { number: 1, label: "Yes".into() }.payload()}
    ]});
    let events = events(&body).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].route, Route::Conversation(ConversationKey::new("smooch-app1-au1")));
    assert_eq!(events[1].input, Input::User(UserInput::Pick(Tap { number: 1, label: "Yes".into() })));
}

#[test]
fn a_v1_postback_id_is_the_same_on_a_retry() {
    let body = json!({"trigger":"postback","app":{"_id":"app1"},"appUser":{"_id":"au1"},"timestamp":1480349392.103,
        "postbacks":[{"message":{"_id":"m1"},"action":{"_id":"a1","type":"postback","text":"Yes","payload":"YES"}}]});
    let first = events(&body).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, events(&body.clone()).unwrap()[0].id);
    assert_eq!(first[0].input, Input::User(UserInput::Text("Yes".into())));
}

#[test]
fn unknown_triggers_are_no_events_and_a_v1_message_without_user_is_refused() {
    assert!(events(&json!({"trigger":"delivery:success","app":{"_id":"a"}})).unwrap().is_empty());
    assert_eq!(
        events(&json!({"trigger":"message:appUser","app":{"_id":"a"},"messages":[]})).unwrap_err(),
        InboundError::Missing("appUser._id")
    );
}

#[test]
fn an_event_too_deep_for_serde_json_is_skipped_and_the_others_of_the_batch_are_read() {
    let mut deep = v2_message("m2", "u2", "user", json!({"type":"text","text":"deep"}));
    deep["payload"]["message"]["metadata"] = json!("DEEP");
    let batch = v2(json!([
        v2_message("m1", "u1", "user", json!({"type":"text","text":"one"})),
        deep,
        v2_message("m3", "u3", "user", json!({"type":"text","text":"three"}))
    ]));
    // serde_json takes 127 levels, counted from the event when it is parsed alone: with the
    // event, its payload and its message, 124 levels of metadata are read (the whole body,
    // 2 levels more, would not be); one more and that event alone is skipped.
    let (all, others) = (vec!["smooch#m1", "smooch#m2", "smooch#m3"], vec!["smooch#m1", "smooch#m3"]);
    for (levels, read) in [(124, all), (125, others.clone()), (200, others)] {
        let body = batch.to_string().replace("\"DEEP\"", &nested(levels));
        assert!(serde_json::from_str::<Value>(&body).is_err(), "the whole body is too deep for serde_json");
        assert_eq!(ids(&events_of(body.as_bytes()).unwrap()), read, "{levels} levels");
    }
}

#[test]
fn an_event_nested_100000_deep_is_skipped_without_overflowing_the_stack() {
    for deep in [nested(100_000), "{\"a\":".repeat(100_000) + "1" + &"}".repeat(100_000)] {
        let body = v2(json!([
            v2_message("m1", "u1", "user", json!({"type":"text","text":"DEEP"})),
            v2_message("m2", "u2", "user", json!({"type":"text","text":"hi"}))
        ]))
        .to_string()
        .replace("\"DEEP\"", &deep);
        let events = events_of(body.as_bytes()).unwrap();
        assert_eq!(ids(&events), ["smooch#m2"]);
    }
    // The envelope itself that deep, or the whole body: refused, no overflow either.
    let envelope = format!(r#"{{"app":{{"id":"app1","x":{}}},"events":[]}}"#, nested(100_000));
    assert_eq!(events_of(envelope.as_bytes()).unwrap_err(), InboundError::Envelope("app"));
    assert_eq!(events_of(nested(100_000).as_bytes()).unwrap_err(), InboundError::NotObject);
    assert_eq!(events_of("[".repeat(100_000).as_bytes()).unwrap_err(), InboundError::NotJson);
    let unclosed = format!(r#"{{"app":{{"id":"app1"}},"events":[{}"#, "[".repeat(100_000));
    assert_eq!(events_of(unclosed.as_bytes()).unwrap_err(), InboundError::NotJson);
}

#[test]
fn an_event_with_a_lone_surrogate_or_a_number_out_of_range_is_skipped_alone() {
    let batch = v2(json!([
        v2_message("m1", "u1", "user", json!({"type":"text","text":"LEADING"})),
        v2_message("m2", "u2", "user", json!({"type":"text","text":"TRAILING"})),
        v2_message("m3", "u3", "user", json!({"type":"text","text":"fine","n":"HUGE"})),
        v2_message("m4", "u4", "user", json!({"type":"text","text":"pair 😀"})),
    ]))
    .to_string()
    .replace("LEADING", r"a \ud800 b")
    .replace("TRAILING", r"\udc00")
    .replace("\"HUGE\"", "1e400")
    .replace("😀", r"\ud83d\ude00");
    let events = events_of(batch.as_bytes()).unwrap();
    assert_eq!(ids(&events), ["smooch#m4"]);
    assert_eq!(inputs(&events), [Input::User(UserInput::Text("pair 😀".into()))], "a surrogate pair is a character");
}

#[test]
fn v1_messages_and_postbacks_stand_alone_too_and_a_postback_keeps_its_position_in_its_id() {
    let messages = json!({"trigger":"message:appUser","app":{"_id":"app1"},"appUser":{"_id":"au1"},"messages":[
        {"_id":"m1","type":"text","text":"LONE","role":"appUser"},
        {"_id":"m2","type":"text","text":"fine","role":"appUser"}
    ]})
    .to_string()
    .replace("LONE", r"\ud800");
    assert_eq!(ids(&events_of(messages.as_bytes()).unwrap()), ["smooch#m2"]);
    let postbacks = json!({"trigger":"postback","app":{"_id":"app1"},"appUser":{"_id":"au1"},"timestamp":1,"postbacks":[
        {"message":{"_id":"m1"},"action":{"_id":"a1","text":"LONE","payload":"P"}},
        {"message":{"_id":"m1"},"action":{"_id":"a2","text":"Yes","payload":"YES"}}
    ]})
    .to_string()
    .replace("LONE", r"\ud800");
    assert_eq!(ids(&events_of(postbacks.as_bytes()).unwrap()), ["smooch#postback:au1:a2:m1:1:1"]);
}

#[test]
fn a_body_that_is_not_json_or_whose_envelope_is_broken_is_refused_as_a_whole() {
    let good = v2(json!([v2_message("m1", "u1", "user", json!({"type":"text","text":"hello"}))])).to_string();
    assert_eq!(ids(&events_of(good.as_bytes()).unwrap()), ["smooch#m1"]);
    let mut not_utf8 = good.clone().into_bytes();
    let at = good.find("hello").unwrap();
    not_utf8[at] = 0xff;
    let refused: [(Vec<u8>, InboundError); 9] = [
        (b"{not json".to_vec(), InboundError::NotJson),
        (Vec::new(), InboundError::NotJson),
        (good.replace("\"hello\"", "hello").into_bytes(), InboundError::NotJson),
        (good.replace("\"hello\"", r#""\q""#).into_bytes(), InboundError::NotJson),
        (format!("{good} {good}").into_bytes(), InboundError::NotJson),
        (not_utf8, InboundError::NotJson),
        (format!("[{good}]").into_bytes(), InboundError::NotObject),
        (good.replace(r#""app":{"id":"app1"}"#, r#""app":{"id":"\ud800"}"#).into_bytes(), InboundError::Envelope("app")),
        (v2(json!({"id":"ev1"})).to_string().into_bytes(), InboundError::Missing("events")),
    ];
    for (body, error) in refused {
        assert_eq!(events_of(&body).unwrap_err(), error, "{}", String::from_utf8_lossy(&body));
    }
    // Members the connector does not read are only checked as JSON text.
    let extra = good.replacen('{', &format!(r#"{{"extra":{{"x":"\ud800","y":{}}},"#, nested(300)), 1);
    assert_eq!(ids(&events_of(extra.as_bytes()).unwrap()), ["smooch#m1"]);
}
