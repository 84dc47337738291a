//! End to end through the Smooch webhook handler, against the Inbenta, Smooch and HyperChat
//! fakes (real HTTP servers on loopback): answers with buttons, taps, typed labels, ratings,
//! link buttons, batches, echoes, redeliveries, forged keys, v1.1 beside v2, app keys per
//! environment from ExtraInfo, and a live chat.

use connector_tests::connector::{Connector, HYPERCHAT_WEBHOOK_URL};
use connector_tests::files::FakeFileHost;
use connector_tests::hyperchat::{FakeHyperChat, WEBHOOK_SECRET as HYPERCHAT_SECRET};
use connector_tests::inbenta::{answer, no_results, unrated};
use connector_tests::smooch::{
    Auth, FakeSmooch, V1_1, V2, WEBHOOK_SECRET, agent_workspace, held_by, switchboard_integration, v1_message, v1_postback, v2_batch,
    v2_business_echo, v2_event, v2_message, v2_postback, v2_release_control, v2_reply, v2_user_content,
};
use serde_json::{Value, json};

const APP: &str = FakeSmooch::APP_ID;
const CONVERSATION: &str = "conv-ana";
const USER: &str = "user-ana";

async fn says(c: &Connector, id: &str, text: &str) -> connector_tests::connector::SmoochExchange {
    c.smooch_post(&v2_message(APP, CONVERSATION, USER, id, text)).await
}

fn multiple_choice() -> Value {
    json!({"answers":[{"type":"multipleChoiceQuestion","message":"Which card?","options":[
        {"label":"Débito","value":21,"attributes":{"SHORT":"Debit"}},
        {"label":"Crédito","value":22}
    ]}]})
}

#[tokio::test]
async fn a_text_answer_goes_to_the_users_v2_conversation_as_the_business_after_a_typing_indicator() {
    let c = Connector::start().await;
    c.inbenta.on_message("hello", unrated("<p>Hi! How can I <b>help</b>?</p>"));
    let ex = says(&c, "m1", "hello").await;
    assert_eq!(ex.status, 200);
    assert_eq!(ex.replies.len(), 1);
    let reply = &ex.replies[0];
    assert_eq!((reply.version, reply.app_id.as_str(), reply.target.as_str()), (V2, APP, CONVERSATION));
    assert_eq!(reply.text(), Some("Hi! How can I **help**?"), "markdown, which Smooch renders per channel");
    assert_eq!(reply.body["author"]["type"], "business");
    assert_eq!(reply.auth.key_id(), FakeSmooch::KEY_ID);
    assert!(!reply.auth.is_jwt(), "v2 uses Basic keyId:secret");
    let typing: Vec<_> = c.smooch.activities().iter().map(|a| (a.target.clone(), a.kind.clone())).collect();
    assert_eq!(typing, vec![(CONVERSATION.to_owned(), "typing:start".to_owned())]);
}

#[tokio::test]
async fn options_are_buttons_and_a_postback_tap_sends_that_options_value() {
    let c = Connector::start().await;
    c.inbenta.on_message("cards", multiple_choice());
    let offered = says(&c, "m1", "cards").await;
    assert_eq!(offered.buttons(), vec!["Débito", "Crédito"]);
    assert_eq!(offered.replies[0].actions()[0]["type"], "reply");
    let payload = offered.payload_of("Crédito");
    assert_eq!(c.smooch_post(&v2_postback(APP, CONVERSATION, USER, &payload)).await.status, 200);
    assert_eq!(c.inbenta.bot_inputs().last(), Some(&json!({"option": 22})));
}

#[tokio::test]
async fn a_tapped_reply_action_sends_that_options_value() {
    let c = Connector::start().await;
    c.inbenta.on_message("cards", multiple_choice());
    let payload = says(&c, "m1", "cards").await.payload_of("Débito");
    c.smooch_post(&v2_reply(APP, CONVERSATION, USER, "m2", "Débito", &payload)).await;
    assert_eq!(c.inbenta.bot_inputs().last(), Some(&json!({"option": 21})));
}

#[tokio::test]
async fn a_typed_label_or_number_still_picks_an_option() {
    let c = Connector::start().await;
    c.inbenta.on_message("cards", multiple_choice());
    says(&c, "m1", "cards").await;
    says(&c, "m2", "credito").await;
    assert_eq!(c.inbenta.bot_inputs().last(), Some(&json!({"option": 22})));
    says(&c, "m3", "cards").await;
    says(&c, "m4", "1").await;
    assert_eq!(c.inbenta.bot_inputs().last(), Some(&json!({"option": 21})));
}

