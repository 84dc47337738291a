use super::*;
use crate::conversation::{BotSession, ChatStage, PromptKind, RatingChoice};
use crate::ports::{BotInput, ChatOrigin, ChatRequest, Surveys, TrackingEvent, WithSurveys};
use crate::reply::{ChoiceOption, Link};
use crate::survey::{Expects, Question, Survey, SurveyAnswer, SurveyChoice};
use crate::testing::{ScriptedChannel, ScriptedChatbot, ScriptedLiveChat};
use crate::values::{ChatRef, FileContent};
use async_trait::async_trait;
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
        ("type_a_number", "(type a number)"),
        ("rate_content_intro", "Was this answer helpful?"),
        ("thanks", "Thanks!"),
        ("ask_rating_comment", "Please tell us why"),
        ("no_rating_given", "We understand you do not want to rate."),
        ("ask_to_escalate", "Do you want to start a chat with a human agent?"),
        ("escalation_rejected", "What else can I do for you?"),
        ("no_agents", "No agents available"),
        ("creating_chat", "I will try to connect you with an agent. Please wait."),
        ("ask_for_survey", "Would you like to answer a short survey?"),
        ("ask_to_continue_survey", "Do you want to go on with the survey?"),
    ])
}

fn ratings(enabled: bool) -> ContentRatings {
    ContentRatings {
        enabled,
        ratings: vec![
            crate::settings::Rating { id: 1, label: "yes".into(), comment: false, is_negative: false },
            crate::settings::Rating { id: 2, label: "no".into(), comment: true, is_negative: true },
        ],
    }
}

/// What the live-chat service says beyond `ScriptedLiveChat`: its own queue setting, who is no
/// agent, its app and region, and whether those calls fail.
#[derive(Default)]
struct Service {
    /// HyperChat's `settings.queue.active`; `None`: the service has no such setting.
    queue_mode: Option<bool>,
    settings_down: bool,
    not_agents: Vec<String>,
    users_down: bool,
    origin: ChatOrigin,
}

/// `ScriptedLiveChat` answering as `Service` says, with `surveys` after its chats.
struct Tuned<'a> {
    chat: &'a ScriptedLiveChat,
    service: &'a Service,
    surveys: Option<&'a ScriptedSurveys>,
}

/// The survey service: starts `survey` for any ticket, records what it is asked.
#[derive(Default)]
struct ScriptedSurveys {
    survey: Option<Survey>,
    /// `start` calls: chat and ticket.
    started: std::sync::Mutex<Vec<(String, String)>>,
    /// Submitted answers (question, value), one list per submit.
    submitted: std::sync::Mutex<Vec<Vec<(String, String)>>>,
    /// The next `start` or `submit` fails with this.
    failing: std::sync::Mutex<Option<LiveChatError>>,
}

#[async_trait]
impl Surveys for ScriptedSurveys {
    async fn start(&self, chat_id: &str, ticket_id: &str) -> Result<Option<Survey>, LiveChatError> {
        if let Some(error) = self.failing.lock().unwrap().take() {
            return Err(error);
        }
        self.started.lock().unwrap().push((chat_id.to_owned(), ticket_id.to_owned()));
        Ok(self.survey.clone())
    }

    async fn submit(&self, survey: &Survey, answers: &[SurveyAnswer]) -> Result<(), LiveChatError> {
        if let Some(error) = self.failing.lock().unwrap().take() {
            return Err(error);
        }
        assert_eq!(survey.token, "tok-1", "submitted with the token the start gave");
        self.submitted.lock().unwrap().push(answers.iter().map(|a| (a.question.clone(), a.value.clone())).collect());
        Ok(())
    }
}

#[async_trait]
impl LiveChat for Tuned<'_> {
    async fn agents_available(&self) -> Result<bool, LiveChatError> {
        self.chat.agents_available().await
    }
    async fn open_chat(&self, request: &ChatRequest) -> Result<ChatRef, LiveChatError> {
        self.chat.open_chat(request).await
    }
    async fn send_message(&self, chat: &ChatRef, text: &str) -> Result<(), LiveChatError> {
        self.chat.send_message(chat, text).await
    }
    async fn send_file(&self, chat: &ChatRef, file: &FileContent) -> Result<(), LiveChatError> {
        self.chat.send_file(chat, file).await
    }
    async fn close_chat(&self, chat: &ChatRef) -> Result<(), LiveChatError> {
        self.chat.close_chat(chat).await
    }
    async fn abandon_chat(&self, chat_id: &str) -> Result<(), LiveChatError> {
        self.chat.abandon_chat(chat_id).await
    }
    async fn agent_name(&self, agent_id: &str) -> Result<String, LiveChatError> {
        self.chat.agent_name(agent_id).await
    }
    async fn chat_owner(&self, chat_id: &str) -> Result<Option<String>, LiveChatError> {
        self.chat.chat_owner(chat_id).await
    }
    fn origin(&self) -> ChatOrigin {
        self.service.origin.clone()
    }
    async fn queue_mode(&self) -> Result<Option<bool>, LiveChatError> {
        if self.service.settings_down {
            return Err(LiveChatError::Unavailable("settings down".into()));
        }
        Ok(self.service.queue_mode)
    }
    async fn is_agent(&self, user_id: &str) -> Result<bool, LiveChatError> {
        if self.service.users_down {
            return Err(LiveChatError::Unavailable("users down".into()));
        }
        Ok(!self.service.not_agents.iter().any(|u| u == user_id))
    }
    fn surveys(&self) -> Option<&dyn Surveys> {
        self.surveys.map(|surveys| surveys as &dyn Surveys)
    }
}

struct Harness {
    bot: ScriptedChatbot,
    agents: ScriptedLiveChat,
    service: Service,
    channel: ScriptedChannel,
    labels: Labels,
    policy: Policy,
    only_chat: bool,
    on_outage: OnOutage,
    conv: Conversation,
    /// The survey after a chat, when one is configured.
    surveys: Option<ScriptedSurveys>,
}

impl Harness {
    fn new() -> Self {
        Self {
            bot: ScriptedChatbot::default(),
            agents: ScriptedLiveChat::with_agents(1),
            service: Service::default(),
            channel: ScriptedChannel::default(),
            labels: labels(),
            policy: Policy {
                bot_session_idle_secs: 1200,
                ratings: ratings(false),
                escalation: EscalationPolicy::default(),
                digester: Digester::default(),
            },
            only_chat: false,
            on_outage: OnOutage::Apologise,
            conv: Conversation::default(),
            surveys: None,
        }
    }

    /// Escalation on, after `tries` no-results or `negatives` negative ratings; ratings on.
    fn escalating(tries: u32, negatives: u32) -> Self {
        let mut h = Self::new();
        h.policy.ratings = ratings(true);
        h.policy.escalation = EscalationPolicy {
            enabled: true,
            tries_before_escalation: tries,
            negative_ratings_before_escalation: negatives,
            ..Default::default()
        };
        h
    }

    async fn say_at(&mut self, text: &str, now: Timestamp) -> Vec<Reply> {
        self.input(&UserInput::Text(text.into()), now).await
    }

    async fn input(&mut self, input: &UserInput, now: Timestamp) -> Vec<Reply> {
        self.handle(&Input::User(input.clone()), now).await
    }

    async fn handle(&mut self, input: &Input, now: Timestamp) -> Vec<Reply> {
        self.turn(input, now).await.unwrap_or_else(|outage| outage.apology.expect("apologised").replies)
    }

    async fn turn(&mut self, input: &Input, now: Timestamp) -> Result<Vec<Reply>, Outage> {
        self.outcome(input, now).await.map(|step| step.replies)
    }

    /// The whole step: the replies and what the agent hears of them.
    async fn outcome(&mut self, input: &Input, now: Timestamp) -> Result<Step, Outage> {
        let live_chat = Tuned { chat: &self.agents, service: &self.service, surveys: self.surveys.as_ref() };
        let engine = Engine {
            chatbot: &self.bot,
            live_chat: &live_chat,
            channel: &self.channel,
            labels: &self.labels,
            policy: &self.policy,
            only_chat: self.only_chat,
            external_id: "twilio-1-2",
            deadline: None,
            on_outage: self.on_outage,
        };
        engine.handle(&mut self.conv, input, now).await
    }

    async fn say(&mut self, text: &str) -> Vec<Reply> {
        self.say_at(text, NOW).await
    }

    async fn chat_event(&mut self, event: ChatEvent) -> Vec<Reply> {
        self.event_of("chat-1", event).await
    }

    async fn event_of(&mut self, chat_id: &str, event: ChatEvent) -> Vec<Reply> {
        self.handle(&Input::Chat { chat_id: chat_id.into(), event }, NOW).await
    }
}

