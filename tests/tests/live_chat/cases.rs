// The live-chat cases, run on the in-memory store (`live_chat.rs`) and on DynamoDB
// (`live_chat_dynamodb.rs`): `ON_DYNAMODB` is set by the file that includes this one.

use connector_tests::connector::{COMPANY_NUMBER, Connector, Exchange, HYPERCHAT_WEBHOOK_URL, SMS_USER, WHATSAPP_USER};
use connector_tests::hyperchat::{FakeHyperChat, WEBHOOK_SECRET, event_body, hook_signature};
use connector_tests::inbenta::unrated;
use serde_json::json;

/// HyperChat enabled, one agent available, escalation offered after one no-result, the
/// webhook subscribed; `extra` is appended to `chat.toml`'s `[chat]` table.
async fn start_with(extra: &str, env: &[(&str, &str)]) -> (Connector, FakeHyperChat) {
    let hyperchat = FakeHyperChat::start().await;
    hyperchat.set_agents_available(1);
    let chat = format!("[chat]\nenabled = true\ntriesBeforeEscalation = 1\n{extra}\n");
    let url = hyperchat.base_url();
    let table = if ON_DYNAMODB { Some(connector_tests::connector::fresh_table().await) } else { None };
    let mut vars =
        vec![("HYPERCHAT_API_URL", url.as_str()), ("HYPERCHAT_APP_ID", FakeHyperChat::APP_ID), ("HYPERCHAT_SECRET", FakeHyperChat::SECRET)];
    vars.extend(table.as_deref().map(|t| ("TABLE_NAME", t)));
    vars.extend_from_slice(env);
    let c = Connector::start_with(&vars, &[("chat.toml", &chat)]).await;
    let handshake = c.hyperchat_handshake(WEBHOOK_SECRET).await;
    assert_eq!(handshake.status(), 200);
    assert_eq!(handshake.headers().get("x-hook-secret").and_then(|v| v.to_str().ok()), Some(WEBHOOK_SECRET));
    (c, hyperchat)
}

async fn start() -> (Connector, FakeHyperChat) {
    start_with("", &[]).await
}

/// The user fails once, accepts the offer: the chat opens. Its id.
async fn escalate(c: &Connector, hc: &FakeHyperChat) -> String {
    c.sms("zzz").await;
    assert_eq!(c.sms("1").await.replies[0].body, "I will try to connect you with an agent. Please wait.");
    hc.chats().last().and_then(|chat| chat["id"].as_str()).expect("a chat was opened").to_owned()
}