#[tokio::test]
async fn a_polar_question_offers_its_translated_labels_as_buttons() {
    let c = Connector::start().await;
    c.inbenta.on_message(
        "more",
        json!({"answers":[{"type":"polarQuestion","message":"Anything else?","options":[
            {"label":"yes","value":"yes"},{"label":"no","value":"no"}]}]}),
    );
    let ex = says(&c, "m1", "more").await;
    assert_eq!(ex.text(), "Anything else?");
    assert_eq!(ex.buttons(), vec!["Yes", "No"]);
    let payload = ex.payload_of("No");
    c.smooch_post(&v2_postback(APP, CONVERSATION, USER, &payload)).await;
    assert_eq!(c.inbenta.bot_inputs().last(), Some(&json!({"option": "no"})));
}

#[tokio::test]
async fn a_negative_rating_tapped_asks_why_and_the_reason_is_tracked_with_it() {
    let c = Connector::start().await;
    c.inbenta.on_message("hours", answer("We open at 9."));
    let rated = says(&c, "m1", "hours").await;
    assert_eq!(rated.buttons(), vec!["Yes", "No"], "the rating question follows the answer");
    let no = rated.payload_of("No");
    let asked = c.smooch_post(&v2_reply(APP, CONVERSATION, USER, "m2", "No", &no)).await;
    assert_eq!(asked.text(), "Please tell us why");
    let thanked = says(&c, "m3", "too late for me").await;
    assert_eq!(thanked.text(), "Thanks!");
    let rate = c.inbenta.tracking_events().into_iter().find(|e| e["type"] == "rate").expect("a rate event");
    assert_eq!(rate["data"]["comment"], "too late for me");
}

#[tokio::test]
async fn url_buttons_and_button_titles_from_the_digester_settings_are_shown() {
    let digester = "[digester]\nbutton_title = \"SHORT\"\n[digester.url_buttons]\nattribute_name = \"LINKS\"\nbutton_title_var = \"title\"\nbutton_url_var = \"url\"\n";
    let c = Connector::start_with(&[], &[("conversation.toml", digester)]).await;
    c.inbenta.on_message(
        "shop",
        json!({"answers":[{"type":"answer","message":"Our shop","attributes":{"LINKS":{"title":"Open shop","url":"https://shop.test/"}},
            "flags":["no-rating"]}]}),
    );
    c.inbenta.on_message("cards", multiple_choice());
    let shop = says(&c, "m1", "shop").await;
    assert_eq!(shop.replies[0].actions(), &[json!({"type":"link","text":"Open shop","uri":"https://shop.test/"})]);
    assert_eq!(says(&c, "m2", "cards").await.buttons(), vec!["Debit", "Crédito"]);
}

#[tokio::test]
async fn a_batch_of_two_users_messages_answers_each_in_their_own_conversation() {
    let c = Connector::start().await;
    c.inbenta.on_message("hello", unrated("Hi!"));
    c.inbenta.on_message("bye", unrated("Bye!"));
    let body = v2_batch([v2_message(APP, "conv-1", "user-1", "m1", "hello"), v2_message(APP, "conv-2", "user-2", "m2", "bye")]);
    let ex = c.smooch_post(&body).await;
    assert_eq!(ex.status, 200);
    let mut sent: Vec<_> = ex.replies.iter().map(|m| (m.target.as_str(), m.text().unwrap_or_default())).collect();
    // Two conversations are processed side by side: no order between them.
    sent.sort();
    assert_eq!(sent, vec![("conv-1", "Hi!"), ("conv-2", "Bye!")]);
}

