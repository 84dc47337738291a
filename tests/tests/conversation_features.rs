//! End to end through the Twilio handler: forms, ratings, ExtraInfo translations and
//! environments, against the Inbenta and Twilio fakes.

use connector_tests::connector::Connector;
use connector_tests::inbenta::{answer, unrated};
use serde_json::{Value, json};

fn answers(items: Value) -> Value {
    json!({ "answers": items })
}

fn field(message: &str, field: Value) -> Value {
    answers(json!([{"type":"answer","message":message,"flags":["form-continue"],"actionField":field}]))
}

fn cities() -> Value {
    json!({"fieldType":"list","listValues":{"values":[
        {"option":"Madrid","label":["Madrid","MAD"]},{"option":"Barcelona","label":["Barcelona","BCN"]},{"option":"Roma","label":["Roma","Rome"]}]}})
}

// ---------------------------------------------------------------- forms

#[tokio::test]
async fn a_three_field_form_with_one_invalid_answer_is_completed_through_the_bot() {
    let c = Connector::start().await;
    c.inbenta.on_message("book", field("What is your name?", json!({"fieldType":"default"})));
    c.inbenta.on_message("Ann", field("Which city?", cities()));
    c.inbenta.on_message(
        "Atlantis",
        answers(json!([{"type":"answer","message":"Please pick one of the cities.","flags":["form-retry"],"actionField":cities()}])),
    );
    c.inbenta.on_message("Barcelona", field("Which day?", json!({"fieldType":"datePicker"})));
    c.inbenta.on_message("12/01/2026", unrated("Booked: Ann, Barcelona, 12/01/2026."));

    assert_eq!(c.sms("book").await.replies[0].body, "What is your name?");
    assert_eq!(c.sms("Ann").await.replies[0].body, "Which city? (type a number)\n1) Madrid\n2) Barcelona\n3) Roma");
    assert_eq!(c.sms("Atlantis").await.replies[0].body, "Please pick one of the cities. (type a number)\n1) Madrid\n2) Barcelona\n3) Roma");
    assert_eq!(c.sms("2").await.replies[0].body, "Which day? (date format: mm/dd/yyyy)");
    assert_eq!(c.sms("12/01/2026").await.replies[0].body, "Booked: Ann, Barcelona, 12/01/2026.");
    let inputs = c.inbenta.bot_inputs();
    assert_eq!(inputs[3], json!({"message":"Barcelona"}), "the list value is sent as its canonical option");
}

#[tokio::test]
async fn a_list_value_is_accepted_by_number_by_label_and_by_synonym() {
    let c = Connector::start().await;
    c.inbenta.on_message("city", field("Which city?", cities()));
    for reply in ["3", "roma", "Rome"] {
        c.sms("city").await;
        c.sms(reply).await;
        assert_eq!(c.inbenta.bot_inputs().last(), Some(&json!({"message":"Roma"})), "reply {reply}");
    }
}

#[tokio::test]
async fn abandoning_a_form_is_the_bots_decision_and_its_answer_is_relayed() {
    let c =
        Connector::start_with(&[], &[("conversation.toml", "[default.forms]\nallowUserToAbandonForm = true\nerrorRetries = 1\n")]).await;
    c.inbenta.on_message("book", field("Which city?", cities()));
    c.inbenta.on_message("never mind", unrated("No problem, the booking is cancelled."));
    c.sms("book").await;
    assert_eq!(c.sms("never mind").await.replies[0].body, "No problem, the booking is cancelled.");
    let start = c.inbenta.conversation_starts()[0].json();
    assert_eq!(start["forms"], json!({"allowUserToAbandonForm":true,"errorRetries":1}));
}

// ---------------------------------------------------------------- ratings

#[tokio::test]
async fn a_rateable_answer_asks_for_a_rating_and_a_positive_one_is_tracked() {
    let c = Connector::start().await;
    c.inbenta.on_message("hours", answer("We open at 9."));
    let ex = c.sms("hours").await;
    assert_eq!(ex.replies[0].body, "We open at 9.\n\nWas this answer helpful? (type a number)\n1) Yes\n2) No");
    assert_eq!(c.sms("1").await.replies[0].body, "Thanks!");
    assert_eq!(c.inbenta.tracking_events(), vec![json!({"type":"rate","data":{"code":"RC","value":1,"comment":null}})]);
    assert_eq!(c.inbenta.bot_inputs().len(), 1, "the rating is not sent to the bot as a question");
}

