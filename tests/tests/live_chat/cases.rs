// The live-chat cases, run on the in-memory store (`live_chat.rs`) and on DynamoDB
// (`live_chat_dynamodb.rs`): `ON_DYNAMODB` is set by the file that includes this one.

use connector_tests::connector::{COMPANY_NUMBER, Connector, Exchange, HYPERCHAT_WEBHOOK_URL, SMS_USER, WHATSAPP_USER};
use connector_tests::hyperchat::{FakeHyperChat, WEBHOOK_SECRET, event_body, hook_signature};
use connector_tests::inbenta::unrated;
use serde_json::{Value, json};

/// HyperChat enabled, one agent available, escalation offered after one no-result, the
/// webhook subscribed; `extra` is appended to `chat.toml`'s `[chat]` table.
async fn start_with(extra: &str, env: &[(&str, &str)]) -> (Connector, FakeHyperChat) {
    start_with_all(extra, env, &[]).await
}

/// The same with more `conf/custom` files.
async fn start_with_files(files: &[(&str, &str)]) -> (Connector, FakeHyperChat) {
    start_with_all("", &[], files).await
}

async fn start_with_all(extra: &str, env: &[(&str, &str)], files: &[(&str, &str)]) -> (Connector, FakeHyperChat) {
    let hyperchat = FakeHyperChat::start().await;
    hyperchat.set_agents_available(1);
    let chat = format!("[chat]\nenabled = true\ntriesBeforeEscalation = 1\n{extra}\n");
    let url = hyperchat.base_url();
    let table = if ON_DYNAMODB { Some(connector_tests::connector::fresh_table().await) } else { None };
    let mut vars =
        vec![("HYPERCHAT_API_URL", url.as_str()), ("HYPERCHAT_APP_ID", FakeHyperChat::APP_ID), ("HYPERCHAT_SECRET", FakeHyperChat::SECRET)];
    vars.extend(table.as_deref().map(|t| ("TABLE_NAME", t)));
    vars.extend_from_slice(env);
    let custom: Vec<(&str, &str)> = std::iter::once(("chat.toml", chat.as_str())).chain(files.iter().copied()).collect();
    let c = Connector::start_with(&vars, &custom).await;
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
    assert_eq!((relayed.status, relayed.replies.len()), (200, 0), "no acknowledgement to the user");
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
    assert_eq!((echoed.status, echoed.replies.len()), (200, 0));
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
    assert_eq!((late.status, late.replies.len()), (200, 0), "a closed chat stays closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_no_agent_can_take_is_closed_and_the_user_told() {
    let (c, hc) = start().await;
    let chat = escalate(&c, &hc).await;
    let alone = c.hyperchat_event("forever:alone", json!({"chatId": chat})).await;
    assert_eq!(alone.text(), "Chat closed");
    assert_eq!(hc.chats()[0]["status"], "closed");
}

/// Found from outside: a room in queue mode never told the user their place, since only
/// `chat.queue.active` (off by default) was read, not HyperChat's own `GET settings`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_updates_tell_the_user_their_place_when_hyperchats_own_settings_say_the_room_queues() {
    let (c, hc) = start().await;
    hc.set_queue_mode(true);
    let chat = escalate(&c, &hc).await;
    let first = c.hyperchat_event("queues:update", json!({"chatId": chat, "userId": "U1", "data": {"queuePosition": 1}})).await;
    assert_eq!(first.text(), "There is one person ahead of you.");
    let settings_read = hc.count("/v1/settings");
    let third = c.hyperchat_event("queues:update", json!({"chatId": chat, "userId": "U1", "data": {"queuePosition": 3}})).await;
    assert_eq!(third.text(), "There are 3 people ahead of you.");
    c.hyperchat_event("queues:update", json!({"chatId": chat, "userId": "U1", "data": {"queuePosition": 2}})).await;
    assert_eq!(hc.count("/v1/settings"), settings_read, "the settings are kept a while, not read for every event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_updates_say_nothing_when_hyperchats_settings_say_the_room_does_not_queue_whatever_the_configuration() {
    let (c, hc) = start_with("[chat.queue]\nactive = true", &[]).await;
    let chat = escalate(&c, &hc).await;
    let update = c.hyperchat_event("queues:update", json!({"chatId": chat, "userId": "U1", "data": {"queuePosition": 2}})).await;
    assert_eq!((update.status, update.replies.len()), (200, 0));
}

/// Inbenta's survey is its ticketing API's, a form run in the chat (`shared/inbenta/src/ticketing.rs`),
/// started with the ticketing key (`chat.messenger`): without it nothing is started, nothing
/// asks HyperChat for a survey link (no HyperChat document has such a route), and the user goes
/// on with the bot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_survey_but_no_ticketing_key_the_ticket_of_a_closed_chat_starts_no_survey_and_the_bot_answers_again() {
    let (c, hc) = start_with("surveyId = \"7\"", &[]).await;
    let agent = hc.add_agent("Ana");
    c.inbenta.on_message("hello again", unrated("Hi again."));
    let chat = escalate(&c, &hc).await;
    c.inbenta.set_chat_ticket(&chat, json!(42));
    c.inbenta.set_survey("7", survey_definition());
    c.hyperchat_event("chats:close", json!({"chatId": chat, "userId": agent})).await;
    let info = c.hyperchat_event("system:info", json!({"chatId": chat, "data": {"ticketId": 123}})).await;
    assert_eq!((info.status, info.replies.len()), (200, 0));
    assert!(hc.requests().iter().all(|r| !r.path.contains("survey")), "HyperChat was asked for a survey");
    assert_eq!(c.inbenta.count("/start"), 0, "no survey started");
    assert_eq!(c.sms("hello again").await.text(), "Hi again.");
}