fn msg(text: &str) -> BotInput {
    BotInput::Message(text.into())
}

fn answers(items: Value) -> Value {
    json!({ "answers": items })
}

fn choice(text: &str, options: &[&str], first_number: usize) -> Reply {
    Reply::Choice {
        text: text.into(),
        options: options.iter().map(|o| ChoiceOption::new(*o)).collect(),
        first_number,
        number_hint: "(type a number)".into(),
    }
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
    assert_eq!(h.conv.awaiting, crate::conversation::Awaiting::Nothing);
    assert_eq!(h.conv.messages_handled, 1);
}

#[tokio::test]
async fn chained_answers_become_replies_in_the_order_the_bot_gave_them() {
    let mut h = Harness::new();
    h.bot.on(
        msg("hello"),
        answers(json!([
            {"type":"answer","message":"First"},
            {"type":"answer","message":"Second"}
        ])),
    );
    assert_eq!(h.say("hello").await, vec![Reply::Text("First".into()), Reply::Text("Second".into())]);
}

#[tokio::test]
async fn a_multiple_choice_question_is_offered_as_numbered_options_and_remembered() {
    let mut h = Harness::new();
    h.bot.on(msg("info"), multiple_choice());
    assert_eq!(h.say("info").await, vec![choice("Which one?", &["Opening hours", "Prices"], 1)]);
    assert_eq!(h.conv.awaiting.prompt().map(|p| p.options.len()), Some(2));
}

#[tokio::test]
async fn answering_with_the_number_sends_that_options_value() {
    let mut h = Harness::new();
    h.bot.on(msg("info"), multiple_choice());
    h.say("info").await;
    h.say("2").await;
    assert_eq!(h.bot.sent().last(), Some(&BotInput::Option(json!(12))));
    assert_eq!(h.conv.awaiting, crate::conversation::Awaiting::Nothing);
}

#[tokio::test]
async fn answering_with_the_label_in_another_case_sends_that_options_value() {
    let mut h = Harness::new();
    h.bot.on(msg("info"), multiple_choice());
    h.say("info").await;
    h.say("OPENING HOURS").await;
    assert_eq!(h.bot.sent().last(), Some(&BotInput::Option(json!(11))));
}

async fn tap(h: &mut Harness, number: usize, label: &str) -> Vec<Reply> {
    h.input(&UserInput::Pick(Tap { number, label: label.into() }), NOW).await
}

#[tokio::test]
async fn a_tapped_button_sends_its_options_value() {
    let mut h = Harness::new();
    h.bot.on(msg("info"), multiple_choice());
    h.say("info").await;
    tap(&mut h, 2, "Prices").await;
    assert_eq!(h.bot.sent().last(), Some(&BotInput::Option(json!(12))));
}

#[tokio::test]
async fn a_tap_on_an_older_questions_button_counts_as_its_label_typed() {
    let mut h = Harness::new();
    h.bot.on(msg("info"), multiple_choice());
    h.say("info").await;
    // Number 1 of the pending question is "Opening hours": the stale "Sales" button is no pick.
    tap(&mut h, 1, "Sales").await;
    assert_eq!(h.bot.sent().last(), Some(&msg("Sales")));
    assert_eq!(h.conv.awaiting, crate::conversation::Awaiting::Nothing);
}

#[tokio::test]
async fn the_button_title_attribute_gives_options_a_short_title_that_also_answers() {
    let mut h = Harness::new();
    h.policy.digester.button_title = "BUTTON".into();
    h.bot.on(
        msg("info"),
        answers(json!([{"type":"multipleChoiceQuestion","message":"Which one?","options":[
            {"label":"Opening hours of every office","value":11,"attributes":{"BUTTON":"Hours"}},
            {"label":"Prices","value":12}
        ]}])),
    );
    let Reply::Choice { options, .. } = h.say("info").await.remove(0) else { panic!("not a choice") };
    assert_eq!(options[0].title(), "Hours");
    assert_eq!(options[1].title(), "Prices");
    h.say("hours").await;
    assert_eq!(h.bot.sent().last(), Some(&BotInput::Option(json!(11))));
}

#[tokio::test]
async fn complete_url_buttons_become_links_and_incomplete_ones_leave_the_plain_answer() {
    let mut h = Harness::new();
    h.policy.digester.url_buttons =
        crate::settings::UrlButtons { attribute_name: "LINKS".into(), button_title_var: "title".into(), button_url_var: "url".into() };
    h.bot.on(
        msg("web"),
        answers(json!([{"type":"answer","message":"See our site","attributes":{"LINKS":[
            {"title":"Shop","url":"https://shop.test"},{"title":"Help","url":"https://help.test"}
        ]}}])),
    );
    h.bot.on(msg("half"), answers(json!([{"type":"answer","message":"Half","attributes":{"LINKS":{"title":"Shop"}}}])));
    let links = vec![
        Link { title: "Shop".into(), url: "https://shop.test".into() },
        Link { title: "Help".into(), url: "https://help.test".into() },
    ];
    assert_eq!(h.say("web").await, vec![Reply::Links { text: "See our site".into(), links }]);
    assert_eq!(h.say("half").await, vec![text("Half")]);
}

#[tokio::test]
async fn a_reply_that_is_no_option_goes_to_the_bot_as_a_question_and_drops_the_prompt() {
    let mut h = Harness::new();
    h.bot.on(msg("info"), multiple_choice());
    h.say("info").await;
    h.say("2abc").await;
    assert_eq!(h.bot.sent().last(), Some(&msg("2abc")));
    assert_eq!(h.conv.awaiting, crate::conversation::Awaiting::Nothing);
}

#[tokio::test]
async fn polar_labels_are_shown_translated_and_accepted_raw_or_translated() {
    let mut h = Harness::new();
    h.bot.on(
        msg("help"),
        answers(json!([{"type":"polarQuestion","message":"Did it help?","options":[
        {"label":"yes","value":"yes"},{"label":"no","value":"no"}]}])),
    );
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
    assert_eq!(
        replies,
        vec![Reply::Text("About cards".into()), choice("Related", &["Lost card", "New card"], 1), choice("More?", &["Yes", "No"], 3),]
    );
    h.say("2").await;
    assert_eq!(h.bot.sent().last(), Some(&msg("New card")));
}

#[tokio::test]
async fn a_list_field_is_answered_by_a_synonym_and_sends_the_canonical_value() {
    let mut h = Harness::new();
    h.bot.on(
        msg("book"),
        answers(json!([{"type":"answer","message":"Pick a city","actionField":{"fieldType":"list","listValues":{"values":[
        {"option":"Madrid","label":["Madrid","MAD"]},{"option":"Roma","label":["Roma","Rome"]}]}}}])),
    );
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
    assert!(h.conv.awaiting.prompt().is_some());
    h.say("1").await;
    assert_eq!(h.bot.sent().last(), Some(&BotInput::Option(json!(11))));
}

#[tokio::test]
async fn a_bot_outage_on_an_attempt_that_will_be_retried_postpones_the_turn_with_no_apology() {
    let mut h = Harness::new();
    h.on_outage = OnOutage::Postpone;
    h.bot.fail_next(ChatbotError::Unavailable { status: 503 });
    let outage = h.turn(&Input::User(UserInput::Text("hello".into())), NOW).await.unwrap_err();
    assert_eq!(outage.apology, None);
    assert!(outage.cause.contains("503"), "{}", outage.cause);
}

#[tokio::test]
async fn a_refusal_by_the_bot_is_answered_at_once_even_when_retries_would_come() {
    let mut h = Harness::new();
    h.on_outage = OnOutage::Postpone;
    h.bot.fail_next(ChatbotError::Rejected { code: 400, message: "bad".into() });
    let outage = h.turn(&Input::User(UserInput::Text("hello".into())), NOW).await.unwrap_err();
    assert_eq!(outage.apology.map(|step| step.replies), Some(vec![Reply::Text("Sorry, try again later.".into())]));
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
    let replies = h.input(&UserInput::Media { caption: String::new(), files: vec![] }, NOW).await;
    assert_eq!(replies, vec![Reply::Text("Text only, please.".into())]);
    assert!(h.bot.sent().is_empty());
}

#[tokio::test]
async fn media_with_a_caption_sends_the_caption_to_the_bot() {
    let mut h = Harness::new();
    h.input(&UserInput::Media { caption: "what is this".into(), files: vec![] }, NOW).await;
    assert_eq!(h.bot.sent(), vec![msg("what is this")]);
}

// ------------------------------------------------------------------ ratings, escalation

fn rateable(text: &str) -> Value {
    answers(json!([{"type":"answer","message":text,"parameters":{"contents":{"trackingCode":{"rateCode":"RC1","clickCode":"CC1"}}}}]))
}

fn rating_choice() -> Reply {
    choice("Was this answer helpful?", &["Yes", "No"], 1)
}