fn user_messages(hc: &FakeHyperChat, chat_id: &str) -> Vec<String> {
    hc.messages(chat_id).iter().map(|m| m["message"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_goes_both_ways_until_the_agent_closes_it_and_then_the_bot_answers_again() {
    let (c, hc) = start().await;
    let agent = hc.add_agent("Ana");
    c.inbenta.on_message("thanks bot", unrated("You're welcome."));
    let chat = escalate(&c, &hc).await;

    let joined = c.hyperchat_event("invitations:accept", json!({"chatId": chat, "userId": agent})).await;
    assert_eq!((joined.status, joined.text()), (200, "Agent Ana has joined the conversation.".to_owned()));

    let relayed = c.sms("my card is blocked").await;
    assert!(relayed.replies.is_empty(), "no acknowledgement to the user");
    assert_eq!(user_messages(&hc, &chat), vec!["my card is blocked"]);

    let message = json!({"message": {"id": "M-agent-1", "chat": chat, "sender": agent, "type": "text", "message": "<p>I have <b>unblocked</b> it.</p>"}});
    let answer = c.hyperchat_event("messages:new", message).await;
    assert_eq!(answer.replies.len(), 1);
    assert_eq!((answer.replies[0].body.as_str(), answer.replies[0].to.as_str()), ("I have unblocked it.", SMS_USER));
    assert_eq!(answer.replies[0].from, COMPANY_NUMBER);

    let closed = c.hyperchat_event("chats:close", json!({"chatId": chat, "userId": agent})).await;
    assert_eq!(closed.text(), "Chat closed");
    let inputs_before = c.inbenta.bot_inputs().len();
    assert_eq!(c.sms("thanks bot").await.text(), "You're welcome.");
    assert_eq!(c.inbenta.bot_inputs().len(), inputs_before + 1, "the bot answers again");
    assert_eq!(user_messages(&hc, &chat).len(), 1, "nothing more went to the agent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_own_messages_coming_back_from_hyperchat_are_not_repeated_to_them() {
    let (c, hc) = start().await;
    let chat = escalate(&c, &hc).await;
    c.sms("hello agent").await;
    let own = hc.messages(&chat)[0].clone();
    let echoed = c.hyperchat_event("messages:new", json!({ "message": own })).await;
    assert!(echoed.replies.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_opens_with_the_bot_conversation_so_far() {
    let (c, hc) = start().await;
    c.inbenta.set_history(json!([
        {"user": "guest", "message": "zzz", "datetime": "2026-12-01 10:00:00"},
        {"user": "bot", "message": "Sorry, no results.", "datetime": "2026-12-01 10:00:01"},
        {"user": "guest", "message": " ", "datetime": "2026-12-01 10:00:02"},
    ]));
    escalate(&c, &hc).await;
    let history = hc.chats()[0]["history"].clone();
    let creator = hc.chats()[0]["creator"].clone();
    assert_eq!(
        history,
        json!([
            {"sender": creator, "message": "zzz", "created": 1_796_119_200},
            {"sender": "assistant", "message": "Sorry, no results.", "created": 1_796_119_201},
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_close_keyword_closes_the_chat_in_hyperchat_and_hands_the_user_back_to_the_bot() {
    let (c, hc) = start().await;
    let chat = escalate(&c, &hc).await;
    assert_eq!(c.sms("/close").await.text(), "Chat closed");
    assert_eq!(hc.chats()[0]["status"], "closed");
    assert!(user_messages(&hc, &chat).is_empty(), "the keyword is not relayed");
    let late = c
        .hyperchat_event("messages:new", json!({"message": {"id": "M9", "chat": chat, "sender": "U9", "type": "text", "message": "late"}}))
        .await;
    assert!(late.replies.is_empty(), "a closed chat stays closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_no_agent_can_take_is_closed_and_the_user_told() {
    let (c, hc) = start().await;
    let chat = escalate(&c, &hc).await;
    let alone = c.hyperchat_event("forever:alone", json!({"chatId": chat})).await;
    assert_eq!(alone.text(), "Chat closed");
    assert_eq!(hc.chats()[0]["status"], "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_updates_tell_the_user_their_place_when_the_room_queues() {
    let (c, hc) = start_with("[chat.queue]\nactive = true", &[]).await;
    hc.set_queue_mode(true);
    let chat = escalate(&c, &hc).await;
    let first = c.hyperchat_event("queues:update", json!({"chatId": chat, "userId": "U1", "data": {"queuePosition": 1}})).await;
    assert_eq!(first.text(), "There is one person ahead of you.");
    let third = c.hyperchat_event("queues:update", json!({"chatId": chat, "userId": "U1", "data": {"queuePosition": 3}})).await;
    assert_eq!(third.text(), "There are 3 people ahead of you.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_survey_link_follows_the_ticket_of_a_closed_chat() {
    let (c, hc) = start_with("surveyId = \"7\"", &[]).await;
    let agent = hc.add_agent("Ana");
    let chat = escalate(&c, &hc).await;
    c.hyperchat_event("chats:close", json!({"chatId": chat, "userId": agent})).await;
    let info = c.hyperchat_event("system:info", json!({"chatId": chat, "data": {"ticketId": 123}})).await;
    assert_eq!(info.text(), "https://surveys.example/7?ticket=123");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_event_reaches_the_user_once() {
    let (c, hc) = start().await;
    let agent = hc.add_agent("Ana");
    let chat = escalate(&c, &hc).await;
    let message = json!({"message": {"id": "M-agent-7", "chat": chat, "sender": agent, "type": "text", "message": "Once."}});
    assert_eq!(c.hyperchat_event("messages:new", message.clone()).await.replies.len(), 1);
    let again = c.hyperchat_event("messages:new", message).await;
    assert_eq!((again.status, again.replies.len()), (200, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_of_an_unknown_chat_is_answered_200_and_sends_nothing() {
    let (c, _hc) = start().await;
    let unknown = c
        .hyperchat_event("messages:new", json!({"message": {"id": "M1", "chat": "C404", "sender": "U1", "type": "text", "message": "?"}}))
        .await;
    assert_eq!((unknown.status, unknown.replies.len()), (200, 0));
}

fn assert_nothing_reached_anyone(c: &Connector, hc: &FakeHyperChat) {
    assert!(c.twilio.requests().is_empty(), "Twilio was called");
    assert!(hc.requests().is_empty(), "HyperChat was called");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_unsigned_and_garbled_events_are_refused_with_403_before_anything_happens() {
    let (c, hc) = start().await;
    let body = event_body("chats:close", json!({"chatId": "C1", "userId": "system"}));
    let forged = hook_signature("not-the-secret", &body);
    // (body, X-Hook-Signature)
    let cases: Vec<(Vec<u8>, Option<String>)> = vec![
        (body.clone().into_bytes(), Some(forged)),
        (body.clone().into_bytes(), None),
        (format!("{body} ").into_bytes(), Some(hook_signature(WEBHOOK_SECRET, &body))),
        (b"\xff\xfe garbage".to_vec(), Some("zz".to_owned())),
    ];
    for (body, signature) in cases {
        let headers: Vec<(&str, &str)> = signature.iter().map(|s| ("x-hook-signature", s.as_str())).collect();
        assert_eq!(c.hyperchat_raw(body, &headers).await.status, 403);
    }
    assert_nothing_reached_anyone(&c, &hc);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_body_that_is_no_event_is_a_bad_request() {
    let (c, hc) = start().await;
    let body = "{\"hello\":1}";
    let signature = hook_signature(WEBHOOK_SECRET, body);
    assert_eq!(c.hyperchat_raw(body.as_bytes().to_vec(), &[("x-hook-signature", &signature)]).await.status, 400);
    assert_nothing_reached_anyone(&c, &hc);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_handshake_with_another_secret_cannot_replace_the_first() {
    let (c, _hc) = start().await;
    assert_eq!(c.hyperchat_handshake("attacker-secret").await.status(), 403);
    assert_eq!(c.hyperchat_handshake(WEBHOOK_SECRET).await.status(), 200, "re-subscribing with the same secret works");
    let body = event_body("chats:close", json!({"chatId": "C1", "userId": "system"}));
    let attacker = hook_signature("attacker-secret", &body);
    assert_eq!(c.hyperchat_raw(body.into_bytes(), &[("x-hook-signature", &attacker)]).await.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preset_secret_is_the_only_one_a_handshake_may_offer() {
    let hyperchat = FakeHyperChat::start().await;
    let c =
        Connector::start_with(&[("HYPERCHAT_WEBHOOK_SECRET", "preset-secret"), ("HYPERCHAT_API_URL", &hyperchat.base_url())], &[]).await;
    assert_eq!(c.hyperchat_handshake("first-comer").await.status(), 403);
    assert_eq!(c.hyperchat_handshake("preset-secret").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_before_any_subscription_are_refused() {
    let c = Connector::start().await;
    let body = event_body("chats:close", json!({"chatId": "C1", "userId": "system"}));
    let signature = hook_signature(WEBHOOK_SECRET, &body);
    assert_eq!(c.hyperchat_raw(body.into_bytes(), &[("x-hook-signature", &signature)]).await.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_hyperchat_is_down_during_a_chat_the_user_is_told_their_message_did_not_reach_the_agent() {
    let (c, hc) = start().await;
    escalate(&c, &hc).await;
    hc.fail_with(503, 1);
    assert_eq!(c.sms("are you there?").await.text(), "Your message could not reach the agent. Please send it again.");
    assert!(c.inbenta.bot_inputs().iter().all(|input| *input != json!({"message": "are you there?"})), "not sent to the bot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_chat_mode_relays_every_message_to_the_agent_from_the_first() {
    let hc = FakeHyperChat::start().await;
    hc.set_agents_available(1);
    let c = Connector::start_with(
        &[("HYPERCHAT_API_URL", &hc.base_url()), ("HYPERCHAT_APP_ID", FakeHyperChat::APP_ID), ("HYPERCHAT_SECRET", FakeHyperChat::SECRET)],
        &[("chat.toml", "[chat]\nenabled = true"), ("custom.toml", "onlyHyperChatMode = true")],
    )
    .await;
    assert_eq!(c.sms("I want a person").await.text(), "I will try to connect you with an agent. Please wait.");
    c.sms("it is about my card").await;
    let chat = hc.chats()[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(user_messages(&hc, &chat), vec!["I want a person", "it is about my card"]);
    assert!(c.inbenta.bot_inputs().iter().all(|input| input.get("message").is_none()), "never the bot");
}

/// What the connector told the agent in the chat, from the user's side.
fn notices(hc: &FakeHyperChat, chat_id: &str) -> Vec<String> {
    user_messages(hc, chat_id).into_iter().filter(|m| m.starts_with("[connector]")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_message_twilio_refuses_is_reported_to_the_agent_in_the_chat() {
    let (c, hc) = start().await;
    let agent = hc.add_agent("Ana");
    let chat = escalate(&c, &hc).await;
    c.twilio.refuse_with_code(63016, 1);
    let message = json!({"message": {"id": "M-r1", "chat": chat, "sender": agent, "type": "text", "message": "Hello?"}});
    let refused = c.hyperchat_event("messages:new", message).await;
    assert_eq!((refused.status, refused.replies.len()), (200, 0));
    assert_eq!(notices(&hc, &chat), vec!["[connector] This message did not reach the user: the channel refused it (error 63016)."]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_message_to_a_whatsapp_user_silent_for_over_a_day_is_not_sent_and_the_agent_is_told() {
    let (c, hc) = start().await;
    let agent = hc.add_agent("Ana");
    c.whatsapp("zzz").await;
    c.whatsapp("1").await;
    let chat = hc.chats()[0]["id"].as_str().unwrap().to_owned();
    // Two days pass without the user writing.
    let key = format!("twilio-whatsapp{}-{}", &COMPANY_NUMBER[1..], connector_tests::connector::WHATSAPP_USER.replace(":+", ""));
    c.user_last_wrote(&key, std::time::Duration::from_secs(2 * 86_400)).await;

    let before = c.twilio.requests().len();
    let message = json!({"message": {"id": "M-w1", "chat": chat, "sender": agent, "type": "text", "message": "Still there?"}});
    assert_eq!(c.hyperchat_event("messages:new", message).await.status, 200);
    assert_eq!(c.twilio.requests().len(), before, "nothing Twilio would refuse was tried");
    assert_eq!(
        notices(&hc, &chat),
        vec!["[connector] This message did not reach the user: the user last wrote too long ago for the channel to deliver it."]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_replaced_in_the_table_reaches_a_warm_instance() {
    let (c, _hc) = start().await;
    // The operator deleted the stored secret and HyperChat subscribed another instance anew.
    let far = connector_engine::ports::Timestamp(4_000_000_000);
    c.store.cache_put("hyperchat#webhook-secret", "rotated-secret", far).await.unwrap();
    let body = event_body("chats:close", json!({"chatId": "C-none", "userId": "system"}));
    let signature = hook_signature("rotated-secret", &body);
    assert_eq!(c.hyperchat_raw(body.clone().into_bytes(), &[("x-hook-signature", &signature)]).await.status, 200);
    let old = hook_signature(WEBHOOK_SECRET, &body);
    assert_eq!(c.hyperchat_raw(body.into_bytes(), &[("x-hook-signature", &old)]).await.status, 403, "the old secret no longer works");
}

// ---------------------------------------------------------------- files both ways

/// A JPEG's first bytes and some more: what a phone's photo starts with.
const PHOTO: &[u8] = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 a photo of a card";
const RECEIPT: &[u8] = b"%PDF-1.7 a receipt";

/// The WhatsApp user fails once and accepts the offer: the chat opens. Its id.
async fn escalate_on_whatsapp(c: &Connector, hc: &FakeHyperChat) -> String {
    c.whatsapp("zzz").await;
    assert_eq!(c.whatsapp("1").await.replies[0].body, "I will try to connect you with an agent. Please wait.");
    hc.chats().last().and_then(|chat| chat["id"].as_str()).expect("a chat was opened").to_owned()
}

/// Agent Ana shares a file in `chat`, as HyperChat posts it: the replies sent meanwhile.
async fn ana_shares(c: &Connector, hc: &FakeHyperChat, chat: &str, name: &str, media_type: &str, bytes: &[u8]) -> Exchange {
    let agent = hc.add_agent("Ana");
    let message = hc.agent_file(chat, &agent, name, media_type, bytes);
    c.hyperchat_event("messages:new", json!({ "message": message })).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatsapp_users_photo_reaches_the_agent_fetched_with_the_accounts_credentials_that_never_reach_the_storage() {
    let (c, hc) = start().await;
    let chat = escalate_on_whatsapp(&c, &hc).await;
    let creator = hc.chats()[0]["creator"].as_str().unwrap().to_owned();
    let media = c.twilio.add_media("image/jpeg", PHOTO);
    // A media URL elsewhere than Twilio's API (as a forwarded or edited webhook could hold).
    let elsewhere = connector_tests::files::FakeFileHost::start().await;
    let other = elsewhere.put("back.jpg", "image/jpeg", b"\xff\xd8 the back");
    let sent = c.media_from(WHATSAPP_USER, "my card", &[(media.clone(), "image/jpeg"), (other, "image/jpeg")]).await;
    assert_eq!((sent.status, sent.replies.len()), (200, 0), "no acknowledgement: {:?}", sent.replies);
    assert_eq!(user_messages(&hc, &chat)[0], "my card", "the caption first");
    let files = hc.files(&chat);
    assert_eq!(files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>()[1..], ["back.jpg"]);
    assert_eq!(elsewhere.requests()[0].header("authorization"), None, "the account's credentials go to Twilio only");
    let media_sid = media.rsplit('/').next().unwrap();
    assert_eq!(
        (files[0].name.clone(), files[0].content_type.as_str(), files[0].bytes.as_slice(), files[0].sender.as_str()),
        (format!("{media_sid}.jpg"), "image/jpeg", PHOTO, creator.as_str())
    );
    let at_twilio = c.twilio.requests().into_iter().filter(|r| r.method == "GET").collect::<Vec<_>>();
    assert_eq!(at_twilio.len(), 1);
    assert!(at_twilio[0].header("authorization").is_some_and(|a| a.starts_with("Basic ")), "Twilio's media URL needs the account");
    let at_storage = c.twilio.cdn().requests();
    assert_eq!(at_storage.len(), 1, "the redirect was followed");
    assert_eq!(at_storage[0].header("authorization"), None, "the credentials stay with Twilio");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_file_reaches_a_whatsapp_user_through_a_short_lived_link_that_holds_no_hyperchat_credential() {
    let (c, hc) = start().await;
    let chat = escalate_on_whatsapp(&c, &hc).await;
    let shared = ana_shares(&c, &hc, &chat, "receipt 1.pdf", "application/pdf", RECEIPT).await;
    assert_eq!(shared.replies.len(), 1);
    let link = shared.replies[0].media_urls[0].clone();
    assert!(link.starts_with(&format!("{HYPERCHAT_WEBHOOK_URL}/files/")) && link.ends_with("/receipt%201.pdf"), "{link}");
    for secret in [FakeHyperChat::APP_ID, FakeHyperChat::SECRET, "/media/"] {
        assert!(!link.contains(secret), "{link} holds {secret}");
    }

    let fetched = c.hyperchat_get(&link).await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.body().as_ref(), RECEIPT);
    assert_eq!(fetched.headers()["content-type"], "application/pdf");
    assert!(fetched.headers()["content-disposition"].to_str().unwrap().contains("filename=\"receipt 1.pdf\""));
    let download = hc.requests().into_iter().find(|r| r.path == "/v1/media/F1").expect("the file was fetched from HyperChat");
    assert_eq!((download.header("x-hyper-secret"), download.query.as_deref()), (Some(FakeHyperChat::SECRET), None));
    let head = c.hyperchat_request("HEAD", &link).await;
    assert_eq!((head.status().as_u16(), head.body().len()), (200, 0));
    assert_eq!(head.headers()["content-type"], "application/pdf");
    assert_eq!(hc.requests().iter().filter(|r| r.path == "/v1/media/F1").count(), 1, "a HEAD fetches nothing");

    let message = &hc.messages(&chat)[0];
    let again = c.hyperchat_event("messages:new", json!({ "message": message })).await;
    assert_eq!((again.status, again.replies.len()), (200, 0), "a repeated event is not sent again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_file_kept_in_storage_is_fetched_without_hyperchats_credentials_going_there() {
    let (c, hc) = start().await;
    let storage = connector_tests::files::FakeFileHost::start().await;
    hc.keep_files_at(&storage);
    let chat = escalate_on_whatsapp(&c, &hc).await;
    let link = ana_shares(&c, &hc, &chat, "receipt.pdf", "application/pdf", RECEIPT).await.replies[0].media_urls[0].clone();
    assert_eq!(c.hyperchat_get(&link).await.body().as_ref(), RECEIPT);
    let at_storage = storage.requests();
    assert_eq!(at_storage.len(), 1, "the redirect was followed");
    assert_eq!((at_storage[0].header("x-hyper-appid"), at_storage[0].header("x-hyper-secret")), (None, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_file_reaches_an_sms_user_as_its_name_and_link() {
    let (c, hc) = start().await;
    let chat = escalate(&c, &hc).await;
    let body = ana_shares(&c, &hc, &chat, "receipt.pdf", "application/pdf", RECEIPT).await.text();
    let link = body.strip_prefix("receipt.pdf: ").unwrap_or_else(|| panic!("{body}"));
    assert_eq!(c.hyperchat_get(link).await.body().as_ref(), RECEIPT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_link_is_refused_with_403_without_asking_hyperchat_and_a_file_hyperchat_cannot_give_is_a_502() {
    let (c, hc) = start().await;
    let chat = escalate_on_whatsapp(&c, &hc).await;
    let link = ana_shares(&c, &hc, &chat, "a.png", "image/png", PHOTO).await.replies[0].media_urls[0].clone();
    let downloads = || hc.requests().iter().filter(|r| r.path.starts_with("/v1/media/")).count();
    let token_at = link.find("/files/").unwrap() + "/files/".len();
    let changed = format!("{}{}", &link[..token_at], &link[token_at + 1..]);
    assert_eq!(c.hyperchat_get(&changed).await.status(), 403);
    assert_eq!(c.hyperchat_get(&format!("{HYPERCHAT_WEBHOOK_URL}/files/")).await.status(), 404);
    assert_eq!(downloads(), 0, "nothing was asked of HyperChat");
    hc.fail_with(503, 1);
    assert_eq!(c.hyperchat_get(&link).await.status(), 502);
    assert_eq!(c.hyperchat_get(&link).await.status(), 200, "the link works once HyperChat is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_file_over_the_limit_is_not_passed_on_and_both_the_user_and_the_agent_are_told() {
    let (c, hc) = start_with("maxFileBytes = 1000", &[]).await;
    let chat = escalate_on_whatsapp(&c, &hc).await;
    let video = c.twilio.add_media("video/mp4", &[7; 2000]);
    let sent = c.media_from(WHATSAPP_USER, "", &[(video, "video/mp4")]).await;
    assert_eq!(sent.text(), "Your file is too large to send to the agent (at most 1 KB).");
    assert!(hc.files(&chat).is_empty());
    assert_eq!(notices(&hc, &chat), vec!["[connector] The user sent a file larger than 1 KB: it did not reach you."]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_hyperchat_is_down_as_a_user_sends_a_file_they_are_told_and_stay_in_the_chat() {
    let (c, hc) = start().await;
    let chat = escalate_on_whatsapp(&c, &hc).await;
    let media = c.twilio.add_media("image/jpeg", PHOTO);
    hc.fail_with(503, 1);
    let sent = c.media_from(WHATSAPP_USER, "", &[(media.clone(), "image/jpeg")]).await;
    assert_eq!(sent.text(), "Your file could not reach the agent. Please send it again.");
    let again = c.media_from(WHATSAPP_USER, "", &[(media, "image/jpeg")]).await;
    assert!(again.replies.is_empty());
    assert_eq!(hc.files(&chat).len(), 1, "sent again, it arrives");
}

// ---------------------------------------------------------------- replies to tickets

/// Inbenta Messenger's shared secret for its external ticket source.
const TICKET_SECRET: &str = "test-ticket-webhook-secret";

async fn start_with_tickets() -> (Connector, FakeHyperChat) {
    start_with("", &[("INBENTA_MESSENGER_WEBHOOK_SECRET", TICKET_SECRET)]).await
}

/// The external ticket source's body for one agent reply to `ticket` created by `email`.
fn ticket_reply_body(ticket: &str, email: &str, text: &str) -> Vec<u8> {
    json!({"events": [{"resource": ticket, "resource_data": {"creator": {"identifier": email}}, "action_data": {"text": text}}]})
        .to_string()
        .into_bytes()
}

/// Posts a ticket reply as Messenger does, with `secret` as `X-Hook-Signature` (none: no header).
async fn post_ticket_reply(c: &Connector, body: Vec<u8>, secret: Option<&str>) -> connector_tests::connector::Exchange {
    let mut headers = vec![("content-type", "application/json")];
    headers.extend(secret.map(|s| ("x-hook-signature", s)));
    c.hyperchat_raw(body, &headers).await
}

/// The user escalates, the agent closes the chat, and HyperChat makes ticket `ticket` of it.
async fn chat_closed_with_ticket(c: &Connector, hc: &FakeHyperChat, ticket: &str) {
    let agent = hc.add_agent("Ana");
    let chat = escalate(c, hc).await;
    c.hyperchat_event("chats:close", json!({"chatId": chat, "userId": agent})).await;
    let info = c.hyperchat_event("system:info", json!({"chatId": chat, "data": {"ticketId": ticket}})).await;
    assert_eq!(info.status, 200);
}

/// The agent's answer is a paragraph of its own, as Messenger's HTML makes it.
const TICKET_REPLY_SMS: &str = "Hi, I'm the agent that you spoke to a while ago. My response to your question:\n\n\
    Your card is unblocked.\n\n\
    Here is the ticket number for your reference: TCK-123\n\
    You can now continue chatting with the chatbot. If you want to talk to someone, type 'agent'. Thank you!";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_the_ticket_of_a_closed_chat_reaches_the_sms_user_once_with_the_ticket_number_even_when_delivered_twice() {
    let (c, hc) = start_with_tickets().await;
    chat_closed_with_ticket(&c, &hc, "TCK-123").await;
    let body = ticket_reply_body("TCK-123", "someone@example.com", "<p>Your card is unblocked.</p>");
    let reply = post_ticket_reply(&c, body.clone(), Some(TICKET_SECRET)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.replies.len(), 1, "one message: {:?}", reply.replies);
    assert_eq!((reply.replies[0].to.as_str(), reply.replies[0].from.as_str()), (SMS_USER, COMPANY_NUMBER));
    assert_eq!(reply.text(), TICKET_REPLY_SMS);
    let again = post_ticket_reply(&c, body, Some(TICKET_SECRET)).await;
    assert_eq!((again.status, again.replies.len()), (200, 0), "a redelivery is answered once");
    c.inbenta.on_message("thanks bot", unrated("You're welcome."));
    assert_eq!(c.sms("thanks bot").await.text(), "You're welcome.", "the bot goes on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_ticket_still_reaches_the_user_after_their_conversation_expired() {
    let (c, hc) = start_with_tickets().await;
    chat_closed_with_ticket(&c, &hc, "TCK-123").await;
    c.conversation_expired(&format!("twilio-{}-{}", &COMPANY_NUMBER[1..], &SMS_USER[1..])).await;
    let body = ticket_reply_body("TCK-123", "someone@example.com", "<p>Your card is unblocked.</p>");
    let reply = post_ticket_reply(&c, body, Some(TICKET_SECRET)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.replies.iter().map(|m| m.to.as_str()).collect::<Vec<_>>(), vec![SMS_USER]);
    assert_eq!(reply.text(), TICKET_REPLY_SMS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_ticket_the_connector_never_heard_of_is_found_by_the_email_the_user_gave_the_escalation_form() {
    let (c, hc) = start_with_tickets().await;
    let agent = hc.add_agent("Ana");
    let form = json!({"FIRST_NAME": "Ann", "LAST_NAME": "Lee", "EMAIL_ADDRESS": "Ann.Lee@Example.com"});
    c.inbenta.on_message("ann.lee@example.com", json!({"answers": [{"type": "answer", "message": "Thanks",
        "actions": [{"parameters": {"callback": "escalateToAgent", "data": form}}]}]}));
    c.sms("ann.lee@example.com").await;
    let chat = hc.chats().last().and_then(|chat| chat["id"].as_str()).expect("a chat was opened").to_owned();
    c.hyperchat_event("chats:close", json!({"chatId": chat, "userId": agent})).await;
    let body = ticket_reply_body("TCK-9", " ann.lee@EXAMPLE.com", "Done.");
    let reply = post_ticket_reply(&c, body, Some(TICKET_SECRET)).await;
    assert_eq!((reply.status, reply.replies.len()), (200, 1));
    assert!(reply.text().contains("Done.") && reply.text().contains("TCK-9"), "{}", reply.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_reply_with_a_forged_or_missing_secret_is_refused_with_403_and_sends_nothing() {
    let (c, hc) = start_with_tickets().await;
    chat_closed_with_ticket(&c, &hc, "TCK-123").await;
    let sent_before = c.twilio.requests().len();
    let body = ticket_reply_body("TCK-123", "someone@example.com", "Your card is unblocked.");
    let signed = hook_signature(TICKET_SECRET, std::str::from_utf8(&body).unwrap());
    for secret in [Some("not-the-secret"), Some(""), None, Some(signed.as_str())] {
        assert_eq!(post_ticket_reply(&c, body.clone(), secret).await.status, 403, "{secret:?}");
    }
    assert_eq!(c.twilio.requests().len(), sent_before, "nothing was sent");
    let authentic = post_ticket_reply(&c, body, Some(TICKET_SECRET)).await;
    assert_eq!(authentic.replies.len(), 1, "the refusals left no trace: the reply is still new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_ticket_secret_every_ticket_reply_is_refused() {
    let (c, hc) = start().await;
    chat_closed_with_ticket(&c, &hc, "TCK-123").await;
    let body = ticket_reply_body("TCK-123", "someone@example.com", "Your card is unblocked.");
    for secret in [Some(""), None, Some(TICKET_SECRET)] {
        assert_eq!(post_ticket_reply(&c, body.clone(), secret).await.status, 403, "{secret:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_an_unknown_ticket_is_answered_200_and_sends_nothing() {
    let (c, hc) = start_with_tickets().await;
    let reply = post_ticket_reply(&c, ticket_reply_body("TCK-404", "nobody@example.com", "Hello?"), Some(TICKET_SECRET)).await;
    assert_eq!((reply.status, reply.replies.len()), (200, 0));
    assert_nothing_reached_anyone(&c, &hc);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authentic_ticket_webhook_that_is_no_reply_is_a_bad_request() {
    let (c, hc) = start_with_tickets().await;
    let body = json!({"events": [{"action_data": {"text": "for no ticket"}}]}).to_string().into_bytes();
    assert_eq!(post_ticket_reply(&c, body, Some(TICKET_SECRET)).await.status, 400);
    assert_nothing_reached_anyone(&c, &hc);
}