#[tokio::test]
async fn a_negative_rating_asks_why_and_sends_the_reason_with_the_rating() {
    let c = Connector::start().await;
    c.inbenta.on_message("hours", answer("We open at 9."));
    c.sms("hours").await;
    assert_eq!(c.sms("No").await.replies[0].body, "Please tell us why");
    assert!(c.inbenta.tracking_events().is_empty());
    assert_eq!(c.sms("It does not say when you close").await.replies[0].body, "Thanks!");
    assert_eq!(
        c.inbenta.tracking_events(),
        vec![json!({"type":"rate","data":{"code":"RC","value":2,"comment":"It does not say when you close"}})]
    );
}

#[tokio::test]
async fn ratings_can_be_switched_off_in_the_configuration() {
    let c = Connector::start_with(&[], &[("conversation.toml", "[content_ratings]\nenabled = false\n")]).await;
    c.inbenta.on_message("hours", answer("We open at 9."));
    assert_eq!(c.sms("hours").await.replies[0].body, "We open at 9.");
}

#[tokio::test]
async fn picking_a_related_content_with_a_click_code_tracks_the_click() {
    let c = Connector::start().await;
    c.inbenta.on_message(
        "cards",
        answers(json!([{"type":"answer","message":"Cards.","parameters":{"contents":{"related":{"relatedTitle":"Related",
        "relatedContents":[{"id":1,"title":"Lost card","trackingCode":{"clickCode":"CLICK-LOST"}}]}}}}])),
    );
    c.sms("cards").await;
    c.sms("1").await;
    assert_eq!(c.inbenta.tracking_events(), vec![json!({"type":"click","data":{"code":"CLICK-LOST"}})]);
}

// ---------------------------------------------------------------- ExtraInfo

#[tokio::test]
async fn extra_info_translations_override_the_label_files() {
    let c = Connector::start().await;
    c.inbenta.set_extra_info(
        "twilio",
        json!([{"name":"translations","value":{"en":[{"rate_content_intro":"Did that help?","yes":"Yep","thanks":"Cheers!"}]}}]),
    );
    c.inbenta.on_message("hours", answer("We open at 9."));
    let ex = c.sms("hours").await;
    assert_eq!(ex.replies[0].body, "We open at 9.\n\nDid that help? (type a number)\n1) Yep\n2) No");
    assert_eq!(c.sms("yep").await.replies[0].body, "Cheers!");
}

#[tokio::test]
async fn extra_info_is_fetched_once_and_then_served_from_the_cache() {
    let c = Connector::start().await;
    c.inbenta.set_extra_info("twilio", json!([]));
    for text in ["one", "two", "three"] {
        c.sms(text).await;
    }
    assert_eq!(c.inbenta.count("/app/data/twilio"), 1);
}

#[tokio::test]
async fn when_extra_info_fails_the_label_files_are_used_and_the_message_is_answered() {
    let c = Connector::start().await;
    c.inbenta.on_message("hours", unrated("We open at 9."));
    c.inbenta.fail_with(500, 1);
    let ex = c.sms("hours").await;
    assert_eq!(ex.status, 200);
    assert_eq!(ex.replies[0].body, "We open at 9.");
    assert_eq!(c.inbenta.count("/app/data/twilio"), 1);
}

#[tokio::test]
async fn a_missing_extra_info_group_means_the_label_files() {
    let c = Connector::start().await;
    c.inbenta.on_message("hours", answer("We open at 9."));
    assert!(c.sms("hours").await.replies[0].body.contains("Was this answer helpful?"));
    // ExtraInfo was read, and the group was missing: the labels are the files' for that reason.
    let reads: Vec<_> = c.inbenta.requests().into_iter().filter(|r| r.path.ends_with("/app/data/twilio")).map(|r| r.status).collect();
    assert_eq!(reads, [Some(404)], "the channel's ExtraInfo group was asked for once and was missing");
}

// ---------------------------------------------------------------- environments

#[tokio::test]
async fn each_environment_is_sent_to_inbenta_as_x_inbenta_env() {
    for environment in ["development", "preproduction", "production"] {
        let c = Connector::start_with(&[("ENVIRONMENT", environment)], &[]).await;
        c.sms("hello").await;
        assert_eq!(c.inbenta.conversation_starts()[0].header("x-inbenta-env"), Some(environment));
    }
}
