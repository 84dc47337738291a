//! End to end through the Twilio webhook handler, against the Inbenta and Twilio fakes (real
//! HTTP servers on loopback): every answer type, option replies, bot failures, signatures and
//! bad input.

use connector_tests::connector::{COMPANY_NUMBER, Connector, SMS_USER, WEBHOOK_URL, WHATSAPP_USER, request};
use connector_tests::inbenta::unrated;
use connector_tests::twilio::FakeTwilio;
use connector_tests::twilio_signing::{encode_form, inbound_form, twilio_signature};
use serde_json::{Value, json};
use std::time::Duration;

fn answers(items: Value) -> Value {
    json!({ "answers": items })
}

fn multiple_choice() -> Value {
    answers(json!([{"type":"multipleChoiceQuestion","message":"Which card?","flags":["multiple-options"],"options":[
        {"label":"Débito","value":21,"attributes":{"title":"Débito"}},
        {"label":"Crédito","value":22,"attributes":{"title":"Crédito"}}
    ]}]))
}

// ---------------------------------------------------------------- answer types

#[tokio::test]
async fn a_plain_answer_is_sent_back_to_the_sms_user_from_the_company_number() {
    let c = Connector::start().await;
    c.inbenta.on_message("hello", unrated("Hi! How can I help?"));
    let ex = c.sms("hello").await;
    assert_eq!(ex.status, 200);
    assert!(ex.body.contains("<Response/>"), "empty TwiML expected, got {}", ex.body);
    assert_eq!(ex.replies.len(), 1);
    assert_eq!(ex.replies[0].body, "Hi! How can I help?");
    assert_eq!(ex.replies[0].to, SMS_USER);
    assert_eq!(ex.replies[0].from, COMPANY_NUMBER);
    assert_eq!(c.inbenta.bot_inputs(), vec![json!({"message":"hello"})]);
}

#[tokio::test]
async fn the_conversation_is_started_with_the_configured_headers_and_body() {
    let c = Connector::start().await;
    c.sms("hello").await;
    let starts = c.inbenta.conversation_starts();
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0].header("x-inbenta-env"), Some("production"));
    assert_eq!(starts[0].header("x-inbenta-source"), Some("twilio"));
    assert_eq!(starts[0].header("x-inbenta-user-type"), Some("0"));
    let body = starts[0].json();
    assert_eq!(body["lang"], "en");
    assert_eq!(body["answers"]["answerAttributes"], json!(["ANSWER_TEXT"]));
    assert_eq!(body["answers"]["maxOptions"], 10);
    assert_eq!(body["forms"]["errorRetries"], 2);
}

#[tokio::test]
async fn chained_answers_arrive_in_order_in_as_few_messages_as_fit() {
    let c = Connector::start().await;
    c.inbenta.on_message(
        "hello",
        answers(json!([
            {"type":"answer","message":"First part."},
            {"type":"answer","message":"Second part."}
        ])),
    );
    let ex = c.sms("hello").await;
    assert_eq!(ex.replies.len(), 1);
    assert_eq!(ex.replies[0].body, "First part.\n\nSecond part.");
}

#[tokio::test]
async fn an_html_answer_becomes_text_with_links_lists_and_decoded_entities() {
    let c = Connector::start().await;
    c.inbenta.on_message("fees", unrated(
        "<p>Fees &amp; charges:</p><ul><li>Cards &ndash; free</li><li>Transfers: 1&nbsp;&euro;</li></ul><p>See <a href=\"https://bank.example/fees\">the fee table</a>.</p>",
    ));
    let ex = c.sms("fees").await;
    assert_eq!(ex.replies[0].body, "Fees & charges:\n\n- Cards – free\n- Transfers: 1 €\n\nSee the fee table (https://bank.example/fees).");
}

#[tokio::test]
async fn side_bubble_text_follows_the_main_unrated() {
    let c = Connector::start().await;
    c.inbenta.on_message(
        "hours",
        answers(json!([{"type":"answer","message":"9 to 5.","attributes":{"SIDEBUBBLE_TEXT":"<p>Closed on holidays.</p>"}}])),
    );
    assert_eq!(c.sms("hours").await.replies[0].body, "9 to 5.\n\nClosed on holidays.");
}

