use super::*;
use crate::testing::ScriptedChatbot;
use serde_json::{Value, json};

const NOW: Timestamp = Timestamp(1_800_000_000);

fn labels() -> Labels {
    Labels::from_pairs([
        ("api_timeout", "Please, reformulate your question."),
        ("api_error", "Sorry, try again later."),
        ("unsupported_message", "Text only, please."),
        ("yes", "Yes"),
        ("no", "No"),
        ("date_format_hint", "(date format: mm/dd/yyyy)"),
    ])
}

struct Harness {
    bot: ScriptedChatbot,
    labels: Labels,
    policy: Policy,
    conv: Conversation,
}

impl Harness {
    fn new() -> Self {
        Self { bot: ScriptedChatbot::default(), labels: labels(), policy: Policy { bot_session_idle_secs: 1200 }, conv: Conversation::default() }
    }

    async fn say_at(&mut self, text: &str, now: Timestamp) -> Vec<Reply> {
        let engine = Engine { chatbot: &self.bot, labels: &self.labels, policy: &self.policy };
        engine.step(&mut self.conv, &UserInput::Text(text.into()), now).await
    }

    async fn say(&mut self, text: &str) -> Vec<Reply> {
        self.say_at(text, NOW).await
    }
}

fn msg(text: &str) -> BotInput {
    BotInput::Message(text.into())
}

fn answers(items: Value) -> Value {
    json!({ "answers": items })
}

fn choice(text: &str, options: &[&str], first_number: usize) -> Reply {
    Reply::Choice { text: text.into(), options: options.iter().map(|o| (*o).to_owned()).collect(), first_number }
}

fn multiple_choice() -> Value {
    answers(json!([{"type":"multipleChoiceQuestion","message":"Which one?","options":[
        {"label":"Opening hours","value":11,"attributes":{"title":"Opening hours"}},
        {"label":"Prices","value":12}
    ]}]))
}

#[tokio::test]
async fn a_plain_answer_becomes_one_text_reply_and_leaves_no_prompt() {
    let mut h = Harness::new();
    h.bot.on(msg("hello"), answers(json!([{"type":"answer","message":"<p>Hi!</p>"}])));
    assert_eq!(h.say("hello").await, vec![Reply::Text("<p>Hi!</p>".into())]);
    assert_eq!(h.conv.pending, None);
    assert_eq!(h.conv.messages_handled, 1);
}

#[tokio::test]
async fn chained_answers_become_replies_in_the_order_the_bot_gave_them() {
    let mut h = Harness::new();
    h.bot.on(msg("hello"), answers(json!([
        {"type":"answer","message":"First"},
        {"type":"answer","message":"Second"}
    ])));
    assert_eq!(h.say("hello").await, vec![Reply::Text("First".into()), Reply::Text("Second".into())]);
}

#[tokio::test]
async fn a_multiple_choice_question_is_offered_as_numbered_options_and_remembered() {
    let mut h = Harness::new();
    h.bot.on(msg("info"), multiple_choice());
    assert_eq!(h.say("info").await, vec![choice("Which one?", &["Opening hours", "Prices"], 1)]);
    assert_eq!(h.conv.pending.as_ref().map(|p| p.options.len()), Some(2));
}

#[tokio::test]
async fn answering_with_the_number_sends_that_options_value() {
    let mut h = Harness::new();
    h.bot.on(msg("info"), multiple_choice());
    h.say("info").await;
    h.say("2").await;
    assert_eq!(h.bot.sent().last(), Some(&BotInput::Option(json!(12))));
    assert_eq!(h.conv.pending, None);
}

#[tokio::test]
async fn answering_with_the_label_in_another_case_sends_that_options_value() {
    let mut h = Harness::new();
    h.bot.on(msg("info"), multiple_choice());
    h.say("info").await;
    h.say("OPENING HOURS").await;
    assert_eq!(h.bot.sent().last(), Some(&BotInput::Option(json!(11))));
}

#[tokio::test]
async fn a_reply_that_is_no_option_goes_to_the_bot_as_a_question_and_drops_the_prompt() {
    let mut h = Harness::new();
    h.bot.on(msg("info"), multiple_choice());
    h.say("info").await;
    h.say("2abc").await;
    assert_eq!(h.bot.sent().last(), Some(&msg("2abc")));
    assert_eq!(h.conv.pending, None);
}

#[tokio::test]
async fn polar_labels_are_shown_translated_and_accepted_raw_or_translated() {
    let mut h = Harness::new();
    h.bot.on(msg("help"), answers(json!([{"type":"polarQuestion","message":"Did it help?","options":[
        {"label":"yes","value":"yes"},{"label":"no","value":"no"}]}])));
    assert_eq!(h.say("help").await, vec![choice("Did it help?", &["Yes", "No"], 1)]);
    h.say("no").await;
    assert_eq!(h.bot.sent().last(), Some(&BotInput::Option(json!("no"))));
}

#[tokio::test]
async fn related_contents_and_a_following_question_share_one_numbering() {
    let mut h = Harness::new();
    h.bot.on(msg("card"), answers(json!([
        {"type":"answer","message":"About cards","parameters":{"contents":{"related":{"relatedTitle":"Related","relatedContents":[{"title":"Lost card"},{"title":"New card"}]}}}},
        {"type":"polarQuestion","message":"More?","options":[{"label":"yes","value":1},{"label":"no","value":2}]}
    ])));
    let replies = h.say("card").await;
    assert_eq!(replies, vec![
        Reply::Text("About cards".into()),
        choice("Related", &["Lost card", "New card"], 1),
        choice("More?", &["Yes", "No"], 3),
    ]);
    h.say("2").await;
    assert_eq!(h.bot.sent().last(), Some(&msg("New card")));
}