/// Found from outside: eight messages of one user at once with a bot taking 1.5 s each, and
/// the last got `api_timeout` ("Please, reformulate your question") though the bot answered.
/// The queue hands them over one at a time: eight real answers.
#[tokio::test]
async fn eight_messages_of_one_user_at_once_with_a_slow_bot_get_eight_real_answers() {
    let c = Connector::start().await;
    c.inbenta.on_message("warm up", unrated("Warm."));
    says(&c, "m-warm", "warm up").await;
    for i in 0..8 {
        c.inbenta.on_message(&format!("question {i}"), unrated(&format!("Answer {i}.")));
    }
    c.inbenta.set_delay(std::time::Duration::from_millis(1500));
    let c = std::sync::Arc::new(c);
    let posts: Vec<_> = (0..8)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                let mut request = connector_tests::connector::request(
                    v2_message(APP, CONVERSATION, USER, &format!("m-{i}"), &format!("question {i}")).to_string().into_bytes(),
                    &[("content-type", "application/json"), ("x-api-key", WEBHOOK_SECRET)],
                );
                *request.uri_mut() = http::Uri::from_static("/smooch");
                c.smooch_webhook.handle(request, None).await.status()
            })
        })
        .collect();
    for post in posts {
        assert_eq!(post.await.unwrap(), 200, "acknowledged before any is answered");
    }
    c.queue.settle().await;
    let answers: Vec<String> = c.smooch.messages().iter().skip(1).filter_map(|m| m.text().map(str::to_owned)).collect();
    // Posted at once, so in no order of theirs: each answered, none with an apology.
    let mut answers = answers;
    answers.sort();
    let expected: Vec<String> = (0..8).map(|i| format!("Answer {i}.")).collect();
    assert_eq!(answers, expected);
}

#[tokio::test]
async fn the_business_own_messages_and_other_events_are_ignored() {
    let c = Connector::start().await;
    let echo = c.smooch_post(&v2_business_echo(APP, CONVERSATION, "m1", "Hi!")).await;
    let read = c.smooch_post(&v2_event(APP, "conversation:read", json!({"conversation":{"id":CONVERSATION}}))).await;
    assert_eq!((echo.status, read.status), (200, 200));
    assert!(c.inbenta.bot_inputs().is_empty());
    assert!(c.smooch.messages().is_empty() && c.smooch.activities().is_empty());
}

#[tokio::test]
async fn a_repeated_delivery_is_answered_once() {
    let c = Connector::start().await;
    c.inbenta.on_message("hello", unrated("Hi!"));
    let body = v2_message(APP, CONVERSATION, USER, "m1", "hello");
    assert_eq!(c.smooch_post(&body).await.replies.len(), 1);
    let again = c.smooch_post(&body).await;
    assert_eq!((again.status, again.replies.len()), (200, 0));
    assert_eq!(c.inbenta.bot_inputs().len(), 1);
}

#[tokio::test]
async fn wrong_or_missing_keys_are_refused_before_anything_happens_and_garbage_is_a_bad_request() {
    let c = Connector::start().await;
    let body = v2_message(APP, CONVERSATION, USER, "m1", "hello").to_string().into_bytes();
    let json = ("content-type", "application/json");
    assert_eq!(c.smooch_raw(body.clone(), &[json, ("x-api-key", "guess")]).await.status, 403);
    assert_eq!(c.smooch_raw(body.clone(), &[json]).await.status, 403);
    assert_eq!(c.smooch_raw(body, &[json, ("x-api-key", &format!("{WEBHOOK_SECRET}x"))]).await.status, 403);
    assert_eq!(c.store_calls.calls(), 0, "the store was touched");
    assert!(c.inbenta.requests().is_empty() && c.smooch.requests().is_empty(), "no upstream call");
    assert_eq!(c.smooch_raw(b"{not json".to_vec(), &[json, ("x-api-key", WEBHOOK_SECRET)]).await.status, 400);
}

#[tokio::test]
async fn with_api_version_v1_1_replies_go_to_the_app_user_with_an_app_scoped_jwt() {
    let c = Connector::start_with(&[("SMOOCH_API_VERSION", "v1.1")], &[]).await;
    c.inbenta.on_message("hello", unrated("Hi!"));
    c.inbenta.on_message("cards", multiple_choice());
    let ex = c.smooch_post(&v1_message(APP, "au-1", "m1", "hello")).await;
    let reply = &ex.replies[0];
    assert_eq!((reply.version, reply.target.as_str(), reply.text()), (V1_1, "au-1", Some("Hi!")));
    assert_eq!(reply.body["role"], "appMaker");
    let connector_tests::smooch::Auth::Jwt { header, claims } = &reply.auth else { panic!("v1.1 uses a JWT") };
    assert_eq!((header["kid"].as_str(), claims["scope"].as_str()), (Some(FakeSmooch::KEY_ID), Some("app")));
    let payload = c.smooch_post(&v1_message(APP, "au-1", "m2", "cards")).await.payload_of("Crédito");
    c.smooch_post(&v1_postback(APP, "au-1", &payload)).await;
    assert_eq!(c.inbenta.bot_inputs().last(), Some(&json!({"option": 22})));
}