#[tokio::test]
async fn related_contents_are_numbered_and_a_number_asks_the_bot_about_that_title() {
    let c = Connector::start().await;
    c.inbenta.on_message(
        "cards",
        answers(json!([{"type":"answer","message":"About cards.","parameters":{"contents":{
        "related":{"relatedTitle":"Related","relatedContents":[{"id":1,"title":"Lost card"},{"id":2,"title":"New card"}]}}}}])),
    );
    c.inbenta.on_message("New card", unrated("Order it in the app."));
    let ex = c.sms("cards").await;
    assert_eq!(ex.replies[0].body, "About cards.\n\nRelated (type a number)\n1) Lost card\n2) New card");
    let ex = c.sms("2").await;
    assert_eq!(ex.replies[0].body, "Order it in the app.");
    assert_eq!(c.inbenta.bot_inputs().last(), Some(&json!({"message":"New card"})));
}

#[tokio::test]
async fn a_multiple_choice_answered_by_number_sends_that_option_value() {
    let c = Connector::start().await;
    c.inbenta.on_message("cards", multiple_choice());
    c.inbenta.on_option(22, unrated("Credit cards have a limit."));
    let ex = c.sms("cards").await;
    assert_eq!(ex.replies[0].body, "Which card? (type a number)\n1) Débito\n2) Crédito");
    assert_eq!(c.sms("2").await.replies[0].body, "Credit cards have a limit.");
    assert_eq!(c.inbenta.bot_inputs().last(), Some(&json!({"option":22})));
}

// ---------------------------------------------------------------- WhatsApp buttons and lists

/// A WhatsApp tap on a button or list item: its payload, and its title as `Body`.
async fn tap(c: &Connector, field: &str, title: &str, payload: &str) -> connector_tests::connector::Exchange {
    let mut params = inbound_form(WHATSAPP_USER, &format!("whatsapp:{COMPANY_NUMBER}"), title, &c.next_sid());
    params.push((field.into(), payload.into()));
    params.push((if field == "ListId" { "ListTitle" } else { "ButtonText" }.into(), title.into()));
    c.exchange(c.signed(&params)).await
}

#[tokio::test]
async fn a_whatsapp_question_with_two_options_is_two_buttons_made_once_and_a_tap_picks_its_option() {
    let c = Connector::start().await;
    c.inbenta.on_message("cards", multiple_choice());
    c.inbenta.on_option(22, unrated("Credit cards have a limit."));
    let asked = c.whatsapp("cards").await;
    assert_eq!(asked.replies.len(), 1);
    assert_eq!(asked.replies[0].choices(), ["Débito", "Crédito"]);
    assert_eq!(asked.replies[0].body, "Which card?", "the buttons' body, no numbers");
    let calls_before = c.store_calls.calls();
    c.whatsapp("cards").await;
    assert_eq!(c.twilio.contents().len(), 1, "the same buttons are made once");
    assert_eq!(
        c.store_calls.calls() - calls_before,
        5,
        "a plain message's three reads and two writes: the content's SID comes from memory, not the table"
    );
    let payload = asked.replies[0].payload_of("Crédito").expect("a payload per button");
    let picked = tap(&c, "ButtonPayload", "Crédito", &payload).await;
    assert_eq!(picked.text(), "Credit cards have a limit.");
    assert_eq!(c.inbenta.bot_inputs().last(), Some(&json!({"option":22})));
}

#[tokio::test]
async fn four_whatsapp_options_are_a_list_whose_tapped_item_picks_its_option() {
    let c = Connector::start().await;
    let options: Vec<Value> =
        (1..=4).map(|i| json!({"label": format!("Card {i}"), "value": 30 + i, "attributes": {"title": format!("Card {i}")}})).collect();
    c.inbenta.on_message(
        "cards",
        answers(json!([{"type":"multipleChoiceQuestion","message":"Which card?","flags":["multiple-options"],"options": options}])),
    );
    c.inbenta.on_option(33, unrated("Card 3 it is."));
    let asked = c.whatsapp("cards").await;
    let (_, types) = asked.replies[0].content.clone().expect("a content");
    assert_eq!(types["twilio/list-picker"]["button"], "Options");
    assert_eq!(asked.replies[0].choices(), ["Card 1", "Card 2", "Card 3", "Card 4"]);
    assert!(types["twilio/text"]["body"].as_str().is_some_and(|t| t.contains("3) Card 3")), "the numbered fallback rides along");
    let payload = asked.replies[0].payload_of("Card 3").unwrap();
    assert_eq!(tap(&c, "ListId", "Card 3", &payload).await.text(), "Card 3 it is.");
}