#[tokio::test]
async fn a_list_field_is_answered_by_a_synonym_and_sends_the_canonical_value() {
    let mut h = Harness::new();
    h.bot.on(msg("book"), answers(json!([{"type":"answer","message":"Pick a city","actionField":{"fieldType":"list","listValues":{"values":[
        {"option":"Madrid","label":["Madrid","MAD"]},{"option":"Roma","label":["Roma","Rome"]}]}}}])));
    assert_eq!(h.say("book").await, vec![choice("Pick a city", &["Madrid", "Roma"], 1)]);
    h.say("rome").await;
    assert_eq!(h.bot.sent().last(), Some(&msg("Roma")));
}

#[tokio::test]
async fn a_date_field_gets_the_date_format_hint() {
    let mut h = Harness::new();
    h.bot.on(msg("when"), answers(json!([{"type":"answer","message":"Your birthday?","actionField":{"fieldType":"datePicker"}}])));
    assert_eq!(h.say("when").await, vec![Reply::Text("Your birthday? (date format: mm/dd/yyyy)".into())]);
}

#[tokio::test]
async fn several_federated_results_are_offered_and_a_pick_is_shown_without_asking_the_bot() {
    let mut h = Harness::new();
    h.bot.on(msg("docs"), answers(json!([{"type":"extendedContentsAnswer","message":"Results","subAnswers":[
        {"type":"answer","message":"Doc one body","attributes":{"title":"Doc 1"},"parameters":{"contents":{"trackingCode":{"clickCode":"C1"}}}},
        {"type":"answer","message":"Doc two body","attributes":{"title":"Doc 2"},"parameters":{"contents":{"trackingCode":{"clickCode":"C2"}}}}
    ]}])));
    assert_eq!(h.say("docs").await, vec![choice("Results", &["Doc 1", "Doc 2"], 1)]);
    let calls_before = h.bot.sent().len();
    assert_eq!(h.say("2").await, vec![Reply::Text("Doc two body".into())]);
    assert_eq!(h.bot.sent().len(), calls_before);
    assert_eq!(h.bot.events.lock().unwrap()[0].data, json!({"code":"C2"}));
}

#[tokio::test]
async fn an_expired_bot_session_is_restarted_and_the_message_sent_again_once() {
    let mut h = Harness::new();
    h.say("first").await;
    h.bot.fail_next(ChatbotError::SessionExpired);
    let replies = h.say("second").await;
    assert_eq!(h.bot.sessions_started(), 2);
    assert_eq!(h.bot.sent(), vec![msg("first"), msg("second")]);
    assert_eq!(replies, vec![Reply::Text("Sorry, no results.".into())]);
}

#[tokio::test]
async fn a_bot_session_idle_too_long_is_replaced_before_sending() {
    let mut h = Harness::new();
    h.say_at("first", NOW).await;
    h.say_at("later", NOW.plus(std::time::Duration::from_secs(1300))).await;
    assert_eq!(h.bot.sessions_started(), 2);
    let tokens: Vec<String> = h.bot.inputs.lock().unwrap().iter().map(|(t, _)| t.clone()).collect();
    assert_eq!(tokens, vec!["session-1", "session-2"]);
}

#[tokio::test]
async fn a_bot_session_in_use_is_kept() {
    let mut h = Harness::new();
    h.say_at("first", NOW).await;
    h.say_at("again", NOW.plus(std::time::Duration::from_secs(1000))).await;
    h.say_at("again", NOW.plus(std::time::Duration::from_secs(2000))).await;
    assert_eq!(h.bot.sessions_started(), 1);
}

#[tokio::test]
async fn a_timeout_gives_the_api_timeout_label_and_keeps_the_pending_prompt() {
    let mut h = Harness::new();
    h.bot.on(msg("info"), multiple_choice());
    h.say("info").await;
    h.bot.fail_next(ChatbotError::Timeout);
    assert_eq!(h.say("1").await, vec![Reply::Text("Please, reformulate your question.".into())]);
    assert!(h.conv.pending.is_some());
    h.say("1").await;
    assert_eq!(h.bot.sent().last(), Some(&BotInput::Option(json!(11))));
}

#[tokio::test]
async fn an_unavailable_bot_gives_the_api_error_label() {
    let mut h = Harness::new();
    h.bot.fail_next(ChatbotError::Unavailable { status: 503 });
    assert_eq!(h.say("hello").await, vec![Reply::Text("Sorry, try again later.".into())]);
}

#[tokio::test]
async fn no_result_answers_are_counted_in_a_row_and_reset_by_an_answer() {
    let mut h = Harness::new();
    h.bot.on(msg("hello"), answers(json!([{"type":"answer","message":"Hi"}])));
    h.say("zzz").await;
    h.say("yyy").await;
    assert_eq!(h.conv.no_results_count, 2);
    h.say("hello").await;
    assert_eq!(h.conv.no_results_count, 0);
}

#[tokio::test]
async fn media_without_a_caption_is_answered_without_calling_the_bot() {
    let mut h = Harness::new();
    let engine = Engine { chatbot: &h.bot, labels: &h.labels, policy: &h.policy };
    let replies = engine.step(&mut h.conv, &UserInput::Media { caption: String::new() }, NOW).await;
    assert_eq!(replies, vec![Reply::Text("Text only, please.".into())]);
    assert!(h.bot.sent().is_empty());
}

#[tokio::test]
async fn media_with_a_caption_sends_the_caption_to_the_bot() {
    let mut h = Harness::new();
    let engine = Engine { chatbot: &h.bot, labels: &h.labels, policy: &h.policy };
    engine.step(&mut h.conv, &UserInput::Media { caption: "what is this".into() }, NOW).await;
    assert_eq!(h.bot.sent(), vec![msg("what is this")]);
}
