//! Escalation to a human agent, end to end through the Twilio handler, with the Inbenta,
//! Twilio and HyperChat fakes: when it is offered, what "yes" and "no" do, no agents, the bot's
//! own escalation form, and only-chat mode.

use connector_tests::connector::{COMPANY_NUMBER, Connector, SMS_USER};
use connector_tests::hyperchat::FakeHyperChat;
use connector_tests::inbenta::answer;
use serde_json::{Value, json};

const OFFER: &str = "Do you want to start a chat with a human agent? (type a number)\n1) Yes\n2) No";

/// HyperChat enabled with these escalation thresholds, `agents` agents available.
async fn start(tries: u32, negatives: u32, agents: u32) -> (Connector, FakeHyperChat) {
    let hyperchat = FakeHyperChat::start().await;
    hyperchat.set_agents_available(agents);
    let chat = format!("[chat]\nenabled = true\ntriesBeforeEscalation = {tries}\nnegativeRatingsBeforeEscalation = {negatives}\n");
    let c = Connector::start_with(
        &[
            ("HYPERCHAT_API_URL", &hyperchat.base_url()),
            ("HYPERCHAT_APP_ID", FakeHyperChat::APP_ID),
            ("HYPERCHAT_SECRET", FakeHyperChat::SECRET),
        ],
        &[("chat.toml", &chat)],
    )
    .await;
    (c, hyperchat)
}

fn external_id() -> String {
    format!("twilio-{}-{}", &COMPANY_NUMBER[1..], &SMS_USER[1..])
}