#[tokio::test]
async fn options_stay_numbered_text_on_sms_when_interactive_is_off_or_when_the_content_api_fails() {
    let c = Connector::start().await;
    c.inbenta.on_message("cards", multiple_choice());
    let numbered = "Which card? (type a number)\n1) Débito\n2) Crédito";
    assert_eq!(c.sms("cards").await.replies[0].body, numbered);
    c.twilio.fail_contents(1);
    let failed = c.whatsapp("cards").await;
    assert_eq!((failed.replies[0].body.as_str(), failed.replies[0].content.is_none()), (numbered, true));
    assert!(c.twilio.contents().is_empty());

    let off = Connector::start_with(&[], &[("twilio.toml", "interactive = false")]).await;
    off.inbenta.on_message("cards", multiple_choice());
    let text = off.whatsapp("cards").await;
    assert_eq!((text.replies[0].body.as_str(), text.replies[0].content.is_none()), (numbered, true));
    assert!(off.twilio.contents().is_empty());
}

#[tokio::test]
async fn a_multiple_choice_answered_by_label_ignores_case_and_accents() {
    let c = Connector::start().await;
    c.inbenta.on_message("cards", multiple_choice());
    c.sms("cards").await;
    c.sms("  DEBITO ").await;
    assert_eq!(c.inbenta.bot_inputs().last(), Some(&json!({"option":21})));
}

#[tokio::test]
async fn a_reply_that_only_starts_with_a_number_is_a_new_question() {
    let c = Connector::start().await;
    c.inbenta.on_message("cards", multiple_choice());
    c.sms("cards").await;
    c.sms("2abc").await;
    assert_eq!(c.inbenta.bot_inputs().last(), Some(&json!({"message":"2abc"})));
    c.sms("2").await;
    assert_eq!(c.inbenta.bot_inputs().last(), Some(&json!({"message":"2"})), "the prompt was dropped");
}

#[tokio::test]
async fn a_polar_question_is_answered_with_the_translated_label() {
    let c = Connector::start().await;
    c.inbenta.on_message(
        "help",
        answers(json!([{"type":"polarQuestion","message":"Did it help?","options":[
        {"label":"yes","value":"yes"},{"label":"no","value":"no"}]}])),
    );
    let ex = c.sms("help").await;
    assert_eq!(ex.replies[0].body, "Did it help? (type a number)\n1) Yes\n2) No");
    c.sms("yes").await;
    assert_eq!(c.inbenta.bot_inputs().last(), Some(&json!({"option":"yes"})));
}

#[tokio::test]
async fn options_survive_between_messages_because_they_live_in_the_state_store() {
    let c = Connector::start().await;
    c.inbenta.on_message("cards", multiple_choice());
    c.sms("cards").await;
    let key = connector_engine::ConversationKey::new(format!("twilio-{}-{}", &COMPANY_NUMBER[1..], &SMS_USER[1..]));
    let stored = c.store.load(&key, connector_engine::ports::Timestamp(0)).await.unwrap();
    assert_eq!(stored.conversation.awaiting.prompt().map(|p| p.options.len()), Some(2));
}

// ---------------------------------------------------------------- SMS vs WhatsApp

#[tokio::test]
async fn whatsapp_keeps_bold_and_italic_while_sms_gets_plain_text() {
    let c = Connector::start().await;
    c.inbenta.on_message("hours", unrated("<p>Open <strong>daily</strong>, <em>except</em> holidays.</p>"));
    assert_eq!(c.whatsapp("hours").await.replies[0].body, "Open *daily*, _except_ holidays.");
    assert_eq!(c.sms("hours").await.replies[0].body, "Open daily, except holidays.");
}

#[tokio::test]
async fn whatsapp_gets_each_image_as_its_own_media_message_and_sms_gets_links() {
    let c = Connector::start().await;
    c.inbenta.on_message(
        "map",
        unrated("<p>Here:</p><img src=\"https://cdn.example/a.png\"><img src=\"https://cdn.example/b.png\"><p>Bye.</p>"),
    );
    let wa = c.whatsapp("map").await;
    let shape: Vec<(&str, Vec<String>)> = wa.replies.iter().map(|m| (m.body.as_str(), m.media_urls.clone())).collect();
    assert_eq!(
        shape,
        vec![
            ("Here:", vec![]),
            ("", vec!["https://cdn.example/a.png".to_owned()]),
            ("", vec!["https://cdn.example/b.png".to_owned()]),
            ("Bye.", vec![]),
        ]
    );
    assert!(wa.replies.iter().all(|m| m.to == WHATSAPP_USER && m.from == format!("whatsapp:{COMPANY_NUMBER}")));
    let sms = c.sms("map").await;
    assert_eq!(sms.replies.len(), 1);
    assert_eq!(sms.replies[0].body, "Here:\n\nhttps://cdn.example/a.png\n\nhttps://cdn.example/b.png\n\nBye.");
}