#[tokio::test]
async fn a_v1_1_webhook_and_a_v2_webhook_are_both_understood_by_one_deployment() {
    let c = Connector::start().await;
    c.inbenta.on_message("hello", unrated("Hi!"));
    let v1 = c.smooch_post(&v1_message(APP, "au-1", "m1", "hello")).await;
    let v2 = says(&c, "m2", "hello").await;
    assert_eq!(v1.replies.len(), 1, "a v1.1 payload names no v2 conversation: the v1.1 route serves it");
    assert_eq!(v1.replies[0].target, "au-1");
    assert_eq!((v2.replies[0].version, v2.replies[0].target.as_str()), (V2, CONVERSATION));
}

#[tokio::test]
async fn the_app_key_of_the_environment_comes_from_extra_info_when_it_has_one() {
    let c = Connector::start_with(&[("ENVIRONMENT", "development")], &[]).await;
    c.smooch.add_key(APP, FakeSmooch::OTHER_KEY_ID, FakeSmooch::OTHER_SECRET);
    c.inbenta.set_extra_info(
        "smooch",
        json!([{"name":"app_tokens","value":{
            "development":[{"key":FakeSmooch::OTHER_KEY_ID,"secret":FakeSmooch::OTHER_SECRET}],
            "production":[{"key":"app_unused","secret":"unused"}]}}]),
    );
    c.inbenta.on_message("hello", unrated("Hi!"));
    let ex = says(&c, "m1", "hello").await;
    assert_eq!(ex.replies.len(), 1);
    assert_eq!(ex.replies[0].auth.key_id(), FakeSmooch::OTHER_KEY_ID);
}

#[tokio::test]
async fn a_rate_limited_send_is_tried_again_within_the_deadline() {
    let c = Connector::start().await;
    c.inbenta.on_message("hello", unrated("Hi!"));
    c.smooch.fail_with(429, 1);
    let ex = says(&c, "m1", "hello").await;
    assert_eq!((ex.status, ex.replies.len()), (200, 1));
}

/// Smooch's client gives up after 300 ms here.
const FAST_SMOOCH: (&str, &str) = ("smooch.toml", "timeout_ms = 300");

#[tokio::test]
async fn a_reply_smooch_never_got_is_sent_once_more_after_the_conversation_shows_it_is_missing() {
    let c = Connector::start_with(&[], &[FAST_SMOOCH]).await;
    c.inbenta.on_message("hello", unrated("Only once."));
    c.smooch.lose_messages(1);
    assert_eq!(says(&c, "m-lost-1", "hello").await.status, 200);
    let sent: Vec<_> = c.smooch.messages().iter().map(|m| m.text().unwrap_or_default().to_owned()).collect();
    assert_eq!(sent, ["Only once."]);
    assert_eq!(c.smooch.list_requests().len(), 1, "the conversation's messages were read once");
    let tag = &c.smooch.messages()[0].body["metadata"]["connectorSendId"];
    assert!(tag.as_str().is_some_and(|t| t.len() == 32), "the message carries its send tag: {tag}");
}

#[tokio::test]
async fn a_reply_smooch_got_but_answered_too_late_is_found_by_its_send_tag_and_not_sent_again() {
    let c = Connector::start_with(&[], &[FAST_SMOOCH]).await;
    c.inbenta.on_message("hello", unrated("Only once."));
    c.smooch.answer_late(std::time::Duration::from_secs(1), 1);
    assert_eq!(says(&c, "m-late-1", "hello").await.status, 200);
    assert_eq!(c.smooch.messages().len(), 1);
    assert_eq!(c.smooch.list_requests().len(), 1);
}