fn event_types(c: &Connector) -> Vec<String> {
    c.inbenta.tracking_events().iter().map(|e| e["type"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn an_agent_is_offered_after_the_configured_number_of_no_results_in_a_row() {
    let (c, _hc) = start(2, 0, 1).await;
    let first = c.sms("zzz").await;
    assert!(!first.text().contains("human agent"));
    let second = c.sms("yyy").await;
    assert!(second.replies[0].body.ends_with(OFFER), "{}", second.text());
}

#[tokio::test]
async fn yes_opens_a_hyperchat_chat_for_the_user() {
    let (c, hc) = start(1, 0, 1).await;
    c.sms("zzz").await;
    let ex = c.sms("1").await;
    assert_eq!(ex.replies[0].body, "I will try to connect you with an agent. Please wait.");
    let chats = hc.chats();
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0]["externalId"], json!(external_id()));
    assert_eq!(chats[0]["status"], "active", "assigned, since the queue is off");
    let users = hc.users();
    assert!(users.iter().any(|u| u["externalId"] == json!(external_id())));
}

/// Inbenta's "External Chat Tracking" keys, `CHAT_ATTENDED` with the chat, app and region as
/// Inbenta's PHP connector sends it (the fake refuses the old `CONTACT_ATTENDED`).
#[tokio::test]
async fn an_opened_chat_is_tracked_as_chat_attended_with_its_id_app_and_region() {
    let (c, hc) = start(1, 0, 1).await;
    c.sms("zzz").await;
    c.sms("1").await;
    let chat = hc.chats()[0]["id"].clone();
    let attended: Vec<Value> = c.inbenta.tracking_events().into_iter().filter(|e| e["type"] == "CHAT_ATTENDED").collect();
    assert_eq!(
        attended,
        vec![json!({"type": "CHAT_ATTENDED", "data": {"value": {"chatId": chat, "appId": FakeHyperChat::APP_ID, "region": "us"}}})]
    );
    let refused = c.inbenta.requests().iter().filter(|r| r.path.ends_with("/tracking/events") && r.status == Some(400)).count();
    assert_eq!(refused, 0, "no tracking event was refused");
}

#[tokio::test]
async fn no_to_the_offer_gives_escalation_rejected_and_nothing_reaches_the_bot() {
    let (c, hc) = start(1, 0, 1).await;
    c.sms("zzz").await;
    let inputs_before = c.inbenta.bot_inputs().len();
    assert_eq!(c.sms("no").await.replies[0].body, "What else can I do for you?");
    assert_eq!(c.inbenta.bot_inputs().len(), inputs_before);
    assert_eq!(event_types(&c), vec!["CHAT_ESCALATION_REJECTED".to_owned()]);
    assert!(hc.chats().is_empty());
}

#[tokio::test]
async fn with_no_agents_available_the_user_is_told_so() {
    let (c, hc) = start(1, 0, 0).await;
    let ex = c.sms("zzz").await;
    assert!(ex.replies[0].body.ends_with("No agents available"), "{}", ex.text());
    assert!(!ex.text().contains("human agent"));
    assert_eq!(event_types(&c), vec!["CHAT_NO_AGENTS".to_owned()]);
    assert!(hc.chats().is_empty());
}

#[tokio::test]
async fn an_agent_is_offered_after_the_configured_number_of_negative_ratings_in_a_row() {
    let (c, _hc) = start(0, 2, 1).await;
    c.inbenta.on_message("hours", answer("We open at 9."));
    c.inbenta.on_message("prices", answer("It is free."));
    c.sms("hours").await;
    assert_eq!(c.sms("2").await.replies[0].body, "Please tell us why");
    c.sms("Not helpful").await;
    c.sms("prices").await;
    let ex = c.sms("2").await;
    assert_eq!(ex.replies[0].body, format!("Thanks!\n\n{OFFER}"));
}

#[tokio::test]
async fn a_direct_call_escalation_runs_the_bots_form_and_its_completion_opens_the_chat() {
    let (c, hc) = start(0, 0, 1).await;
    c.inbenta
        .on_message("agent", json!({"answers":[{"type":"answer","message":"","actions":[{"parameters":{"callback":"escalationStart"}}]}]}));
    c.inbenta.on_direct_call(
        "escalationStart",
        json!({"answers":[{"type":"answer","message":"What is your first name?","actionField":{"fieldType":"default"}}]}),
    );
    c.inbenta.on_message("Ann Lee ann@example.com", json!({"answers":[{"type":"answer","message":"Thank you, Ann.","actions":[{"parameters":{
        "callback":"escalateToAgent","data":{"FIRST_NAME":"Ann","LAST_NAME":"Lee","EMAIL_ADDRESS":"ann@example.com","INQUIRY":"Lost card"}}}]}]}));

    assert_eq!(c.sms("agent").await.replies[0].body, "What is your first name?");
    assert_eq!(c.inbenta.variables(), vec![json!({"name":"agents_available","value":"true"})]);
    assert!(c.inbenta.bot_inputs().contains(&json!({"directCall":"escalationStart"})));

    let ex = c.sms("Ann Lee ann@example.com").await;
    assert_eq!(ex.replies[0].body, "Thank you, Ann.\n\nI will try to connect you with an agent. Please wait.");
    let user: Value = hc.users().into_iter().find(|u| u["externalId"] == json!(external_id())).expect("user signed up");
    assert_eq!(user["name"], "Ann Lee");
    assert_eq!(user["contact"], "ann@example.com");
    assert_eq!(user["extraInfo"]["INQUIRY"], "Lost card");
    assert_eq!(hc.chats().len(), 1);
}

#[tokio::test]
async fn only_chat_mode_from_extra_info_sends_the_user_to_agents_and_never_to_the_bot() {
    let (c, hc) = start(0, 0, 1).await;
    c.inbenta.set_extra_info("twilio", json!([{"name":"settings","value":{"only_chat_mode":"true"}}]));
    let ex = c.sms("hello").await;
    assert_eq!(ex.replies[0].body, "I will try to connect you with an agent. Please wait.");
    assert_eq!(hc.chats().len(), 1);
    assert!(c.inbenta.bot_inputs().is_empty());
    assert!(c.inbenta.conversation_starts().is_empty());
}

#[tokio::test]
async fn only_chat_mode_with_no_agents_says_so_and_never_asks_the_bot() {
    let (c, hc) = start(0, 0, 0).await;
    c.inbenta.set_extra_info("twilio", json!([{"name":"settings","value":{"only_chat_mode":"true"}}]));
    assert_eq!(c.sms("hello").await.replies[0].body, "No agents available");
    assert!(c.inbenta.bot_inputs().is_empty());
    assert!(hc.chats().is_empty());
}

#[tokio::test]
async fn only_chat_mode_can_come_from_the_configuration() {
    let hc = FakeHyperChat::start().await;
    hc.set_agents_available(0);
    let c = Connector::start_with(
        &[("HYPERCHAT_API_URL", &hc.base_url()), ("HYPERCHAT_APP_ID", FakeHyperChat::APP_ID), ("HYPERCHAT_SECRET", FakeHyperChat::SECRET)],
        &[("chat.toml", "[chat]\nenabled = true\n"), ("custom.toml", "onlyHyperChatMode = true\n")],
    )
    .await;
    assert_eq!(c.sms("hello").await.replies[0].body, "No agents available");
    assert!(c.inbenta.bot_inputs().is_empty());
}