fn escalation_choice() -> Reply {
    choice("Do you want to start a chat with a human agent?", &["Yes", "No"], 1)
}

fn text(t: &str) -> Reply {
    Reply::Text(t.into())
}

#[tokio::test]
async fn a_rateable_answer_is_followed_by_the_rating_question() {
    let mut h = Harness::escalating(0, 0);
    h.bot.on(msg("hours"), rateable("9 to 5"));
    assert_eq!(h.say("hours").await, vec![text("9 to 5"), rating_choice()]);
}

#[tokio::test]
async fn no_rating_is_asked_when_ratings_are_off_or_the_answer_forbids_it_or_options_are_pending() {
    let mut h = Harness::new();
    h.bot.on(msg("hours"), rateable("9 to 5"));
    assert_eq!(h.say("hours").await, vec![text("9 to 5")], "ratings disabled");
    let mut h = Harness::escalating(0, 0);
    h.bot.on(msg("hours"), answers(json!([{"type":"answer","message":"9 to 5","flags":["no-rating"],"parameters":{"contents":{"trackingCode":{"rateCode":"RC1"}}}}])));
    assert_eq!(h.say("hours").await, vec![text("9 to 5")], "no-rating flag");
    h.bot.on(
        msg("cards"),
        answers(json!([
        {"type":"answer","message":"Cards","parameters":{"contents":{"trackingCode":{"rateCode":"RC2"}}}},
        {"type":"polarQuestion","message":"More?","options":[{"label":"yes","value":1},{"label":"no","value":2}]}])),
    );
    assert_eq!(h.say("cards").await, vec![text("Cards"), choice("More?", &["Yes", "No"], 1)], "options pending");
}

#[tokio::test]
async fn a_positive_rating_is_tracked_and_thanked_without_asking_the_bot() {
    let mut h = Harness::escalating(0, 0);
    h.bot.on(msg("hours"), rateable("9 to 5"));
    h.say("hours").await;
    assert_eq!(h.say("1").await, vec![text("Thanks!")]);
    let events = h.bot.events.lock().unwrap().clone();
    assert_eq!(events.last().map(|e| (e.kind.as_str(), e.data.clone())), Some(("rate", json!({"code":"RC1","value":1,"comment":null}))));
    assert_eq!(h.bot.sent(), vec![msg("hours")]);
}

#[tokio::test]
async fn a_rating_with_comment_asks_why_and_tracks_one_event_with_the_reason() {
    let mut h = Harness::escalating(0, 0);
    h.bot.on(msg("hours"), rateable("9 to 5"));
    h.say("hours").await;
    assert_eq!(h.say("no").await, vec![text("Please tell us why")]);
    assert!(h.bot.event_kinds().iter().all(|k| k != "rate"), "tracked before the reason");
    assert_eq!(h.say("Too vague").await, vec![text("Thanks!")]);
    let events = h.bot.events.lock().unwrap().clone();
    assert_eq!(events.iter().filter(|e| e.kind == "rate").count(), 1);
    assert_eq!(events.last().map(|e| e.data.clone()), Some(json!({"code":"RC1","value":2,"comment":"Too vague"})));
    assert_eq!(h.conv.negative_ratings_count, 1);
    assert_eq!(h.bot.sent(), vec![msg("hours")], "the reason is not a question for the bot");
}

#[tokio::test]
async fn a_reply_that_is_no_rating_says_so_and_goes_to_the_bot() {
    let mut h = Harness::escalating(0, 0);
    h.bot.on(msg("hours"), rateable("9 to 5"));
    h.bot.on(msg("prices"), answers(json!([{"type":"answer","message":"Cheap"}])));
    h.say("hours").await;
    assert_eq!(h.say("prices").await, vec![text("We understand you do not want to rate."), text("Cheap")]);
}

#[tokio::test]
async fn consecutive_no_results_offer_an_agent_when_one_is_available() {
    let mut h = Harness::escalating(2, 0);
    h.say("zzz").await;
    let replies = h.say("yyy").await;
    assert_eq!(replies, vec![text("Sorry, no results."), escalation_choice()]);
    assert_eq!(h.conv.awaiting.prompt().map(|p| p.kind), Some(PromptKind::Escalation));
}

#[tokio::test]
async fn with_no_agents_the_user_is_told_and_the_next_failure_offers_again() {
    let mut h = Harness::escalating(2, 0);
    h.agents = ScriptedLiveChat::with_agents(0);
    h.say("zzz").await;
    assert_eq!(h.say("yyy").await, vec![text("Sorry, no results."), text("No agents available")]);
    assert_eq!(h.conv.no_results_count, 1);
    assert!(h.bot.event_kinds().contains(&"CHAT_NO_AGENTS".to_owned()));
    assert_eq!(h.say("xxx").await.last(), Some(&text("No agents available")));
}

#[tokio::test]
async fn yes_to_the_offer_opens_a_live_chat_and_resets_the_counters() {
    let mut h = Harness::escalating(1, 0);
    h.say("zzz").await;
    let replies = h.say("1").await;
    assert_eq!(replies, vec![text("I will try to connect you with an agent. Please wait.")]);
    assert_eq!(h.conv.mode.chat_id(), Some("chat-1"));
    assert_eq!(h.agents.opened.lock().unwrap()[0].external_id, "twilio-1-2");
    assert_eq!(h.conv.no_results_count, 0);
}

#[tokio::test]
async fn an_opened_chat_is_tracked_as_chat_attended_with_its_id_app_and_region() {
    let mut h = Harness::escalating(1, 0);
    h.service.origin = ChatOrigin { app_id: "app-7".into(), region: "eu".into() };
    h.say("zzz").await;
    h.say("1").await;
    let events = h.bot.events.lock().unwrap().clone();
    let attended: Vec<&TrackingEvent> = events.iter().filter(|e| e.kind == "CHAT_ATTENDED").collect();
    assert_eq!(attended.len(), 1, "{events:?}");
    assert_eq!(attended[0].data, json!({"value": {"chatId": "chat-1", "appId": "app-7", "region": "eu"}}));
    assert!(!events.iter().any(|e| e.kind.starts_with("CONTACT_")), "{events:?}");
}

#[tokio::test]
async fn no_to_the_offer_is_answered_by_the_connector_not_sent_to_the_bot() {
    let mut h = Harness::escalating(1, 0);
    h.say("zzz").await;
    assert_eq!(h.say("No").await, vec![text("What else can I do for you?")]);
    assert_eq!(h.bot.sent(), vec![msg("zzz")]);
    assert_eq!(h.bot.event_kinds(), vec!["CHAT_ESCALATION_REJECTED".to_owned()], "the documented key, not CONTACT_REJECTED");
    assert_eq!((h.conv.no_results_count, h.conv.awaiting.prompt().cloned()), (0, None));
    assert!(h.agents.opened.lock().unwrap().is_empty());
}

#[tokio::test]
async fn consecutive_negative_ratings_offer_an_agent_instead_of_asking_why() {
    let mut h = Harness::escalating(0, 2);
    h.bot.on(msg("a"), rateable("A"));
    h.bot.on(msg("b"), rateable("B"));
    h.say("a").await;
    h.say("no").await;
    h.say("too short").await;
    h.say("b").await;
    assert_eq!(h.say("no").await, vec![text("Thanks!"), escalation_choice()]);
    assert_eq!(h.conv.negative_ratings_count, 2);
}

#[tokio::test]
async fn an_escalate_flag_or_setting_offers_an_agent_at_once() {
    for answer in [
        json!({"type":"answer","message":"Let me pass you on","flags":["escalate"]}),
        json!({"type":"answer","message":"Let me pass you on","attributes":{"ESCALATE":"TRUE"}}),
    ] {
        let mut h = Harness::escalating(0, 0);
        h.bot.on(msg("agent"), answers(json!([answer])));
        assert_eq!(h.say("agent").await, vec![text("Let me pass you on"), escalation_choice()]);
    }
}

#[tokio::test]
async fn with_the_live_chat_off_a_request_for_an_agent_hears_none_is_available_and_nothing_is_offered() {
    let mut h = Harness::new();
    h.bot.on(msg("agent"), answers(json!([{"type":"answer","message":"Passing you on","flags":["escalate"]}])));
    assert_eq!(h.say("agent").await, vec![text("Passing you on"), text("No agents available")]);
    assert_eq!(h.conv.awaiting, Awaiting::Nothing);
}