/// A Smooch user who failed once and accepted the offer: their chat is open. The chat's id.
async fn in_live_chat() -> (Connector, FakeHyperChat, String) {
    let hyperchat = FakeHyperChat::start().await;
    hyperchat.set_agents_available(1);
    let url = hyperchat.base_url();
    let env =
        [("HYPERCHAT_API_URL", url.as_str()), ("HYPERCHAT_APP_ID", FakeHyperChat::APP_ID), ("HYPERCHAT_SECRET", FakeHyperChat::SECRET)];
    let c = Connector::start_with(&env, &[("chat.toml", "[chat]\nenabled = true\ntriesBeforeEscalation = 1\n")]).await;
    assert_eq!(c.hyperchat_handshake(HYPERCHAT_SECRET).await.status(), 200);
    c.inbenta.on_message("zzz", no_results());
    let offer = says(&c, "m1", "zzz").await;
    let yes = offer.payload_of("Yes");
    let opening = c.smooch_post(&v2_postback(APP, CONVERSATION, USER, &yes)).await;
    assert_eq!(opening.text(), "I will try to connect you with an agent. Please wait.");
    let chat = hyperchat.chats().last().and_then(|chat| chat["id"].as_str()).expect("a chat was opened").to_owned();
    (c, hyperchat, chat)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_failure_smooch_reports_during_a_chat_is_told_to_the_agent_once() {
    let (c, hyperchat, chat) = in_live_chat().await;
    let failure = connector_tests::smooch::v2_delivery_failure(APP, CONVERSATION, USER, "m-ours-1", "uncategorized_error");
    let reported = c.smooch_post(&failure).await;
    assert_eq!((reported.status, reported.replies.len()), (200, 0));
    assert_eq!(c.smooch_post(&failure).await.status, 200, "the same event again");
    let notices: Vec<String> = hyperchat
        .messages(&chat)
        .iter()
        .filter_map(|m| m["message"].as_str())
        .filter(|t| t.starts_with("[connector]"))
        .map(str::to_owned)
        .collect();
    assert_eq!(notices, ["[connector] A message of yours did not reach the user: the channel could not deliver it (uncategorized_error)."]);
}

#[tokio::test]
async fn a_delivery_failure_outside_a_chat_is_only_acknowledged() {
    let c = Connector::start().await;
    let failure = connector_tests::smooch::v2_delivery_failure(APP, CONVERSATION, USER, "m-ours-2", "uncategorized_error");
    let reported = c.smooch_post(&failure).await;
    assert_eq!((reported.status, reported.replies.len()), (200, 0));
    assert!(c.inbenta.bot_inputs().is_empty());
    assert!(c.smooch.requests().is_empty(), "nothing was asked of or sent to Smooch: {:?}", c.smooch.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smooch_user_reaches_an_agent_and_the_agents_messages_come_back_through_smooch() {
    let (c, hyperchat, chat) = in_live_chat().await;
    let names: Vec<_> = hyperchat.users().iter().filter_map(|u| u["name"].as_str().map(str::to_owned)).collect();
    assert_eq!(
        names,
        vec![format!("{} {}", FakeSmooch::DEFAULT_GIVEN_NAME, FakeSmooch::DEFAULT_SURNAME)],
        "the agent sees the Smooch user's name"
    );

    says(&c, "m2", "my card is blocked").await;
    let to_agent: Vec<_> = hyperchat.messages(&chat).iter().map(|m| m["message"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(to_agent, vec!["my card is blocked"]);

    let agent = hyperchat.add_agent("Ana");
    let before = c.smooch.messages().len();
    let message = json!({"message": {"id": "M-agent-1", "chat": chat, "sender": agent, "type": "text", "message": "Unblocked."}});
    assert_eq!(c.hyperchat_event("messages:new", message).await.status, 200);
    let sent = c.smooch.messages();
    assert_eq!(sent.len(), before + 1);
    assert_eq!((sent[before].target.as_str(), sent[before].text()), (CONVERSATION, Some("Unblocked.")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smooch_user_in_a_live_chat_sees_the_agent_typing_but_never_their_own_writing() {
    let (c, hyperchat, chat) = in_live_chat().await;
    let agent = hyperchat.add_agent("Ana");
    let user = hyperchat.chats()[0]["creator"].as_str().expect("the chat's user").to_owned();
    let (before, messages_before) = (c.smooch.activities().len(), c.smooch.messages().len());
    let writing = |who: &str| json!({"chatId": chat, "userId": who, "type": "writing"});
    assert_eq!(c.hyperchat_event("users:activity", writing(&agent)).await.status, 200);
    let shown: Vec<_> = c.smooch.activities()[before..].iter().map(|a| (a.target.clone(), a.kind.clone())).collect();
    assert_eq!(shown, vec![(CONVERSATION.to_owned(), "typing:start".to_owned())]);

    assert_eq!(c.hyperchat_event("users:activity", writing(&user)).await.status, 200);
    let stopped = json!({"chatId": chat, "userId": agent, "type": "not-writing"});
    assert_eq!(c.hyperchat_event("users:activity", stopped).await.status, 200);
    assert_eq!(c.smooch.activities().len(), before + 1, "nothing for the user's own writing or a stop");
    assert_eq!(c.smooch.messages().len(), messages_before, "typing is no message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smooch_users_image_reaches_the_agent_and_an_agents_picture_comes_back_as_an_image_message() {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n a picture";
    let (c, hyperchat, chat) = in_live_chat().await;
    let media_host = FakeFileHost::start().await;
    let url = media_host.put("card.png", "image/png", PNG);
    let image = json!({"type": "image", "mediaUrl": url, "mediaType": "image/png"});
    let sent = c.smooch_post(&v2_user_content(APP, CONVERSATION, USER, "m-image", image)).await;
    assert_eq!((sent.status, sent.replies.len()), (200, 0));
    let files = hyperchat.files(&chat);
    assert_eq!(files.len(), 1);
    assert_eq!((files[0].name.as_str(), files[0].content_type.as_str(), files[0].bytes.as_slice()), ("card.png", "image/png", PNG));

    let agent = hyperchat.add_agent("Ana");
    let message = hyperchat.agent_file(&chat, &agent, "map.png", "image/png", PNG);
    let before = c.smooch.messages().len();
    assert_eq!(c.hyperchat_event("messages:new", json!({ "message": message })).await.status, 200);
    let sent = c.smooch.messages();
    assert_eq!(sent.len(), before + 1);
    assert_eq!((sent[before].target.as_str(), sent[before].kind()), (CONVERSATION, "image"));
    let link = sent[before].content["mediaUrl"].as_str().expect("a media URL");
    assert!(link.starts_with(HYPERCHAT_WEBHOOK_URL) && !link.contains(FakeHyperChat::SECRET), "{link}");
    assert_eq!(c.hyperchat_get(link).await.body().as_ref(), PNG);
}

/// A value nested `depth` objects deep, as a web client's `metadata` can be.
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!("bottom"), |inner, _| json!({ "level": inner }))
}

/// Posts exactly these bytes with the webhook's key.
async fn post_bytes(c: &Connector, body: String) -> connector_tests::connector::SmoochExchange {
    c.smooch_raw(body.into_bytes(), &[("content-type", "application/json"), ("x-api-key", WEBHOOK_SECRET)]).await
}

/// Found from outside: one event nested deeper than serde_json's limit of 128 made the whole
/// batch a 400, which Smooch does not retry: every other user's message was lost.
#[tokio::test]
async fn a_batch_where_one_users_event_is_nested_200_deep_still_answers_the_other_user() {
    let c = Connector::start().await;
    c.inbenta.on_message("hello", unrated("Hi!"));
    c.inbenta.on_message("deep", unrated("Deep!"));
    let mut deep = v2_message(APP, "conv-2", "user-2", "m2", "deep");
    deep["events"][0]["payload"]["message"]["metadata"] = nested(200);
    let ex = c.smooch_post(&v2_batch([deep, v2_message(APP, "conv-1", "user-1", "m1", "hello")])).await;
    assert_eq!(ex.status, 200);
    let sent: Vec<_> = ex.replies.iter().map(|m| (m.target.as_str(), m.text().unwrap_or_default())).collect();
    assert_eq!(sent, vec![("conv-1", "Hi!")]);
    assert_eq!(c.inbenta.bot_inputs(), vec![json!({"message": "hello"})], "the unreadable event reached nobody");
}

/// Found from outside: a lone surrogate escape (`\ud800`, which JavaScript strings can hold)
/// in one user's text made the whole batch a 400.
#[tokio::test]
async fn a_batch_where_one_users_text_has_a_lone_surrogate_still_answers_the_other_user() {
    let c = Connector::start().await;
    c.inbenta.on_message("hello", unrated("Hi!"));
    let batch = v2_batch([v2_message(APP, "conv-2", "user-2", "m2", "LONE"), v2_message(APP, "conv-1", "user-1", "m1", "hello")]);
    let body = batch.to_string().replace("LONE", r"broken \ud800 text");
    assert!(serde_json::from_str::<Value>(&body).is_err(), "the body is one serde_json refuses as a whole");
    let ex = post_bytes(&c, body).await;
    assert_eq!(ex.status, 200);
    let sent: Vec<_> = ex.replies.iter().map(|m| (m.target.as_str(), m.text().unwrap_or_default())).collect();
    assert_eq!(sent, vec![("conv-1", "Hi!")]);
    assert_eq!(c.inbenta.bot_inputs(), vec![json!({"message": "hello"})]);
}

/// As deep as a body within the 64 KiB limit can be: no panic, no stack overflow, and the
/// other user is answered.
#[tokio::test]
async fn an_event_nested_30000_deep_neither_crashes_the_function_nor_stops_the_batch() {
    let c = Connector::start().await;
    c.inbenta.on_message("hello", unrated("Hi!"));
    let mut deep = v2_message(APP, "conv-2", "user-2", "m2", "deep");
    deep["events"][0]["payload"]["message"]["metadata"] = json!("DEEP");
    let batch = v2_batch([deep, v2_message(APP, "conv-1", "user-1", "m1", "hello")]);
    let body = batch.to_string().replace("\"DEEP\"", &format!("{}{}", "[".repeat(30_000), "]".repeat(30_000)));
    let ex = post_bytes(&c, body).await;
    assert_eq!(ex.status, 200);
    assert_eq!(ex.text(), "Hi!");
    assert_eq!(c.inbenta.bot_inputs(), vec![json!({"message": "hello"})]);
}

#[tokio::test]
async fn a_body_that_is_not_json_or_whose_envelope_is_broken_is_still_refused_as_a_whole() {
    let c = Connector::start().await;
    let good = v2_message(APP, "conv-1", "user-1", "m1", "hello");
    let mut not_a_list = good.clone();
    not_a_list["events"] = json!({"id": "ev-1"});
    let mut deep_app = good.clone();
    deep_app["app"]["extra"] = nested(200);
    let text = good.to_string();
    let refused = [
        ("events that are not a list", not_a_list.to_string()),
        ("an app nested 200 deep", deep_app.to_string()),
        ("a syntax error in one event", text.replace(r#""type":"text""#, r#""type":text"#)),
        ("a second body after the first", format!("{text}{text}")),
        ("an array", format!("[{text}]")),
    ];
    for (what, body) in refused {
        assert_eq!(post_bytes(&c, body).await.status, 400, "{what}");
    }
    assert!(c.inbenta.requests().is_empty() && c.smooch.requests().is_empty(), "nothing was processed");
}

// ----- Sunshine v2 as Zendesk's spec has it (issue 19, section 3) ---------------------------

/// Found against the spec: a `conversation:postback` has only `postback.payload` (S1
/// `postbackWebhook`), and a postback that is not one of our buttons (Messenger's Get Started,
/// a persistent menu) reached the bot as its raw payload, `GET_STARTED`.
#[tokio::test]
async fn a_foreign_postback_such_as_get_started_never_reaches_the_bot_as_its_payload() {
    let c = Connector::start().await;
    c.inbenta.on_message("GET_STARTED", unrated("Nobody ever types this."));
    let ex = c.smooch_post(&v2_postback(APP, CONVERSATION, USER, "GET_STARTED")).await;
    assert_eq!((ex.status, ex.replies.len()), (200, 0));
    assert!(c.inbenta.bot_inputs().is_empty(), "the bot was asked {:?}", c.inbenta.bot_inputs());
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n a picture";

/// Found against the spec: "An authorization header is required to access the mediaUrl when
/// private attachments are enabled" (S1 l.4527, l.4716); the file was fetched anonymously, so
/// on such an app every user's file reached the agent as "could not be fetched".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_file_on_an_app_with_private_attachments_reaches_the_agent_fetched_with_the_apps_key() {
    let (c, hyperchat, chat) = in_live_chat().await;
    c.smooch.set_private_attachments(true);
    let url = c.smooch.put_attachment("card.png", "image/png", PNG);
    let image = json!({"type": "image", "mediaUrl": url, "mediaType": "image/png"});
    let sent = c.smooch_post(&v2_user_content(APP, CONVERSATION, USER, "m-private", image)).await;
    assert_eq!((sent.status, sent.replies.len()), (200, 0));
    let files = hyperchat.files(&chat);
    assert_eq!(files.len(), 1, "the agent got the file");
    assert_eq!((files[0].name.as_str(), files[0].content_type.as_str(), files[0].bytes.as_slice()), ("card.png", "image/png", PNG));
    let downloads = c.smooch.attachment_downloads();
    assert_eq!(downloads.len(), 1);
    assert_eq!(downloads[0].auth, Some(Auth::Basic { key_id: FakeSmooch::KEY_ID.into() }), "the app's key, as v2 Basic");
}

/// A web client may name any `mediaUrl`: the app's key goes to the API's own origin only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_file_on_another_host_is_fetched_without_the_apps_credentials() {
    let (c, hyperchat, chat) = in_live_chat().await;
    let elsewhere = FakeFileHost::start().await;
    let url = elsewhere.put("card.png", "image/png", PNG);
    let image = json!({"type": "image", "mediaUrl": url, "mediaType": "image/png"});
    assert_eq!(c.smooch_post(&v2_user_content(APP, CONVERSATION, USER, "m-elsewhere", image)).await.status, 200);
    assert_eq!(hyperchat.files(&chat).len(), 1, "the agent got the file");
    let requests = elsewhere.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].headers.iter().all(|(name, _)| name != "authorization"), "{:?}", requests[0].headers);
}

/// Found against the spec: the bot answered every message, also while a Zendesk agent held
/// the conversation (S1 `conversationTruncated.activeSwitchboardIntegration`).
#[tokio::test]
async fn while_a_zendesk_agent_holds_the_conversation_the_bot_stays_silent_until_control_is_released() {
    let c = Connector::start().await;
    c.inbenta.on_message("hello", unrated("Hi!"));
    let held = c.smooch_post(&held_by(v2_message(APP, CONVERSATION, USER, "m1", "hello"), agent_workspace())).await;
    assert_eq!((held.status, held.replies.len()), (200, 0));
    let tapped = c.smooch_post(&held_by(v2_postback(APP, CONVERSATION, USER, r#"{"n":1,"l":"Yes"}"#), agent_workspace())).await;
    assert_eq!((tapped.status, tapped.replies.len()), (200, 0));
    assert!(c.inbenta.bot_inputs().is_empty(), "the agent's conversation is not the bot's");
    assert!(c.smooch.activities().is_empty(), "no typing indicator over the agent either");

    let released = c.smooch_post(&v2_release_control(APP, CONVERSATION)).await;
    assert_eq!((released.status, released.replies.len()), (200, 0));
    let back = says(&c, "m2", "hello").await;
    assert_eq!(back.text(), "Hi!");
    assert_eq!(c.inbenta.bot_inputs(), vec![json!({"message": "hello"})]);
}

/// Our integration's id, as the switchboard names it (S1's example `integrationId`).
const OUR_INTEGRATION_ID: &str = "5f11a650e4e987667c2051d1";

#[tokio::test]
async fn with_our_integration_configured_the_bot_answers_while_ours_holds_the_conversation_and_not_while_another_does() {
    let c = Connector::start_with(&[("SMOOCH_SWITCHBOARD_INTEGRATION", OUR_INTEGRATION_ID)], &[]).await;
    c.inbenta.on_message("hello", unrated("Hi!"));
    let ours = switchboard_integration("5eecde2dcdbffb08f5c3ed37", "bot", OUR_INTEGRATION_ID, "custom");
    let answered = c.smooch_post(&held_by(v2_message(APP, CONVERSATION, USER, "m1", "hello"), ours)).await;
    assert_eq!(answered.text(), "Hi!");
    let another_bot = switchboard_integration("5eecde2dcdbffb08f5c3ed39", "other-bot", "5f11a650e4e987667c2051d9", "custom");
    for (id, holder) in [("m2", agent_workspace()), ("m3", another_bot)] {
        let ex = c.smooch_post(&held_by(v2_message(APP, CONVERSATION, USER, id, "hello"), holder)).await;
        assert_eq!((ex.status, ex.replies.len()), (200, 0), "{id}");
    }
    assert_eq!(c.inbenta.bot_inputs().len(), 1);
}

/// Found against the spec: `text` `maxLength: 4096` is what the API counts, UTF-16 code units
/// (an astral emoji is two); the product counted characters, so this answer went out as one
/// message of 4608 units and was refused.
#[tokio::test]
async fn a_4096_character_answer_with_astral_emoji_is_split_so_each_message_fits_4096_utf16_units() {
    let c = Connector::start().await;
    let text = "Fine 😀. ".repeat(511) + "Fine 😀.!";
    assert_eq!((text.chars().count(), text.encode_utf16().count()), (4096, 4608));
    c.inbenta.on_message("long", unrated(&text));
    let ex = says(&c, "m1", "long").await;
    assert_eq!(ex.status, 200);
    assert!(ex.replies.len() >= 2, "{} messages", ex.replies.len());
    for reply in &ex.replies {
        let units = reply.text().unwrap_or_default().encode_utf16().count();
        assert!(units <= FakeSmooch::MAX_TEXT_LEN, "{units} UTF-16 units");
    }
    let sent: String = ex.replies.iter().flat_map(|r| r.text().unwrap_or_default().chars()).filter(|c| !c.is_whitespace()).collect();
    let original: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    assert_eq!(sent, original, "nothing lost");
}