#[tokio::test]
async fn a_video_iframe_is_sent_as_media_on_whatsapp() {
    let c = Connector::start().await;
    c.inbenta.on_message("video", unrated("<p>Watch:</p><iframe src=\"https://cdn.example/how.mp4\"></iframe>"));
    let wa = c.whatsapp("video").await;
    assert_eq!(wa.replies.last().map(|m| m.media_urls.clone()), Some(vec!["https://cdn.example/how.mp4".to_owned()]));
}

#[tokio::test]
async fn a_long_answer_is_split_on_sentence_boundaries_under_1600_characters_in_order() {
    let c = Connector::start().await;
    let sentences: Vec<String> = (1..=120).map(|i| format!("Sentence number {i} says something useful.")).collect();
    c.inbenta.on_message("terms", unrated(&format!("<p>{}</p>", sentences.join(" "))));
    let ex = c.sms("terms").await;
    assert!(ex.replies.len() >= 4, "{} messages", ex.replies.len());
    assert!(ex.replies.iter().all(|m| m.body.chars().count() <= FakeTwilio::MAX_BODY_CHARS));
    assert!(ex.replies.iter().all(|m| m.body.ends_with('.')), "every part ends on a sentence end");
    let rejoined = ex.replies.iter().map(|m| m.body.as_str()).collect::<Vec<_>>().join(" ");
    assert_eq!(rejoined, sentences.join(" "));
}

// ---------------------------------------------------------------- bot session and failures

#[tokio::test]
async fn an_expired_bot_session_is_restarted_without_the_user_noticing() {
    let c = Connector::start().await;
    c.inbenta.on_message("again", unrated("Still here."));
    c.sms("hello").await;
    c.inbenta.expire_sessions();
    let ex = c.sms("again").await;
    assert_eq!(ex.replies[0].body, "Still here.");
    assert_eq!(c.inbenta.conversation_starts().len(), 2);
}

#[tokio::test]
async fn the_access_token_is_obtained_once_for_many_messages() {
    let c = Connector::start().await;
    for text in ["one", "two", "three"] {
        c.sms(text).await;
    }
    c.whatsapp("four").await;
    assert_eq!(c.inbenta.count("/v1/auth"), 1);
}

#[tokio::test]
async fn a_refused_access_token_is_replaced_and_the_call_repeated() {
    let c = Connector::start().await;
    c.inbenta.on_message("two", unrated("Second."));
    c.sms("one").await;
    c.inbenta.expire_tokens();
    assert_eq!(c.sms("two").await.replies[0].body, "Second.");
    assert_eq!(c.inbenta.count("/v1/auth"), 2);
}

#[tokio::test]
async fn an_inbenta_timeout_gives_the_user_the_api_timeout_label_and_keeps_the_prompt() {
    let c = Connector::start_with(&[], &[("api.toml", "timeout_ms = 300")]).await;
    c.inbenta.on_message("cards", multiple_choice());
    c.inbenta.on_option(21, unrated("Debit it is."));
    c.sms("cards").await;
    c.inbenta.set_delay(Duration::from_millis(800));
    let ex = c.sms("1").await;
    assert_eq!(ex.status, 200);
    assert_eq!(ex.replies.len(), 1);
    assert_eq!(ex.replies[0].body, "Please, reformulate your question.");
    c.inbenta.set_delay(Duration::ZERO);
    assert_eq!(c.sms("1").await.replies[0].body, "Debit it is.", "the options were kept for a retry");
}

#[tokio::test]
async fn an_inbenta_server_error_is_retried_and_the_user_gets_the_real_answer_not_an_apology() {
    let c = Connector::start().await;
    c.inbenta.on_message("hello", unrated("Hello!"));
    c.sms("warm up").await;
    c.inbenta.fail_with(500, 1);
    let ex = c.sms("hello").await;
    assert_eq!(ex.status, 200);
    assert_eq!(ex.replies.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["Hello!"]);
}

#[tokio::test]
async fn an_inbenta_outage_past_the_retry_budget_gives_one_polite_message_and_the_next_message_works() {
    let c = Connector::start().await;
    c.inbenta.on_message("hello", unrated("Hello!"));
    c.sms("warm up").await;
    c.inbenta.fail_with(500, usize::MAX);
    let ex = c.sms("hello").await;
    assert_eq!(ex.status, 200);
    let said: Vec<&str> = ex.replies.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(said, ["Sorry, I can't answer right now. Please try again in a moment."]);
    assert!(c.inbenta.message_requests().len() >= 3, "retried before giving up");
    assert_eq!(c.queue.dead_letters().len(), 1, "kept aside with its cause");
    c.inbenta.fail_with(500, 0);
    assert_eq!(c.sms("hello").await.replies[0].body, "Hello!");
}