#[tokio::test]
async fn an_escalation_start_callback_tells_the_bot_about_agents_and_runs_its_form() {
    let mut h = Harness::escalating(0, 0);
    h.bot.on(msg("human"), answers(json!([{"type":"answer","message":"","actions":[{"parameters":{"callback":"escalationStart"}}]}])));
    h.bot.on(BotInput::DirectCall("escalationStart".into()), answers(json!([{"type":"answer","message":"Your first name?"}])));
    assert_eq!(h.say("human").await, vec![text("Your first name?")]);
    assert_eq!(h.bot.variables.lock().unwrap().clone(), vec![("agents_available".to_owned(), "true".to_owned())]);
}

#[tokio::test]
async fn a_completed_escalation_form_opens_a_chat_with_the_users_name_and_email() {
    let mut h = Harness::escalating(0, 0);
    h.bot.on(
        msg("a@b.c"),
        answers(json!([{"type":"answer","message":"Thanks","actions":[{"parameters":{"callback":"escalateToAgent","data":
        {"FIRST_NAME":"Ann","LAST_NAME":"Lee","EMAIL_ADDRESS":"a@b.c","INQUIRY":"Lost card"}}}]}])),
    );
    let replies = h.say("a@b.c").await;
    assert_eq!(replies, vec![text("Thanks"), text("I will try to connect you with an agent. Please wait.")]);
    let opened = h.agents.opened.lock().unwrap()[0].clone();
    assert_eq!((opened.name.as_str(), opened.contact.as_str()), ("Ann Lee", "a@b.c"));
    assert_eq!(opened.extra.get("INQUIRY"), Some(&json!("Lost card")));
    assert_eq!(h.conv.contact.as_deref(), Some("a@b.c"), "remembered for replies to the chat's ticket");
}

#[tokio::test]
async fn an_escalation_offer_replaces_the_bots_question_and_yes_starts_the_bots_form() {
    let mut h = Harness::escalating(0, 0);
    h.bot.on(
        msg("talk"),
        answers(json!([
        {"type":"answer","message":"We can call you","attributes":{"DIRECT_CALL":"escalationOffer"}},
        {"type":"polarQuestion","message":"Shall we?","options":[{"label":"yes","value":1},{"label":"no","value":2}]}])),
    );
    h.bot.on(BotInput::DirectCall("escalationStart".into()), answers(json!([{"type":"answer","message":"Your first name?"}])));
    assert_eq!(h.say("talk").await, vec![text("We can call you"), escalation_choice()]);
    assert_eq!(h.say("yes").await, vec![text("Your first name?")]);
}

#[tokio::test]
async fn picking_an_option_with_a_click_code_tracks_the_click() {
    let mut h = Harness::new();
    h.bot.on(
        msg("cards"),
        answers(json!([{"type":"answer","message":"Cards","parameters":{"contents":{"related":{"relatedTitle":"Related",
        "relatedContents":[{"title":"Lost card","trackingCode":{"clickCode":"CLICK-LOST"}}]}}}}])),
    );
    h.say("cards").await;
    h.say("1").await;
    assert_eq!(h.bot.events.lock().unwrap()[0].data, json!({"code":"CLICK-LOST"}));
}

#[tokio::test]
async fn only_chat_mode_never_asks_the_bot_and_opens_a_chat_or_says_no_agents() {
    let mut h = Harness::escalating(0, 0);
    h.only_chat = true;
    assert_eq!(h.say("hello").await, vec![text("I will try to connect you with an agent. Please wait.")]);
    assert!(h.say("still there?").await.is_empty(), "the open chat is not opened again");
    assert_eq!(h.agents.opened.lock().unwrap().len(), 1);
    h.agents = ScriptedLiveChat::with_agents(0);
    h.conv = Conversation::default();
    assert_eq!(h.say("hello").await, vec![text("No agents available")]);
    assert!(h.bot.sent().is_empty());
}

// ---------------------------------------------------------------- live chat

fn chat_one() -> ChatRef {
    ChatRef { chat_id: "chat-1".into(), user_id: "user-1".into() }
}