/// `[chat]` with survey 7, and the ticketing key and secret (the fake takes the chatbot's).
const WITH_SURVEY: &str = "surveyId = \"7\"\n[chat.messenger]\nkey = \"test-inbenta-key\"\nsecret = \"test-inbenta-secret\"";

/// A survey as Inbenta's ticketing API starts it (the shape `ChatbotConnector::processSurveyData`
/// reads): a header, a question with two choices, a 1-5 rating, a comment; its own thank-you.
fn survey_definition() -> Value {
    json!({
        "id": 7, "token": "survey-token-1",
        "settings": [{"subtype": "thankyoupage", "value": {"message": "Thank you for your feedback!"}}],
        "pages": [{"id": 1, "items": [
            {"id": 10, "type": "layout", "subtype": "header", "settings": [{"value": "Your chat"}]},
            {"id": 11, "type": "input", "subtype": "radio", "settings": [
                {"value": "Did the agent solve your problem?"},
                {"value": [{"value": "solved", "label": "Solved"}, {"value": "unsolved", "label": "Not solved"}]}]},
            {"id": 12, "type": "input", "subtype": "rating", "settings": [
                {"value": "How would you rate the chat?"}, {"subtype": "min", "value": {"value": 1}}, {"subtype": "max", "value": {"value": 5}}]},
            {"id": 13, "type": "input", "subtype": "textarea", "settings": [{"value": "Anything to add?"}]},
        ]}],
    })
}

const OFFER: &str = "Would you like to answer a short survey about the chat? (type a number)\n1) Yes\n2) No";

/// A chat closed by its agent, its ticket (42, found by the chat's id) made, with the survey
/// configured: the offer, and the chat's id.
async fn survey_offered(c: &Connector, hc: &FakeHyperChat) -> String {
    let agent = hc.add_agent("Ana");
    let chat = escalate(c, hc).await;
    c.inbenta.set_chat_ticket(&chat, json!(42));
    c.inbenta.set_survey("7", survey_definition());
    assert_eq!(c.hyperchat_event("chats:close", json!({"chatId": chat, "userId": agent})).await.text(), "Chat closed");
    let info = c.hyperchat_event("system:info", json!({"chatId": chat, "data": {"ticketId": 123}})).await;
    assert_eq!(info.text(), OFFER);
    chat
}