/// Twilio's client gives up after 300 ms here.
const FAST_TWILIO: (&str, &str) = ("twilio.toml", "timeout_ms = 300");

fn bodies(twilio: &FakeTwilio) -> Vec<String> {
    twilio.messages().into_iter().map(|m| m.body).collect()
}

#[tokio::test]
async fn a_reply_twilio_never_got_is_sent_once_more_after_twilio_says_it_does_not_have_it() {
    let c = Connector::start_with(&[], &[FAST_TWILIO]).await;
    c.inbenta.on_message("hello", unrated("Only once."));
    c.twilio.lose_requests(1);
    assert_eq!(c.sms("hello").await.status, 200);
    assert_eq!(bodies(&c.twilio), ["Only once."], "delivered, once");
    let asked = c.twilio.list_requests();
    assert_eq!(asked.len(), 1, "Twilio was asked once");
    let query = asked[0].query.clone().unwrap_or_default();
    assert!(query.contains(&format!("To={}", SMS_USER.replace('+', "%2B"))) && query.contains("From="), "{query}");
    assert_eq!(c.inbenta.bot_inputs().iter().filter(|i| **i == json!({"message": "hello"})).count(), 1, "the bot was asked once");
}

#[tokio::test]
async fn a_reply_twilio_got_but_answered_too_late_is_not_sent_again_once_twilio_lists_it() {
    let c = Connector::start_with(&[], &[FAST_TWILIO]).await;
    c.inbenta.on_message("hello", unrated("Only once."));
    c.twilio.answer_late(Duration::from_secs(1), 1);
    assert_eq!(c.sms("hello").await.status, 200);
    assert_eq!(bodies(&c.twilio), ["Only once."]);
    assert_eq!(c.twilio.list_requests().len(), 1, "Twilio was asked");
}

#[tokio::test]
async fn the_rest_of_a_turn_waits_behind_a_reply_in_doubt_and_each_message_goes_out_once_in_order() {
    let c = Connector::start_with(&[], &[FAST_TWILIO]).await;
    c.inbenta.on_message("map", unrated("<p>Here:</p><img src=\"https://cdn.example/a.png\"><p>Bye.</p>"));
    c.twilio.lose_requests(1);
    // The list cannot be read at first: the doubt is settled by a later attempt.
    c.twilio.fail_lists(1);
    let ex = c.whatsapp("map").await;
    assert_eq!(ex.status, 200);
    let shape: Vec<(String, usize)> = c.twilio.messages().into_iter().map(|m| (m.body, m.media_urls.len())).collect();
    assert_eq!(shape, [("Here:".to_owned(), 0), (String::new(), 1), ("Bye.".to_owned(), 0)]);
    assert_eq!(c.twilio.list_requests().len(), 2, "asked until Twilio answered");
}

#[tokio::test]
async fn every_reply_names_the_status_callback_and_a_bot_reply_reported_undelivered_later_is_only_acknowledged() {
    let c = Connector::start().await;
    c.inbenta.on_message("hello", unrated("Hi."));
    c.twilio.fail_later(30003, 1);
    let ex = c.sms("hello").await;
    assert_eq!(ex.replies[0].status_callback.as_deref(), Some("https://connector.example.com/twilio/status"), "no agent mark");
    let callbacks = c.twilio.status_callbacks();
    assert_eq!(callbacks.iter().map(|cb| cb.status()).collect::<Vec<_>>(), ["sent", "undelivered"]);
    for callback in &callbacks {
        let answer = c.status_callback(&callback.url, &callback.params).await;
        assert_eq!((answer.status, answer.replies.len()), (200, 0), "acknowledged, nothing sent");
        assert!(answer.body.contains("<Response/>"));
    }
    assert_eq!(c.twilio.messages().len(), 1);
}

#[tokio::test]
async fn a_whatsapp_user_who_moves_from_their_number_to_a_username_keeps_their_conversation_and_gets_replies_at_the_username() {
    let c = Connector::start().await;
    c.inbenta.on_message("cards", multiple_choice());
    c.inbenta.on_option(22, unrated("Credit it is."));
    let company = format!("whatsapp:{COMPANY_NUMBER}");
    let username = "whatsapp:US.13491208655302741918";
    // Twilio names both the number and the business-scoped id: the id is linked.
    let mut both = inbound_form(WHATSAPP_USER, &company, "cards", &c.next_sid());
    both.push(("ExternalUserId".into(), "US.13491208655302741918".into()));
    let asked = c.exchange(c.signed(&both)).await;
    assert!(asked.text().contains("Which card?"), "{}", asked.text());
    // Later the user writes with the username only, answering the pending question.
    let picked = c.exchange(c.signed(&inbound_form(username, &company, "2", &c.next_sid()))).await;
    assert_eq!(picked.replies.len(), 1);
    assert_eq!((picked.replies[0].body.as_str(), picked.replies[0].to.as_str()), ("Credit it is.", username));
}