fn in_live_chat() -> Harness {
    let mut h = Harness::new();
    h.labels = h.labels.clone().overridden_by(
        [
            ("agent_joined", "Agent $agentName has joined the conversation."),
            ("chat_closed", "Chat closed"),
            ("close_chat_key_word", "/close"),
            ("queue_estimation", "There are $queuePosition people ahead of you."),
            ("queue_estimation_first", "There is one person ahead of you."),
            ("chat_message_not_delivered", "Not delivered."),
            ("file_not_delivered", "File not delivered."),
            ("file_too_large", "Too large (at most $maxSize)."),
            ("user_file_not_relayed", "[connector] A file did not reach you."),
            ("user_file_too_large", "[connector] A file over $maxSize did not reach you."),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    h.conv.mode = Mode::LiveChat { chat: chat_one(), stage: ChatStage::Queued, ticket: None };
    h
}

#[tokio::test]
async fn an_agent_joining_is_announced_with_their_name_and_the_chat_is_with_that_agent() {
    let mut h = in_live_chat();
    let replies = h.chat_event(ChatEvent::AgentJoined { agent_id: "A7".into() }).await;
    assert_eq!(replies, vec![text("Agent Agent A7 has joined the conversation.")]);
    assert_eq!(h.conv.mode, Mode::LiveChat { chat: chat_one(), stage: ChatStage::WithAgent { agent: "Agent A7".into() }, ticket: None });
}

/// Found from outside: an `invitations:accept` sent again with a new `created_at` announced
/// "Agent Smith has joined" a second time.
#[tokio::test]
async fn an_agent_who_already_joined_is_not_announced_again() {
    let mut h = in_live_chat();
    h.chat_event(ChatEvent::AgentJoined { agent_id: "A7".into() }).await;
    assert!(h.chat_event(ChatEvent::AgentJoined { agent_id: "A7".into() }).await.is_empty());
    let other = h.chat_event(ChatEvent::AgentJoined { agent_id: "B2".into() }).await;
    assert_eq!(other, vec![text("Agent Agent B2 has joined the conversation.")], "another agent taking over is news");
}

#[tokio::test]
async fn an_agents_message_is_passed_on_and_the_users_own_is_not_repeated_to_them() {
    let mut h = in_live_chat();
    let from_agent = ChatEvent::Message { sender: "A7".into(), text: "<p>Hi, how can I help?</p>".into() };
    assert_eq!(h.chat_event(from_agent).await, vec![text("<p>Hi, how can I help?</p>")]);
    assert!(h.chat_event(ChatEvent::Message { sender: "user-1".into(), text: "my own".into() }).await.is_empty());
    assert!(h.bot.inputs.lock().unwrap().is_empty());
    assert_eq!(h.conv.messages_handled, 0, "not a user message");
}

#[tokio::test]
async fn a_message_or_file_in_the_chat_from_someone_who_is_no_agent_is_not_passed_on() {
    let mut h = in_live_chat();
    h.service.not_agents = vec!["system".into()];
    assert!(h.chat_event(ChatEvent::Message { sender: "system".into(), text: "Chat transferred".into() }).await.is_empty());
    let file = SharedFile { url: "https://fn.test/f".into(), media_type: "image/png".into(), name: "a.png".into() };
    assert!(h.chat_event(ChatEvent::File { sender: "system".into(), file: file.clone() }).await.is_empty());
    assert_eq!(h.chat_event(ChatEvent::File { sender: "A7".into(), file: file.clone() }).await, vec![Reply::File(file)]);
}

#[tokio::test]
async fn a_message_whose_sender_cannot_be_checked_is_passed_on() {
    let mut h = in_live_chat();
    h.service.users_down = true;
    let message = ChatEvent::Message { sender: "A7".into(), text: "Hello".into() };
    assert_eq!(h.chat_event(message).await, vec![text("Hello")]);
}

#[tokio::test]
async fn the_users_messages_in_a_chat_go_to_the_agent_and_not_to_the_bot() {
    let mut h = in_live_chat();
    assert!(h.say("my card is blocked").await.is_empty(), "no acknowledgement");
    assert_eq!(*h.agents.messages.lock().unwrap(), vec![("chat-1".to_owned(), "my card is blocked".to_owned())]);
    assert!(h.bot.inputs.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_close_keyword_closes_the_chat_and_the_next_message_goes_to_the_bot() {
    let mut h = in_live_chat();
    assert_eq!(h.say("/close").await, vec![text("Chat closed")]);
    assert_eq!(*h.agents.closed.lock().unwrap(), vec!["chat-1".to_owned()]);
    assert_eq!(h.conv.mode, Mode::Closed { chat_id: "chat-1".into() });
    h.say("hello").await;
    assert_eq!(h.bot.sent(), vec![msg("hello")]);
    assert!(h.agents.messages.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_chat_the_agent_closed_hands_the_user_back_to_the_bot_with_the_counters_reset() {
    let mut h = in_live_chat();
    h.conv.no_results_count = 3;
    h.conv.negative_ratings_count = 2;
    assert_eq!(h.chat_event(ChatEvent::Closed).await, vec![text("Chat closed")]);
    assert_eq!((h.conv.no_results_count, h.conv.negative_ratings_count), (0, 0));
    h.say("hello").await;
    assert_eq!(h.bot.sent(), vec![msg("hello")]);
}

#[tokio::test]
async fn a_chat_no_agent_can_take_is_closed_upstream_and_the_user_told() {
    let mut h = in_live_chat();
    assert_eq!(h.chat_event(ChatEvent::NoAgentLeft).await, vec![text("Chat closed")]);
    assert_eq!(*h.agents.closed.lock().unwrap(), vec!["chat-1".to_owned()]);
    assert!(!matches!(h.conv.mode, Mode::LiveChat { .. }));
}

#[tokio::test]
async fn a_chat_no_agent_took_is_tracked_as_chat_unattended_and_one_an_agent_closed_is_not() {
    let session = || Some(BotSession { token: "S1".into(), started_at: NOW, last_used_at: NOW });
    let mut h = in_live_chat();
    h.conv.bot_session = session();
    h.chat_event(ChatEvent::NoAgentLeft).await;
    assert_eq!(h.bot.event_kinds(), vec!["CHAT_UNATTENDED".to_owned()]);
    assert_eq!(h.bot.events.lock().unwrap()[0].data, json!({"value": "true"}));

    let mut closed = in_live_chat();
    closed.conv.bot_session = session();
    closed.chat_event(ChatEvent::Closed).await;
    assert!(closed.bot.event_kinds().is_empty());
}

#[tokio::test]
async fn the_queue_position_is_told_only_when_the_room_queues() {
    let mut h = in_live_chat();
    assert!(h.chat_event(ChatEvent::QueuePosition(2)).await.is_empty(), "queue off");
    h.policy.escalation.queue.active = true;
    assert_eq!(h.chat_event(ChatEvent::QueuePosition(1)).await, vec![text("There is one person ahead of you.")]);
    assert_eq!(h.chat_event(ChatEvent::QueuePosition(3)).await, vec![text("There are 3 people ahead of you.")]);
    assert!(h.chat_event(ChatEvent::QueuePosition(0)).await.is_empty(), "nobody ahead: nothing to say");
}

/// Found from outside: a room in queue mode never told the user their place, since only the
/// configuration (`chat.queue.active`, off by default) was read, not HyperChat's settings.
#[tokio::test]
async fn the_queue_position_follows_hyperchats_own_queue_setting_over_the_configuration() {
    let mut h = in_live_chat();
    h.service.queue_mode = Some(true);
    assert_eq!(h.chat_event(ChatEvent::QueuePosition(2)).await, vec![text("There are 2 people ahead of you.")], "configuration off");
    h.service.queue_mode = Some(false);
    h.policy.escalation.queue.active = true;
    assert!(h.chat_event(ChatEvent::QueuePosition(2)).await.is_empty(), "HyperChat says the room does not queue");
}

#[tokio::test]
async fn when_hyperchats_settings_cannot_be_read_the_configuration_decides_the_queue_position() {
    let mut h = in_live_chat();
    h.service.settings_down = true;
    assert!(h.chat_event(ChatEvent::QueuePosition(2)).await.is_empty());
    h.policy.escalation.queue.active = true;
    assert_eq!(h.chat_event(ChatEvent::QueuePosition(2)).await, vec![text("There are 2 people ahead of you.")]);
}

/// Without a survey configured, the ticket of a closed chat says nothing to the user.
#[tokio::test]
async fn the_ticket_of_the_closed_chat_is_remembered_without_a_survey_and_late_events_reopen_nothing() {
    let mut h = in_live_chat();
    h.chat_event(ChatEvent::Closed).await;
    assert!(h.chat_event(ChatEvent::Message { sender: "A7".into(), text: "late".into() }).await.is_empty());
    assert!(h.chat_event(ChatEvent::AgentJoined { agent_id: "A7".into() }).await.is_empty());
    assert!(h.chat_event(ChatEvent::TicketCreated { ticket_id: "T1".into() }).await.is_empty());
    assert_eq!((h.conv.mode.clone(), h.conv.ticket.as_deref()), (Mode::Bot, Some("T1")));
    assert_eq!(h.conv.awaiting, Awaiting::Nothing);
}

#[tokio::test]
async fn an_event_of_another_chat_says_nothing_and_changes_nothing() {
    let mut h = in_live_chat();
    let before = h.conv.clone();
    assert!(h.event_of("chat-0", ChatEvent::Closed).await.is_empty());
    assert_eq!(h.conv, before);
}

#[tokio::test]
async fn a_message_the_agent_cannot_get_is_said_to_the_user_and_a_chat_over_upstream_lets_the_bot_answer() {
    let mut h = in_live_chat();
    *h.agents.failing.lock().unwrap() = Some(LiveChatError::Unavailable("down".into()));
    assert_eq!(h.say("are you there?").await, vec![text("Not delivered.")]);
    assert!(matches!(h.conv.mode, Mode::LiveChat { .. }), "still in the chat");
    *h.agents.failing.lock().unwrap() = Some(LiveChatError::ChatOver);
    h.say("hello").await;
    assert_eq!(h.bot.sent(), vec![msg("hello")]);
}

#[tokio::test]
async fn a_live_chat_outage_on_an_attempt_that_will_be_retried_postpones_the_users_message_with_no_apology() {
    let mut h = in_live_chat();
    h.on_outage = OnOutage::Postpone;
    *h.agents.failing.lock().unwrap() = Some(LiveChatError::Unavailable("down".into()));
    let outage = h.turn(&Input::User(UserInput::Text("are you there?".into())), NOW).await.unwrap_err();
    assert_eq!(outage.apology, None);
    assert!(outage.cause.contains("down"), "{}", outage.cause);
}

#[tokio::test]
async fn a_users_message_the_live_chat_did_not_confirm_is_taken_as_passed_on_and_the_user_hears_nothing() {
    let mut h = in_live_chat();
    h.on_outage = OnOutage::Postpone;
    *h.agents.failing.lock().unwrap() = Some(LiveChatError::Unconfirmed("answer lost".into()));
    assert!(h.say("are you there?").await.is_empty());
    assert!(matches!(h.conv.mode, Mode::LiveChat { .. }), "still in the chat");
}

fn photo(url: &str) -> UserFile {
    UserFile { url: url.into(), media_type: Some("image/jpeg".into()), name: None }
}

#[tokio::test]
async fn a_users_files_in_a_chat_reach_the_agent_after_their_caption_and_never_the_bot() {
    let mut h = in_live_chat();
    let media = UserInput::Media {
        caption: "my card".into(),
        files: vec![photo("https://cdn.test/front.jpg"), photo("https://cdn.test/back.jpg")],
    };
    assert!(h.input(&media, NOW).await.is_empty(), "no acknowledgement");
    assert_eq!(*h.agents.messages.lock().unwrap(), vec![("chat-1".to_owned(), "my card".to_owned())]);
    let files = h.agents.files.lock().unwrap().clone();
    assert_eq!(files, vec![("chat-1".to_owned(), "front.jpg".to_owned()), ("chat-1".to_owned(), "back.jpg".to_owned())]);
    assert!(h.bot.sent().is_empty());
}

fn agent_notes(h: &Harness) -> Vec<String> {
    h.agents.messages.lock().unwrap().iter().map(|(_, text)| text.clone()).collect()
}

#[tokio::test]
async fn files_too_large_for_the_agent_are_said_once_with_the_limit_to_the_user_and_the_agent_and_the_others_still_go() {
    let mut h = in_live_chat();
    let files = vec![photo("https://cdn.test/too-large.mov"), photo("https://cdn.test/ok.jpg"), photo("https://cdn.test/too-large-2.mov")];
    assert_eq!(h.input(&UserInput::Media { caption: String::new(), files }, NOW).await, vec![text("Too large (at most 5 MB).")]);
    assert_eq!(agent_notes(&h), vec!["[connector] A file over 5 MB did not reach you."]);
    assert_eq!(*h.agents.files.lock().unwrap(), vec![("chat-1".to_owned(), "ok.jpg".to_owned())], "the other file still goes");
}

#[tokio::test]
async fn a_file_the_channel_does_not_hand_over_or_the_live_chat_refuses_is_said_to_the_user_and_the_agent() {
    let mut h = in_live_chat();
    let broken = UserInput::Media { caption: String::new(), files: vec![photo("https://cdn.test/broken.jpg")] };
    assert_eq!(h.input(&broken, NOW).await, vec![text("File not delivered.")]);
    *h.agents.failing_file.lock().unwrap() = Some(LiveChatError::Rejected("HTTP 415".into()));
    let two = UserInput::Media { caption: String::new(), files: vec![photo("https://cdn.test/a.heic"), photo("https://cdn.test/b.jpg")] };
    assert_eq!(h.input(&two, NOW).await, vec![text("File not delivered.")]);
    assert_eq!(agent_notes(&h), vec!["[connector] A file did not reach you."; 2]);
    assert_eq!(*h.agents.files.lock().unwrap(), vec![("chat-1".to_owned(), "b.jpg".to_owned())], "the next file still goes");
}

#[tokio::test]
async fn with_the_live_chat_down_a_users_file_is_said_undelivered_to_them_alone_and_they_stay_in_the_chat() {
    let mut h = in_live_chat();
    *h.agents.failing_file.lock().unwrap() = Some(LiveChatError::Unavailable("down".into()));
    let fine = UserInput::Media { caption: String::new(), files: vec![photo("https://cdn.test/fine.jpg")] };
    assert_eq!(h.input(&fine, NOW).await, vec![text("File not delivered.")]);
    assert!(agent_notes(&h).is_empty(), "nobody to tell");
    assert!(matches!(h.conv.mode, Mode::LiveChat { .. }), "still in the chat");
    assert!(h.agents.files.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_agents_file_reaches_the_user_and_the_users_own_coming_back_does_not() {
    let mut h = in_live_chat();
    let file = SharedFile { url: "https://connector.test/files/x/a.png".into(), name: "a.png".into(), media_type: "image/png".into() };
    assert_eq!(h.chat_event(ChatEvent::File { sender: "A7".into(), file: file.clone() }).await, vec![Reply::File(file.clone())]);
    assert!(h.chat_event(ChatEvent::File { sender: "user-1".into(), file }).await.is_empty());
}

#[tokio::test]
async fn a_file_without_a_chat_goes_to_the_bot_as_its_caption() {
    let mut h = Harness::new();
    h.input(&UserInput::Media { caption: "what is this".into(), files: vec![photo("https://cdn.test/a.jpg")] }, NOW).await;
    assert_eq!(h.bot.sent(), vec![msg("what is this")]);
    assert!(h.agents.files.lock().unwrap().is_empty());
}

#[tokio::test]
async fn only_chat_mode_opens_the_chat_with_the_first_message_and_relays_the_next() {
    let mut h = Harness::new();
    h.only_chat = true;
    assert_eq!(h.say("I need a person").await, vec![text("I will try to connect you with an agent. Please wait.")]);
    h.say("still there?").await;
    let relayed: Vec<String> = h.agents.messages.lock().unwrap().iter().map(|(_, m)| m.clone()).collect();
    assert_eq!(relayed, vec!["I need a person", "still there?"]);
    assert!(h.bot.inputs.lock().unwrap().is_empty(), "never the bot");
}

#[tokio::test]
async fn a_chat_opens_with_the_bot_conversation_so_far() {
    let mut h = Harness::escalating(1, 0);
    h.say("zzz").await;
    h.say("1").await;
    let opened = h.agents.opened.lock().unwrap();
    let lines: Vec<(bool, &str)> = opened[0].history.iter().map(|l| (l.from_user, l.message.as_str())).collect();
    assert_eq!(lines, vec![(true, "zzz"), (false, "ok")]);
}

#[tokio::test]
async fn a_chat_event_for_a_conversation_with_the_bot_says_nothing_and_keeps_what_it_awaits() {
    let mut h = Harness::new();
    h.bot.on(msg("cards"), multiple_choice());
    h.say("cards").await;
    let awaiting = h.conv.awaiting.clone();
    assert!(h.chat_event(ChatEvent::Message { sender: "A7".into(), text: "late".into() }).await.is_empty());
    assert_eq!((h.conv.mode.clone(), h.conv.awaiting.clone()), (Mode::Bot, awaiting));
}

#[tokio::test]
async fn in_only_chat_mode_a_chat_over_upstream_is_opened_again_and_the_message_relayed() {
    let mut h = in_live_chat();
    h.only_chat = true;
    *h.agents.failing.lock().unwrap() = Some(LiveChatError::ChatOver);
    h.say("hello again").await;
    assert_eq!(h.agents.opened.lock().unwrap().len(), 1, "a new chat");
    assert_eq!(*h.agents.messages.lock().unwrap(), vec![("chat-1".to_owned(), "hello again".to_owned())]);
    assert!(h.bot.inputs.lock().unwrap().is_empty());
}

// ---------------------------------------------------------------- tickets and typing

fn with_ticket_labels(mut h: Harness) -> Harness {
    h.labels = h.labels.clone().overridden_by(
        [
            ("ticket_response_intro", "Hi, I'm the agent. My response"),
            ("ticket_response_info", "Your ticket"),
            ("ticket_response_end", "Type 'agent' to talk to someone."),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    h
}

fn ticket_reply(ticket: &str, text: &str) -> Input {
    Input::TicketReply { ticket: ticket.into(), text: text.into() }
}

#[tokio::test]
async fn a_ticket_reply_says_the_intro_then_the_agents_answer_then_the_ticket_number_and_how_to_go_on() {
    let mut h = with_ticket_labels(Harness::new());
    let replies = h.handle(&ticket_reply("TCK-123", "<p>Your card is unblocked.</p>"), NOW).await;
    let expected = "<p><i>Hi, I'm the agent. My response:</i><br><p>Your card is unblocked.</p></p>\
                    <p><i>Your ticket: <b>TCK-123</b></i><br><i>Type 'agent' to talk to someone.</i></p>";
    assert_eq!(replies, vec![text(expected)]);
    assert!(h.bot.inputs.lock().unwrap().is_empty(), "the bot is not asked");
}

#[tokio::test]
async fn a_ticket_number_is_shown_as_text_never_as_markup() {
    let mut h = with_ticket_labels(Harness::new());
    let replies = h.handle(&ticket_reply("<b>T&1</b>", "ok"), NOW).await;
    let [Reply::Text(shown)] = replies.as_slice() else { panic!("one text: {replies:?}") };
    assert!(shown.contains("<b>&lt;b&gt;T&amp;1&lt;/b&gt;</b>"), "{shown}");
}

#[tokio::test]
async fn a_ticket_reply_leaves_the_mode_and_what_the_user_was_asked_as_they_were() {
    let mut h = with_ticket_labels(in_live_chat());
    h.conv.awaiting = Awaiting::RatingComment(RatingChoice { code: "R1".into(), id: 2 });
    let before = h.conv.clone();
    assert_eq!(h.handle(&ticket_reply("T1", "Done."), NOW).await.len(), 1);
    assert_eq!(h.conv, before, "a reply of the agent is no message of the user");
}

#[tokio::test]
async fn the_ticket_of_the_users_chat_is_remembered_whether_it_comes_before_or_after_the_close() {
    let mut h = in_live_chat();
    h.chat_event(ChatEvent::TicketCreated { ticket_id: "T1".into() }).await;
    assert_eq!(h.conv.ticket.as_deref(), Some("T1"));
    h.chat_event(ChatEvent::Closed).await;
    h.chat_event(ChatEvent::TicketCreated { ticket_id: "T2".into() }).await;
    assert_eq!(h.conv.ticket.as_deref(), Some("T2"));
    h.event_of("chat-0", ChatEvent::TicketCreated { ticket_id: "T3".into() }).await;
    assert_eq!(h.conv.ticket.as_deref(), Some("T2"), "another chat's ticket is not the user's");
}

#[tokio::test]
async fn typing_is_shown_for_the_agent_of_the_users_chat_and_never_for_the_user_or_another_chat() {
    let mut h = in_live_chat();
    assert!(shows_agent_typing(&h.conv, "chat-1", "A7"));
    assert!(!shows_agent_typing(&h.conv, "chat-1", "user-1"), "the user's own writing");
    assert!(!shows_agent_typing(&h.conv, "chat-0", "A7"), "another chat");
    assert!(h.chat_event(ChatEvent::Writing { writer: "A7".into() }).await.is_empty(), "never a turn's reply");
    h.chat_event(ChatEvent::Closed).await;
    assert!(!shows_agent_typing(&h.conv, "chat-1", "A7"), "a closed chat");
}

// ----- the survey after a chat --------------------------------------------------------------

/// A survey of a 1-5 rating and a comment, thanking with its own text.
fn two_question_survey() -> Survey {
    let range = (1..=5).map(|n| SurveyChoice { value: n.to_string(), label: n.to_string() }).collect();
    Survey {
        token: "tok-1".into(),
        thanks: Some("Thank you for your feedback!".into()),
        questions: vec![
            Question { id: "11".into(), page: "1".into(), text: "How was the chat?".into(), expects: Expects::Choice(range) },
            Question { id: "12".into(), page: "1".into(), text: "Anything to add?".into(), expects: Expects::Text },
        ],
        jumps: Vec::new(),
    }
}

/// In a live chat, with `two_question_survey` configured.
fn in_live_chat_with_survey() -> Harness {
    let mut h = in_live_chat();
    h.surveys = Some(ScriptedSurveys { survey: Some(two_question_survey()), ..ScriptedSurveys::default() });
    h
}

/// The chat closed and its ticket made: the survey offered.
async fn offered_survey() -> Harness {
    let mut h = in_live_chat_with_survey();
    assert_eq!(h.chat_event(ChatEvent::Closed).await, vec![text("Chat closed")]);
    let offer = h.chat_event(ChatEvent::TicketCreated { ticket_id: "T1".into() }).await;
    assert_eq!(offer, vec![choice("Would you like to answer a short survey?", &["Yes", "No"], 1)]);
    h
}

/// Pairs of strings: a start's chat and ticket, or a submitted answer's question and value.
type Pairs = Vec<(String, String)>;

/// The surveys started (chat, ticket) and the answers submitted, one list per submit.
fn surveyed(h: &Harness) -> (Pairs, Vec<Pairs>) {
    let surveys = h.surveys.as_ref().expect("surveys configured");
    (surveys.started.lock().unwrap().clone(), surveys.submitted.lock().unwrap().clone())
}

fn answer(question: &str, value: &str) -> (String, String) {
    (question.to_owned(), value.to_owned())
}

#[tokio::test]
async fn after_a_closed_chats_ticket_the_user_takes_the_survey_question_by_question_and_is_thanked_with_its_own_text() {
    let mut h = offered_survey().await;
    assert_eq!(surveyed(&h).0, vec![("chat-1".to_owned(), "T1".to_owned())], "started for the chat and its ticket");
    assert_eq!((h.conv.mode.clone(), h.conv.ticket.as_deref()), (Mode::Bot, Some("T1")));

    assert_eq!(h.say("yes").await, vec![choice("How was the chat?", &["1", "2", "3", "4", "5"], 1)]);
    let tap = UserInput::Pick(Tap { number: 4, label: "4".into() });
    assert_eq!(h.input(&tap, NOW).await, vec![text("Anything to add?")]);
    assert_eq!(h.say("Quick and kind").await, vec![text("Thank you for your feedback!")]);

    assert_eq!(surveyed(&h).1, vec![vec![answer("11", "4"), answer("12", "Quick and kind")]]);
    assert_eq!(h.conv.awaiting, Awaiting::Nothing);
    assert!(h.bot.sent().is_empty(), "no answer went to the bot");
}

#[tokio::test]
async fn a_survey_without_a_thank_you_text_of_its_own_thanks_with_the_label() {
    let mut h = in_live_chat_with_survey();
    if let Some(surveys) = h.surveys.as_mut() {
        surveys.survey = surveys.survey.take().map(|s| Survey { thanks: None, questions: s.questions[1..].to_vec(), ..s });
    }
    h.chat_event(ChatEvent::Closed).await;
    h.chat_event(ChatEvent::TicketCreated { ticket_id: "T1".into() }).await;
    h.say("1").await;
    assert_eq!(h.say("all good").await, vec![text("Thanks!")]);
    assert_eq!(surveyed(&h).1, vec![vec![answer("12", "all good")]]);
}

#[tokio::test]
async fn no_to_the_survey_thanks_the_user_and_submits_nothing() {
    let mut h = offered_survey().await;
    assert_eq!(h.say("No").await, vec![text("Thanks!")]);
    assert_eq!(surveyed(&h).1, Vec::<Pairs>::new());
    assert_eq!(h.conv.awaiting, Awaiting::Nothing);
    assert!(h.bot.sent().is_empty());
}

#[tokio::test]
async fn a_question_instead_of_an_answer_to_the_offer_drops_the_survey_and_gets_the_bots_answer() {
    let mut h = offered_survey().await;
    h.bot.on(msg("what are your opening hours?"), answers(json!([{"type":"answer","message":"9 to 5"}])));
    assert_eq!(h.say("what are your opening hours?").await, vec![text("9 to 5")]);
    assert_eq!(h.bot.sent(), vec![msg("what are your opening hours?")]);
    assert_eq!(h.conv.awaiting, Awaiting::Nothing, "the survey is dropped");
    h.bot.on(msg("yes"), answers(json!([{"type":"answer","message":"Yes what?"}])));
    assert_eq!(h.say("yes").await, vec![text("Yes what?")], "a later yes is the bot's");
    assert_eq!(surveyed(&h).1, Vec::<Pairs>::new());
}

#[tokio::test]
async fn two_replies_that_are_no_choice_ask_whether_to_go_on_and_a_question_then_goes_to_the_bot() {
    let mut h = offered_survey().await;
    h.say("yes").await;
    let question = choice("How was the chat?", &["1", "2", "3", "4", "5"], 1);
    assert_eq!(h.say("meh").await, vec![question.clone()], "asked again");
    assert_eq!(h.say("so so").await, vec![choice("Do you want to go on with the survey?", &["Yes", "No"], 1)]);
    assert_eq!(h.say("yes").await, vec![question], "going on asks it again");
    h.say("meh").await;
    h.say("meh").await;
    h.bot.on(msg("where is my parcel?"), answers(json!([{"type":"answer","message":"On its way."}])));
    assert_eq!(h.say("where is my parcel?").await, vec![text("On its way.")]);
    assert_eq!(h.bot.sent(), vec![msg("where is my parcel?")], "no survey reply went to the bot");
    assert_eq!((h.conv.awaiting.clone(), surveyed(&h).1.len()), (Awaiting::Nothing, 0));
}

#[tokio::test]
async fn no_to_going_on_with_the_survey_ends_it_unsubmitted() {
    let mut h = offered_survey().await;
    h.say("yes").await;
    h.say("meh").await;
    h.say("meh").await;
    assert_eq!(h.say("no").await, vec![text("Thanks!")]);
    assert_eq!((h.conv.awaiting.clone(), surveyed(&h).1.len()), (Awaiting::Nothing, 0));
}

#[tokio::test]
async fn a_message_without_text_keeps_the_survey_waiting() {
    let mut h = offered_survey().await;
    h.say("yes").await;
    let photo =
        UserInput::Media { caption: String::new(), files: vec![UserFile { url: "https://x/p.jpg".into(), media_type: None, name: None }] };
    assert_eq!(h.input(&photo, NOW).await, vec![text("Text only, please.")]);
    assert_eq!(h.say("5").await, vec![text("Anything to add?")]);
}

#[tokio::test]
async fn without_a_survey_that_starts_the_ticket_asks_nothing() {
    for surveys in [
        None,
        Some(ScriptedSurveys::default()),
        Some(ScriptedSurveys {
            failing: std::sync::Mutex::new(Some(LiveChatError::Unavailable("down".into()))),
            survey: Some(two_question_survey()),
            ..ScriptedSurveys::default()
        }),
        Some(ScriptedSurveys { survey: Some(Survey { questions: Vec::new(), ..two_question_survey() }), ..ScriptedSurveys::default() }),
    ] {
        let mut h = in_live_chat();
        h.surveys = surveys;
        h.chat_event(ChatEvent::Closed).await;
        assert!(h.chat_event(ChatEvent::TicketCreated { ticket_id: "T1".into() }).await.is_empty());
        assert_eq!((h.conv.mode.clone(), h.conv.awaiting.clone()), (Mode::Bot, Awaiting::Nothing));
    }
}

/// HyperChat does not order its events: a ticket may be announced before the close.
#[tokio::test]
async fn a_ticket_announced_before_the_close_brings_the_survey_with_the_close() {
    let mut h = in_live_chat_with_survey();
    assert!(h.chat_event(ChatEvent::TicketCreated { ticket_id: "T1".into() }).await.is_empty(), "the chat goes on");
    assert!(matches!(h.conv.mode, Mode::LiveChat { .. }));
    let closed = h.chat_event(ChatEvent::Closed).await;
    assert_eq!(closed, vec![text("Chat closed"), choice("Would you like to answer a short survey?", &["Yes", "No"], 1)]);
    assert_eq!(surveyed(&h).0, vec![("chat-1".to_owned(), "T1".to_owned())]);
    assert!(h.chat_event(ChatEvent::TicketCreated { ticket_id: "T1".into() }).await.is_empty(), "not offered twice");
    assert_eq!((h.conv.mode.clone(), surveyed(&h).0.len()), (Mode::Bot, 1));
    assert!(matches!(h.conv.awaiting, Awaiting::Survey(_)), "the offer still waits for its answer");
}

#[tokio::test]
async fn a_survey_submit_the_service_refuses_while_retries_remain_postpones_the_turn_and_the_last_attempt_thanks_anyway() {
    let mut h = offered_survey().await;
    h.say("yes").await;
    h.say("4").await;
    let before = h.conv.clone();
    h.on_outage = OnOutage::Postpone;
    h.surveys.as_ref().map(|s| s.failing.lock().unwrap().replace(LiveChatError::Unavailable("503".into())));
    let postponed = h.turn(&Input::User(UserInput::Text("fine".into())), NOW).await;
    assert!(matches!(postponed, Err(Outage { apology: None, .. })), "{postponed:?}");

    h.conv = before; // the pipeline keeps nothing of a postponed turn
    h.on_outage = OnOutage::Apologise;
    h.surveys.as_ref().map(|s| s.failing.lock().unwrap().replace(LiveChatError::Unavailable("503".into())));
    assert_eq!(h.say("fine").await, vec![text("Thank you for your feedback!")]);
    assert_eq!((h.conv.awaiting.clone(), surveyed(&h).1.len()), (Awaiting::Nothing, 0), "not submitted, the user thanked");
}

/// As Inbenta's PHP handles the survey before anything else.
#[tokio::test]
async fn in_only_chat_mode_the_survey_is_answered_first_and_a_reply_that_is_no_answer_opens_a_chat() {
    let mut h = offered_survey().await;
    h.only_chat = true;
    assert_eq!(h.say("yes").await, vec![choice("How was the chat?", &["1", "2", "3", "4", "5"], 1)]);
    assert!(h.agents.opened.lock().unwrap().is_empty(), "the answer went to no agent");
    h.say("meh").await;
    h.say("meh").await;
    assert_eq!(h.say("I need help again").await, vec![text("I will try to connect you with an agent. Please wait.")]);
    assert_eq!(h.agents.opened.lock().unwrap().len(), 1);
    assert!(h.bot.sent().is_empty());
}

/// A live chat that answers the calls with defaults otherwise.
struct Particular;

#[async_trait]
impl LiveChat for Particular {
    async fn agents_available(&self) -> Result<bool, LiveChatError> {
        Ok(true)
    }
    async fn open_chat(&self, _request: &ChatRequest) -> Result<ChatRef, LiveChatError> {
        Ok(chat_one())
    }
    async fn send_message(&self, _chat: &ChatRef, _text: &str) -> Result<(), LiveChatError> {
        Ok(())
    }
    async fn send_file(&self, _chat: &ChatRef, _file: &FileContent) -> Result<(), LiveChatError> {
        Ok(())
    }
    async fn close_chat(&self, _chat: &ChatRef) -> Result<(), LiveChatError> {
        Ok(())
    }
    async fn abandon_chat(&self, _chat_id: &str) -> Result<(), LiveChatError> {
        Ok(())
    }
    async fn agent_name(&self, agent_id: &str) -> Result<String, LiveChatError> {
        Ok(format!("Agent {agent_id}"))
    }
    async fn chat_owner(&self, _chat_id: &str) -> Result<Option<String>, LiveChatError> {
        Ok(Some("twilio-1-2".into()))
    }
    fn origin(&self) -> ChatOrigin {
        ChatOrigin { app_id: "app".into(), region: "eu".into() }
    }
    async fn queue_mode(&self) -> Result<Option<bool>, LiveChatError> {
        Ok(Some(true))
    }
    async fn is_agent(&self, user_id: &str) -> Result<bool, LiveChatError> {
        Ok(user_id != "U9")
    }
}

#[tokio::test]
async fn a_live_chat_with_surveys_answers_everything_else_as_the_live_chat_it_wraps() {
    let wrapped = WithSurveys { live_chat: std::sync::Arc::new(Particular), surveys: std::sync::Arc::new(ScriptedSurveys::default()) };
    assert_eq!(wrapped.origin(), ChatOrigin { app_id: "app".into(), region: "eu".into() });
    assert_eq!(wrapped.queue_mode().await.unwrap(), Some(true));
    assert_eq!((wrapped.is_agent("U9").await.unwrap(), wrapped.is_agent("A1").await.unwrap()), (false, true));
    assert_eq!(wrapped.chat_owner("c").await.unwrap().as_deref(), Some("twilio-1-2"));
    assert_eq!(wrapped.agent_name("A1").await.unwrap(), "Agent A1");
    assert!(wrapped.surveys().is_some() && Particular.surveys().is_none());
}

const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);

const UNREACHABLE_LABELS: [(&str, &str); 2] = [
    ("user_unreachable", "[connector] This message did not reach the user: $reason."),
    ("user_maybe_unreachable", "[connector] This message may not have reached the user."),
];

fn unreachable_labels() -> Labels {
    Labels::from_pairs(UNREACHABLE_LABELS)
}

/// In a chat with an agent, on a channel whose reply window is a day, the user having last
/// written `silent` before now.
fn in_live_chat_silent_for(silent: i64) -> Harness {
    let mut h = in_live_chat();
    h.labels = h.labels.clone().overridden_by(UNREACHABLE_LABELS.map(|(k, v)| (k.to_owned(), v.to_owned())));
    h.channel.reply_window = Some(DAY);
    h.conv.last_inbound_at = Timestamp(NOW.0 - silent);
    h
}

fn agent_says(text: &str) -> Input {
    Input::Chat { chat_id: "chat-1".into(), event: ChatEvent::Message { sender: "A7".into(), text: text.into() } }
}

#[tokio::test]
async fn an_agents_message_to_a_user_whose_reply_window_closed_is_not_sent_and_the_agent_gets_a_note() {
    let mut h = in_live_chat_silent_for(2 * 86_400);
    let step = h.outcome(&agent_says("Still there?"), NOW).await.unwrap();
    let note = "[connector] This message did not reach the user: the user last wrote too long ago for the channel to deliver it.";
    assert_eq!(step, Step { replies: vec![], agent: ForAgent::Tell(AgentNote { chat: chat_one(), text: note.into() }) });
}

#[tokio::test]
async fn an_agents_message_within_the_reply_window_is_sent_and_its_agent_hears_if_it_goes_missing() {
    let mut h = in_live_chat_silent_for(86_400);
    let step = h.outcome(&agent_says("Still there?"), NOW).await.unwrap();
    assert_eq!(step, Step { replies: vec![text("Still there?")], agent: ForAgent::IfMissed(chat_one()) });
}

#[tokio::test]
async fn an_agents_answer_to_a_ticket_outside_the_reply_window_is_not_sent_and_nobody_is_told() {
    let mut h = with_ticket_labels(in_live_chat_silent_for(2 * 86_400));
    let step = h.outcome(&ticket_reply("T1", "Done."), NOW).await.unwrap();
    assert_eq!(step, Step { replies: vec![], agent: ForAgent::Nobody });
}

#[tokio::test]
async fn a_bot_reply_is_never_held_back_by_the_reply_window() {
    let mut h = Harness::new();
    h.channel.reply_window = Some(DAY);
    h.conv.last_inbound_at = Timestamp(NOW.0 - 30 * 86_400);
    let step = h.outcome(&Input::User(UserInput::Text("hello".into())), NOW).await.unwrap();
    assert_eq!(step, Step { replies: vec![text("Sorry, no results.")], agent: ForAgent::Nobody });
    // Whatever the conversation's last message, replies to the user's own input are sent.
    let engine = Engine {
        chatbot: &h.bot,
        live_chat: &h.agents,
        channel: &h.channel,
        labels: &h.labels,
        policy: &h.policy,
        only_chat: false,
        external_id: "twilio-1-2",
        deadline: None,
        on_outage: OnOutage::Apologise,
    };
    h.conv.last_inbound_at = Timestamp(NOW.0 - 30 * 86_400);
    let stale = engine.addressed(&h.conv, &Input::User(UserInput::Text("hello".into())), vec![text("Hi")], NOW);
    assert_eq!(stale.replies, vec![text("Hi")]);
}

#[tokio::test]
async fn an_agents_event_with_nothing_for_the_user_holds_nothing_back_even_outside_the_window() {
    let mut h = in_live_chat_silent_for(2 * 86_400);
    let own = Input::Chat { chat_id: "chat-1".into(), event: ChatEvent::Message { sender: "user-1".into(), text: "mine".into() } };
    assert_eq!(h.outcome(&own, NOW).await.unwrap(), Step { replies: vec![], agent: ForAgent::IfMissed(chat_one()) });
}

#[test]
fn the_agent_note_for_an_undelivered_message_gives_the_channels_reason() {
    let note = agent_note(&unreachable_labels(), &Missed::Undelivered("the number is blocked".into()));
    assert_eq!(note, "[connector] This message did not reach the user: the number is blocked.");
}

#[test]
fn the_agent_note_for_an_unconfirmed_message_says_it_may_not_have_arrived() {
    assert_eq!(agent_note(&unreachable_labels(), &Missed::Unconfirmed), "[connector] This message may not have reached the user.");
}