/// The survey starts of the fake, as their forms.
fn survey_starts(c: &Connector) -> Vec<Vec<(String, String)>> {
    c.inbenta.requests().iter().filter(|r| r.path == "/prod/ticketing/v1/surveys/7/start").map(|r| r.form()).collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_chats_ticket_the_user_answers_inbentas_survey_in_the_chat_and_the_answers_are_submitted() {
    let (c, hc) = start_with(WITH_SURVEY, &[]).await;
    survey_offered(&c, &hc).await;
    assert_eq!(survey_starts(&c), vec![pairs(&[("sourceType", "ticket"), ("sourceId", "42")])], "for the chat's ticket");
    let bot_inputs = c.inbenta.bot_inputs().len();

    let first = c.sms("yes").await;
    assert_eq!(first.text(), "Did the agent solve your problem? (type a number)\n1) Solved\n2) Not solved");
    let second = c.sms("not solved").await;
    assert_eq!(second.text(), "How would you rate the chat? (type a number)\n1) 1\n2) 2\n3) 3\n4) 4\n5) 5");
    assert_eq!(c.sms("4").await.text(), "Anything to add?");
    assert_eq!(c.sms("The agent was kind").await.text(), "Thank you for your feedback!");

    let answers = pairs(&[("11", "unsolved"), ("12", "4"), ("13", "The agent was kind")]);
    assert_eq!(c.inbenta.survey_submissions(), vec![("7".to_owned(), answers)]);
    assert_eq!(c.inbenta.bot_inputs().len(), bot_inputs, "no answer went to the bot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_declines_the_survey_is_thanked_nothing_is_submitted_and_the_bot_answers_again() {
    let (c, hc) = start_with(WITH_SURVEY, &[]).await;
    c.inbenta.on_message("hello again", unrated("Hi again."));
    survey_offered(&c, &hc).await;
    assert_eq!(c.sms("2").await.text(), "Thanks!");
    assert_eq!(c.sms("hello again").await.text(), "Hi again.");
    assert!(c.inbenta.survey_submissions().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_ignores_the_survey_and_asks_the_bot_something_gets_the_bots_answer() {
    let (c, hc) = start_with(WITH_SURVEY, &[]).await;
    c.inbenta.on_message("what are your opening hours?", unrated("From 9 to 5."));
    c.inbenta.on_message("yes", unrated("Yes to what?"));
    survey_offered(&c, &hc).await;
    assert_eq!(c.sms("what are your opening hours?").await.text(), "From 9 to 5.");
    assert_eq!(c.sms("yes").await.text(), "Yes to what?", "the survey is over: a later yes is the bot's");
    assert!(c.inbenta.survey_submissions().is_empty());
}

/// Inbenta's PHP passes on only `text` and `media` messages whose sender has a `providerId`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_messages_and_messages_of_senders_who_are_no_agents_do_not_reach_the_user() {
    let (c, hc) = start().await;
    let agent = hc.add_agent("Ana");
    let chat = escalate(&c, &hc).await;
    let system = json!({"message": {"id": "M-sys-1", "chat": chat, "sender": agent, "type": "system", "message": "Chat transferred"}});
    let system = c.hyperchat_event("messages:new", system).await;
    assert_eq!((system.status, system.replies.len()), (200, 0), "another type than text or media");
    let nobody = json!({"message": {"id": "M-sys-2", "chat": chat, "sender": "system", "type": "text", "message": "Agent left"}});
    let nobody = c.hyperchat_event("messages:new", nobody).await;
    assert_eq!((nobody.status, nobody.replies.len()), (200, 0), "a sender HyperChat has no agent of");
    let from_agent = json!({"message": {"id": "M-agent-9", "chat": chat, "sender": agent, "type": "text", "message": "Still here."}});
    assert_eq!(c.hyperchat_event("messages:new", from_agent).await.text(), "Still here.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_no_agent_took_is_tracked_as_chat_unattended() {
    let (c, hc) = start().await;
    let chat = escalate(&c, &hc).await;
    c.hyperchat_event("forever:alone", json!({"chatId": chat})).await;
    let types: Vec<Value> = c.inbenta.tracking_events().into_iter().map(|e| e["type"].clone()).collect();
    assert_eq!(types, vec![json!("CHAT_ATTENDED"), json!("CHAT_UNATTENDED")]);
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
    let (store_calls, store_writes) = (c.store_calls.calls(), c.store_calls.writes());
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
    // A failed signature may read the stored webhook secret again (another instance may have
    // subscribed since), at most once a minute: nothing else is read, nothing written.
    assert_eq!(c.store_calls.writes(), store_writes, "the store was written");
    assert!(c.store_calls.calls() <= store_calls + 1, "the store was used beyond one read of the secret");
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

/// A request to the HyperChat function with `method` and `headers`, no body.
async fn bare(c: &Connector, method: &str, headers: &[(&str, &str)]) -> connector_core::WebhookResponse {
    let mut request = http::Request::builder().method(method).uri("/hyperchat");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    c.hyperchat.handle(request.body(bytes::Bytes::new()).expect("a valid request"), None).await
}

/// Inbenta's PHP answers the handshake on any request carrying `X-Hook-Secret`; HyperChat's
/// docs do not say which method it uses. GET and HEAD were answered 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscription_handshake_is_answered_on_get_and_head_too() {
    for method in ["GET", "HEAD"] {
        let hyperchat = FakeHyperChat::start().await;
        let c = Connector::start_with(&[("HYPERCHAT_API_URL", &hyperchat.base_url())], &[]).await;
        let response = bare(&c, method, &[("x-hook-secret", WEBHOOK_SECRET)]).await;
        assert_eq!(response.status(), 200, "{method}");
        assert_eq!(response.headers().get("x-hook-secret").and_then(|v| v.to_str().ok()), Some(WEBHOOK_SECRET), "{method}");
        let body = event_body("chats:close", json!({"chatId": "C404", "userId": "system"}));
        let signature = hook_signature(WEBHOOK_SECRET, &body);
        assert_eq!(c.hyperchat_raw(body.into_bytes(), &[("x-hook-signature", &signature)]).await.status, 200, "subscribed by {method}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_before_any_subscription_are_refused() {
    let c = Connector::start().await;
    let body = event_body("chats:close", json!({"chatId": "C1", "userId": "system"}));
    let signature = hook_signature(WEBHOOK_SECRET, &body);
    assert_eq!(c.hyperchat_raw(body.into_bytes(), &[("x-hook-signature", &signature)]).await.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_hyperchat_is_down_for_a_moment_during_a_chat_the_message_reaches_the_agent_after_a_retry_and_the_user_hears_nothing() {
    let (c, hc) = start().await;
    let chat = escalate(&c, &hc).await;
    hc.fail_with(503, 1);
    let relayed = c.sms("are you there?").await;
    assert_eq!((relayed.status, relayed.replies.len()), (200, 0), "no apology: {}", relayed.text());
    assert_eq!(user_messages(&hc, &chat), vec!["are you there?"], "passed on once, by the retry");
    assert!(c.inbenta.bot_inputs().iter().all(|input| *input != json!({"message": "are you there?"})), "not sent to the bot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_hyperchat_stays_down_past_the_retry_budget_the_user_is_told_their_message_did_not_reach_the_agent() {
    let (c, hc) = start().await;
    let chat = escalate(&c, &hc).await;
    hc.fail_with(503, 10_000);
    assert_eq!(c.sms("are you there?").await.text(), "Your message could not reach the agent. Please send it again.");
    hc.fail_with(503, 0);
    assert!(user_messages(&hc, &chat).is_empty());
    assert!(c.inbenta.bot_inputs().iter().all(|input| *input != json!({"message": "are you there?"})), "not sent to the bot");
}

/// HyperChat's client gives up after half a second here.
const FAST_HYPERCHAT: (&str, &str) = ("api.toml", "timeout_ms = 500");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_message_hyperchat_kept_but_answered_too_late_reaches_the_agent_once_and_the_user_hears_nothing() {
    let (c, hc) = start_with_files(&[FAST_HYPERCHAT]).await;
    let chat = escalate(&c, &hc).await;
    hc.answer_messages_late(std::time::Duration::from_millis(1500), 1);
    let relayed = c.sms("are you there?").await;
    assert_eq!((relayed.status, relayed.replies.len()), (200, 0), "not told it failed: {}", relayed.text());
    assert_eq!(user_messages(&hc, &chat), vec!["are you there?"], "once");
    assert_eq!(hc.requests().iter().filter(|r| r.method == "GET" && r.path.ends_with("/messages")).count(), 1, "HyperChat was asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_message_hyperchat_never_got_is_posted_again_once_after_asking_it() {
    let (c, hc) = start_with_files(&[FAST_HYPERCHAT]).await;
    let chat = escalate(&c, &hc).await;
    hc.lose_messages(1);
    let relayed = c.sms("are you there?").await;
    assert_eq!((relayed.status, relayed.replies.len()), (200, 0), "not told it failed: {}", relayed.text());
    assert_eq!(user_messages(&hc, &chat), vec!["are you there?"], "posted again, once");
    assert_eq!(hc.requests().iter().filter(|r| r.method == "POST" && r.path.ends_with("/messages")).count(), 2);
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
    c.twilio.refuse_with_code(21610, 1);
    let message = json!({"message": {"id": "M-r1", "chat": chat, "sender": agent, "type": "text", "message": "Hello?"}});
    let refused = c.hyperchat_event("messages:new", message).await;
    assert_eq!((refused.status, refused.replies.len()), (200, 0));
    assert_eq!(notices(&hc, &chat), vec!["[connector] This message did not reach the user: the channel refused it (error 21610)."]);
}

/// Posts the status callbacks Twilio would have posted since `from`, each as Twilio signs it.
async fn deliver_status_callbacks(c: &Connector, from: usize) -> Vec<String> {
    let mut statuses = Vec::new();
    for callback in c.twilio.status_callbacks().into_iter().skip(from) {
        assert_eq!(c.status_callback(&callback.url, &callback.params).await.status, 200, "{callback:?}");
        statuses.push(callback.status().to_owned());
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_message_twilio_accepts_and_reports_undelivered_later_is_told_to_the_agent_with_the_reason() {
    let (c, hc) = start().await;
    let agent = hc.add_agent("Ana");
    let chat = escalate(&c, &hc).await;
    let before = c.twilio.status_callbacks().len();
    c.twilio.fail_later(63016, 1);
    let message = json!({"message": {"id": "M-u1", "chat": chat, "sender": agent, "type": "text", "message": "Hello?"}});
    let sent = c.hyperchat_event("messages:new", message).await;
    assert_eq!((sent.status, sent.replies.len()), (200, 1), "Twilio accepted it");
    assert_eq!(sent.replies[0].status_callback.as_deref(), Some("https://connector.example.com/twilio/status?agent=1"));
    assert!(notices(&hc, &chat).is_empty(), "nothing is known yet");
    assert_eq!(deliver_status_callbacks(&c, before).await, ["sent", "undelivered"]);
    assert_eq!(
        notices(&hc, &chat),
        vec![
            "[connector] A message of yours did not reach the user: the user last wrote more than 24 hours ago, so the channel only delivers approved templates (63016)."
        ]
    );
    assert_eq!(deliver_status_callbacks(&c, before).await.len(), 2, "the same callbacks again");
    assert_eq!(notices(&hc, &chat).len(), 1, "told once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_callback_signed_over_another_url_or_not_signed_is_refused() {
    let (c, hc) = start().await;
    let agent = hc.add_agent("Ana");
    let chat = escalate(&c, &hc).await;
    let before = c.twilio.status_callbacks().len();
    c.twilio.fail_later(63016, 1);
    let message = json!({"message": {"id": "M-f1", "chat": chat, "sender": agent, "type": "text", "message": "Hello?"}});
    c.hyperchat_event("messages:new", message).await;
    let undelivered = c.twilio.status_callbacks().into_iter().skip(before).find(|cb| cb.status() == "undelivered").unwrap();
    // Signed over the URL without the agent mark: a forger dropping or adding it is refused.
    let plain = "https://connector.example.com/twilio/status";
    let signature =
        connector_tests::twilio_signing::twilio_signature(connector_tests::twilio::FakeTwilio::AUTH_TOKEN, plain, &undelivered.params);
    let body = connector_tests::twilio_signing::encode_form(&undelivered.params).into_bytes();
    let mut forged = connector_tests::connector::request(
        body.clone(),
        &[("content-type", "application/x-www-form-urlencoded"), ("x-twilio-signature", &signature)],
    );
    *forged.uri_mut() = "/twilio/status?agent=1".parse().unwrap();
    assert_eq!(c.exchange(forged).await.status, 403);
    let mut unsigned = connector_tests::connector::request(body, &[("content-type", "application/x-www-form-urlencoded")]);
    *unsigned.uri_mut() = "/twilio/status?agent=1".parse().unwrap();
    assert_eq!(c.exchange(unsigned).await.status, 403);
    assert!(notices(&hc, &chat).is_empty(), "nothing told on a refused callback");
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
    assert_eq!((again.status, again.replies.len()), (200, 0));
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
    c.inbenta.on_message(
        "ann.lee@example.com",
        json!({"answers": [{"type": "answer", "message": "Thanks",
        "actions": [{"parameters": {"callback": "escalateToAgent", "data": form}}]}]}),
    );
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

/// Inbenta Messenger checks a webhook as it is registered: an empty GET with the secret in
/// `X-Hook-Signature` and `X-Inbenta-Challenge`, to be answered 200 with the challenge as plain
/// text (Messenger API "Webhooks" page). It got 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messengers_webhook_check_gets_its_challenge_back_as_plain_text_with_the_right_secret_only() {
    let (c, hc) = start_with_tickets().await;
    let check = bare(&c, "GET", &[("x-hook-signature", TICKET_SECRET), ("x-inbenta-challenge", "r4nd0m-Challenge")]).await;
    assert_eq!((check.status().as_u16(), check.body().as_ref()), (200, &b"r4nd0m-Challenge"[..]));
    assert_eq!(check.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/plain; charset=utf-8"));
    for secret in [Some("forged"), None] {
        let mut headers = vec![("x-inbenta-challenge", "r4nd0m-Challenge")];
        headers.extend(secret.map(|s| ("x-hook-signature", s)));
        let refused = bare(&c, "GET", &headers).await;
        assert_eq!(refused.status(), 403, "{secret:?}");
        assert!(!String::from_utf8_lossy(refused.body()).contains("r4nd0m"), "{secret:?}");
    }
    assert_nothing_reached_anyone(&c, &hc);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_ticket_secret_messengers_webhook_check_is_refused() {
    let (c, _hc) = start().await;
    for secret in ["", TICKET_SECRET] {
        let check = bare(&c, "GET", &[("x-hook-signature", secret), ("x-inbenta-challenge", "r4nd0m")]).await;
        assert_eq!(check.status(), 403, "{secret:?}");
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