#[tokio::test]
async fn a_whatsapp_username_never_linked_to_a_number_is_a_conversation_of_its_own() {
    let c = Connector::start().await;
    c.inbenta.on_message("cards", multiple_choice());
    c.inbenta.on_message("2", unrated("Two of what?"));
    let company = format!("whatsapp:{COMPANY_NUMBER}");
    // A number with a question pending, and no username named beside it.
    let asked = c.exchange(c.signed(&inbound_form(WHATSAPP_USER, &company, "cards", &c.next_sid()))).await;
    assert!(asked.text().contains("Which card?"), "{}", asked.text());
    let username = "whatsapp:US.99";
    let ex = c.exchange(c.signed(&inbound_form(username, &company, "2", &c.next_sid()))).await;
    assert_eq!((ex.replies.len(), ex.replies[0].to.as_str()), (1, username));
    assert_eq!(c.inbenta.bot_inputs().last(), Some(&json!({"message": "2"})), "the number's question is not the username's to answer");
}

#[tokio::test]
async fn with_status_callbacks_for_agents_only_a_bot_reply_names_none() {
    let c = Connector::start_with(&[], &[("twilio.toml", "status_callbacks = \"agent\"")]).await;
    c.inbenta.on_message("hello", unrated("Hi."));
    let ex = c.sms("hello").await;
    assert_eq!((ex.replies.len(), ex.replies[0].status_callback.as_deref()), (1, None));
    assert!(c.twilio.status_callbacks().is_empty());
}

#[tokio::test]
async fn a_media_message_without_text_gets_a_polite_answer_and_no_bot_call() {
    let c = Connector::start().await;
    let mut params = inbound_form(WHATSAPP_USER, &format!("whatsapp:{COMPANY_NUMBER}"), "", &c.next_sid());
    params.retain(|(k, _)| k != "NumMedia");
    params.push(("NumMedia".into(), "1".into()));
    params.push(("MediaUrl0".into(), "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME".into()));
    params.push(("MediaContentType0".into(), "image/jpeg".into()));
    let ex = c.exchange(c.signed(&params)).await;
    assert_eq!(ex.replies[0].body, "Sorry, I can only read text messages.");
    assert!(c.inbenta.bot_inputs().is_empty());
}

#[tokio::test]
async fn a_redelivered_message_is_answered_once() {
    let c = Connector::start().await;
    let params = inbound_form(SMS_USER, COMPANY_NUMBER, "hello", &c.next_sid());
    let first = c.exchange(c.signed(&params)).await;
    let second = c.exchange(c.signed(&params)).await;
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!((first.replies.len(), second.replies.len()), (1, 0));
    assert_eq!(c.inbenta.bot_inputs().len(), 1);
}

#[tokio::test]
async fn a_message_whose_reply_twilio_refused_for_now_is_sent_by_the_queues_retry_with_one_post() {
    let c = Connector::start().await;
    c.inbenta.on_message("hello", unrated("Hello!"));
    c.twilio.fail_with(503, 1);
    let params = inbound_form(SMS_USER, COMPANY_NUMBER, "hello", &c.next_sid());
    let first = c.exchange(c.signed(&params)).await;
    assert_eq!((first.status, first.replies.len()), (200, 1));
    assert_eq!(c.twilio.requests().len(), 2, "one refused, one accepted");
}

#[tokio::test]
async fn replies_twilio_refuses_for_bad_credentials_are_kept_for_the_retry() {
    let c = Connector::start().await;
    c.inbenta.on_message("hello", unrated("Hello!"));
    c.twilio.fail_with(401, 1);
    let params = inbound_form(SMS_USER, COMPANY_NUMBER, "hello", &c.next_sid());
    let answered = c.exchange(c.signed(&params)).await;
    assert_eq!((answered.status, answered.replies.len()), (200, 1));
}

// ---------------------------------------------------------------- signatures

fn assert_untouched(c: &Connector) {
    assert!(c.inbenta.requests().is_empty(), "Inbenta was called");
    assert!(c.twilio.requests().is_empty(), "Twilio was called");
    assert_eq!(c.store_calls.calls(), 0, "the store was touched");
}

/// Found from outside: a user id over DynamoDB's key limit gave 12 s of retries and a 503,
/// forever. It can never be stored, so it is refused at once and nothing is retried.
#[tokio::test]
async fn a_sender_id_too_long_to_store_is_refused_with_400_and_never_retried() {
    let c = Connector::start().await;
    let params = inbound_form(&format!("+{}", "3".repeat(3000)), COMPANY_NUMBER, "hello", &c.next_sid());
    let started = std::time::Instant::now();
    let ex = c.exchange(c.signed(&params)).await;
    assert_eq!((ex.status, ex.replies.len()), (400, 0));
    assert!(started.elapsed() < Duration::from_secs(1), "refused at once, not retried");
    assert!(c.inbenta.requests().is_empty());
    assert_eq!(c.store_calls.calls(), 0, "the store was not touched");
}

#[tokio::test]
async fn a_wrong_signature_is_refused_with_403_before_anything_happens() {
    let c = Connector::start().await;
    let params = inbound_form(SMS_USER, COMPANY_NUMBER, "hello", &c.next_sid());
    let forged = twilio_signature("not-the-token", WEBHOOK_URL, &params);
    let req = request(
        encode_form(&params).into_bytes(),
        &[("content-type", "application/x-www-form-urlencoded"), ("x-twilio-signature", &forged)],
    );
    assert_eq!(c.exchange(req).await.status, 403);
    assert_untouched(&c);
}

#[tokio::test]
async fn a_missing_signature_is_refused_with_403() {
    let c = Connector::start().await;
    let params = inbound_form(SMS_USER, COMPANY_NUMBER, "hello", &c.next_sid());
    let req = request(encode_form(&params).into_bytes(), &[("content-type", "application/x-www-form-urlencoded")]);
    assert_eq!(c.exchange(req).await.status, 403);
    assert_untouched(&c);
}

#[tokio::test]
async fn a_param_changed_after_signing_is_refused_with_403() {
    let c = Connector::start().await;
    let mut params = inbound_form(SMS_USER, COMPANY_NUMBER, "hello", &c.next_sid());
    let signature = twilio_signature(FakeTwilio::AUTH_TOKEN, WEBHOOK_URL, &params);
    for (k, v) in &mut params {
        if k == "From" {
            *v = "+15550000000".into();
        }
    }
    let req = request(
        encode_form(&params).into_bytes(),
        &[("content-type", "application/x-www-form-urlencoded"), ("x-twilio-signature", &signature)],
    );
    assert_eq!(c.exchange(req).await.status, 403);
    assert_untouched(&c);
}

#[tokio::test]
async fn a_correctly_signed_webhook_for_another_twilio_account_is_refused_with_403() {
    let c = Connector::start().await;
    let mut params = inbound_form(SMS_USER, COMPANY_NUMBER, "hello", &c.next_sid());
    for (k, v) in &mut params {
        if k == "AccountSid" {
            *v = "AC11111111111111111111111111111111".into();
        }
    }
    let ex = c.exchange(c.signed(&params)).await;
    assert_eq!(ex.status, 403);
    assert!(ex.body.contains("another Twilio account"), "{}", ex.body);
    assert_untouched(&c);
}

#[tokio::test]
async fn a_correctly_signed_webhook_without_an_account_is_refused() {
    let c = Connector::start().await;
    let mut params = inbound_form(SMS_USER, COMPANY_NUMBER, "hello", &c.next_sid());
    params.retain(|(k, _)| k != "AccountSid");
    let ex = c.exchange(c.signed(&params)).await;
    assert_eq!(ex.status, 400);
    assert_untouched(&c);
}

#[tokio::test]
async fn a_signature_over_the_url_with_the_default_port_is_accepted() {
    let c = Connector::start().await;
    let params = inbound_form(SMS_USER, COMPANY_NUMBER, "hello", &c.next_sid());
    let with_port = WEBHOOK_URL.replace("example.com/", "example.com:443/");
    let signature = twilio_signature(FakeTwilio::AUTH_TOKEN, &with_port, &params);
    let req = request(
        encode_form(&params).into_bytes(),
        &[("content-type", "application/x-www-form-urlencoded"), ("x-twilio-signature", &signature)],
    );
    assert_eq!(c.exchange(req).await.status, 200);
}

// ---------------------------------------------------------------- bad input

#[tokio::test]
async fn an_empty_body_is_refused_without_any_upstream_call() {
    let c = Connector::start().await;
    let signature = twilio_signature(FakeTwilio::AUTH_TOKEN, WEBHOOK_URL, &[]);
    let req = request(Vec::new(), &[("content-type", "application/x-www-form-urlencoded"), ("x-twilio-signature", &signature)]);
    let ex = c.exchange(req).await;
    assert_eq!(ex.status, 400);
    assert_untouched(&c);
}

#[tokio::test]
async fn a_json_body_is_refused_without_any_upstream_call() {
    let c = Connector::start().await;
    let req = request(
        br#"{"From":"+34600000001","Body":"hi"}"#.to_vec(),
        &[("content-type", "application/json"), ("x-twilio-signature", "abc=")],
    );
    assert_eq!(c.exchange(req).await.status, 415);
    assert_untouched(&c);
}

#[tokio::test]
async fn a_correctly_signed_form_without_from_or_to_is_a_bad_request() {
    let c = Connector::start().await;
    for missing in ["From", "To"] {
        let mut params = inbound_form(SMS_USER, COMPANY_NUMBER, "hello", &c.next_sid());
        params.retain(|(k, _)| k != missing);
        let ex = c.exchange(c.signed(&params)).await;
        assert_eq!(ex.status, 400, "without {missing}");
        assert!(ex.body.contains(missing));
    }
    assert_untouched(&c);
}

#[tokio::test]
async fn a_huge_body_is_refused_without_any_upstream_call() {
    let c = Connector::start().await;
    let params = inbound_form(SMS_USER, COMPANY_NUMBER, &"x".repeat(200_000), &c.next_sid());
    let ex = c.exchange(c.signed(&params)).await;
    assert_eq!(ex.status, 413);
    assert_untouched(&c);
}

#[tokio::test]
async fn garbage_bytes_never_panic_and_are_refused() {
    let c = Connector::start().await;
    let bodies: [&[u8]; 4] = [b"%%%%", b"\xff\xfe\x00garbage", b"From=%E0%A4%A&To", b"=&=&&=="];
    for body in bodies {
        let req = request(body.to_vec(), &[("content-type", "application/x-www-form-urlencoded"), ("x-twilio-signature", "AAAA")]);
        let status = c.exchange(req).await.status;
        assert!((400..500).contains(&status), "{status}");
    }
    assert_untouched(&c);
}

#[tokio::test]
async fn a_get_request_is_refused() {
    let c = Connector::start().await;
    let req = http::Request::builder().method("GET").uri("/twilio").body(bytes::Bytes::new()).unwrap();
    assert_eq!(c.exchange(req).await.status, 405);
    assert_untouched(&c);
}

/// A text whose picture makes three WhatsApp messages.
const MAP: &str = "<p>Here:</p><img src=\"https://cdn.example/a.png\"><p>Bye.</p>";

/// A conversation's events can come in two queue groups (a WhatsApp user's number and
/// username), so the attempt that left a turn part-delivered may still be running: the next
/// turn waits until that attempt's budget is over before it finishes the earlier replies, and
/// then sends each once.
#[tokio::test]
async fn a_turn_waits_for_an_earlier_turn_that_may_still_be_sending_before_finishing_its_replies() {
    use connector_core::store::{LastSend, Progress};
    use connector_engine::Reply;
    use connector_engine::ports::{Clock, SystemClock};
    use connector_engine::values::MessageId;
    let budget = ("queue.toml", "retry_budget_secs = 30\nbackoff_initial_ms = 200\nbackoff_max_ms = 1000\nprocessing_budget_ms = 3000\n");
    let c = Connector::start_with(&[], &[budget]).await;
    c.inbenta.on_message("hello", unrated("Hi."));
    c.inbenta.on_message("then", unrated("Next."));
    assert_eq!(c.whatsapp("hello").await.replies.len(), 1);
    // Another attempt committed a three-message turn and started its first send just now.
    let key = format!("twilio-whatsapp{}-{}", &COMPANY_NUMBER[1..], WHATSAPP_USER.replace([':', '+'], ""));
    let other = MessageId::new("twilio", "SM-other-attempt");
    c.commit_replies_of(&key, &other, vec![Reply::Text(MAP.into())]).await;
    let now = SystemClock.now();
    let started = Progress { attempted: 1, total: 3, last_send: LastSend::Started(now) };
    c.store.record_progress(&other, started, connector_engine::ports::Timestamp(now.0 + 3600)).await.unwrap();

    let began = std::time::Instant::now();
    let ex = c.whatsapp("then").await;
    let waited = began.elapsed();
    let shape: Vec<(&str, usize)> = ex.replies.iter().map(|m| (m.body.as_str(), m.media_urls.len())).collect();
    assert_eq!(
        shape,
        [("Here:", 0), ("", 1), ("Bye.", 0), ("Next.", 0)],
        "the earlier turn's replies once each (Twilio said it never got the first), then this one"
    );
    assert!(waited >= Duration::from_secs(3), "waited {waited:?}: not before the other attempt's budget was over");
    assert_eq!(c.inbenta.bot_inputs().iter().filter(|i| **i == json!({"message": "then"})).count(), 1, "the bot was asked once");
}
