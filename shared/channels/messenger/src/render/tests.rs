use super::*;
use serde_json::json;

fn bot() -> Occasion {
    Occasion::default()
}

fn choice(text: &str, labels: &[&str], first_number: usize) -> Reply {
    Reply::Choice {
        text: text.into(),
        options: labels.iter().map(|l| ChoiceOption::new(*l)).collect(),
        first_number,
        number_hint: "(type a number)".into(),
    }
}

fn contents(replies: &[Reply]) -> Vec<Content> {
    render(replies, &bot()).into_iter().map(|m| m.content).collect()
}

fn json_of(content: &Content) -> serde_json::Value {
    serde_json::to_value(content).unwrap()
}

fn text_of(content: &Content) -> &str {
    match content {
        Content::Text { text, .. } => text,
        Content::Attachment { attachment: Attachment::Template(template) } => &template.text,
        Content::Attachment { .. } => "",
    }
}

#[test]
fn consecutive_answers_are_merged_into_one_text() {
    let out = contents(&[Reply::Text("<p>One</p>".into()), Reply::Text("Two".into())]);
    assert_eq!(out, [Content::text("One\n\nTwo")]);
    assert_eq!(json_of(&out[0]), json!({"text": "One\n\nTwo"}));
}

#[test]
fn images_are_attachments_between_the_texts_around_them() {
    let html = "<p>Look</p><img src=\"https://x.test/a.png\"><p>Then</p><img src=\"https://x.test/b.png\"><p>Done</p>";
    let out = contents(&[Reply::Text(html.into())]);
    let image = |url: &str| json!({"attachment": {"type": "image", "payload": {"url": url, "is_reusable": false}}});
    let as_json: Vec<_> = out.iter().map(json_of).collect();
    assert_eq!(
        as_json,
        [
            json!({"text": "Look"}),
            image("https://x.test/a.png"),
            json!({"text": "Then"}),
            image("https://x.test/b.png"),
            json!({"text": "Done"})
        ]
    );
}

#[test]
fn an_agents_file_is_an_attachment_of_its_kind_after_the_text_before_it() {
    let file =
        connector_engine::SharedFile { url: "https://c.test/files/t/a.mp4".into(), name: "a.mp4".into(), media_type: "video/mp4".into() };
    let out = contents(&[Reply::Text("Watch".into()), Reply::File(file)]);
    let as_json: Vec<_> = out.iter().map(json_of).collect();
    assert_eq!(
        as_json,
        [
            json!({"text": "Watch"}),
            json!({"attachment": {"type": "video", "payload": {"url": "https://c.test/files/t/a.mp4", "is_reusable": false}}})
        ]
    );
}

#[test]
fn a_long_text_is_split_under_2000_characters_at_sentence_ends() {
    let long = "This sentence is about forty characters. ".repeat(120);
    let out = contents(&[Reply::Text(long.clone())]);
    assert!(out.len() >= 3);
    for content in &out {
        let text = text_of(content);
        assert!(text.chars().count() < 2000, "{}", text.chars().count());
        assert!(text.ends_with('.'), "cut inside a sentence: …{}", &text[text.len() - 20..]);
    }
    let joined: String = out.iter().map(text_of).collect::<Vec<_>>().join(" ");
    assert_eq!(joined.split_whitespace().count(), long.split_whitespace().count(), "nothing lost");
}

#[test]
fn a_choice_becomes_quick_replies_with_tap_payloads_under_its_question() {
    let out = contents(&[choice("<p>Was it useful?</p>", &["Yes", "No"], 3)]);
    assert_eq!(
        json_of(&out[0]),
        json!({"text": "Was it useful?", "quick_replies": [
            {"content_type": "text", "title": "Yes", "payload": Tap { number: 3, label: "Yes".into() }.payload()},
            {"content_type": "text", "title": "No", "payload": Tap { number: 4, label: "No".into() }.payload()},
        ]})
    );
    assert_eq!(out.len(), 1, "the number hint is not shown with buttons");
}

#[test]
fn thirteen_options_fit_as_quick_replies_with_titles_of_at_most_20_characters() {
    let labels: Vec<String> = (1..=13).map(|i| format!("Option number {i} with a long label")).collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let out = contents(&[choice("Pick one", &labels, 1)]);
    let Content::Text { quick_replies, .. } = &out[0] else { panic!("not a text") };
    assert_eq!(quick_replies.len(), 13);
    assert!(quick_replies.iter().all(|q| q.title.chars().count() <= MAX_TITLE_CHARS));
    assert_eq!(quick_replies[0].title, "Option number 1 wit…");
    assert_eq!(Tap::from_payload(&quick_replies[12].payload).unwrap(), Tap { number: 13, label: labels[12].into() });
}

#[test]
fn a_button_title_prefers_the_shorter_button_text_and_never_splits_a_grapheme() {
    let option = ChoiceOption { label: "A very long label that would be cut".into(), button: Some("Short".into()) };
    let out = contents(&[Reply::Choice { text: "Q".into(), options: vec![option], first_number: 1, number_hint: String::new() }]);
    let Content::Text { quick_replies, .. } = &out[0] else { panic!("not a text") };
    assert_eq!(quick_replies[0].title, "Short");
    let flags = "🇪🇸".repeat(12);
    let cut = fit_title(&flags);
    assert!(cut.chars().count() <= MAX_TITLE_CHARS);
    assert_eq!(cut, format!("{}…", "🇪🇸".repeat(9)));
}

#[test]
fn more_than_13_options_are_numbered_text_with_the_hint() {
    let labels: Vec<String> = (1..=14).map(|i| format!("L{i}")).collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let out = contents(&[choice("Which?", &labels, 1)]);
    assert_eq!(out.len(), 1);
    let text = text_of(&out[0]);
    assert!(text.starts_with("Which? (type a number)\n1) L1\n2) L2"), "{text}");
    assert!(text.ends_with("14) L14"));
    assert!(matches!(&out[0], Content::Text { quick_replies, .. } if quick_replies.is_empty()));
}

#[test]
fn a_choice_followed_by_another_message_gets_postback_buttons_that_stay() {
    let out = contents(&[choice("Related", &["Shipping", "Returns"], 1), choice("Useful?", &["Yes", "No"], 3)]);
    assert_eq!(out.len(), 2);
    let tap = Tap { number: 1, label: "Shipping".into() };
    assert_eq!(
        json_of(&out[0]),
        json!({"attachment": {"type": "template", "payload": {"template_type": "button", "text": "Related", "buttons": [
            {"type": "postback", "title": "Shipping", "payload": tap.payload()},
            {"type": "postback", "title": "Returns", "payload": Tap { number: 2, label: "Returns".into() }.payload()},
        ]}}})
    );
    assert!(matches!(&out[1], Content::Text { quick_replies, .. } if quick_replies.len() == 2));
    // Too many for a template: numbered, so the options stay answerable.
    let out = contents(&[choice("Related", &["a", "b", "c", "d"], 1), Reply::Text("More".into())]);
    assert_eq!(text_of(&out[0]), "Related (type a number)\n1) a\n2) b\n3) c\n4) d\n\nMore");
}

#[test]
fn an_empty_question_still_gives_a_text_meta_accepts() {
    for text in ["", "   ", "<p></p>"] {
        let out = contents(&[choice(text, &["Yes", "No"], 1)]);
        assert_eq!(out.len(), 1);
        assert_eq!(text_of(&out[0]), "1) Yes\n2) No");
        let out = contents(&[choice(text, &["Yes", "No"], 1), Reply::Text("after".into())]);
        assert_eq!(text_of(&out[0]), "1) Yes\n2) No");
        let out =
            contents(&[Reply::Links { text: text.into(), links: vec![Link { title: "Shop".into(), url: "https://shop.test".into() }] }]);
        assert_eq!(text_of(&out[0]), "Shop");
    }
}

#[test]
fn a_choice_without_options_is_just_its_text() {
    assert_eq!(contents(&[choice("Nothing to pick", &[], 1)]), [Content::text("Nothing to pick")]);
    assert!(contents(&[choice("", &[], 1)]).is_empty());
}

#[test]
fn the_text_before_a_question_shares_its_message_and_an_image_stays_in_place() {
    let out = contents(&[Reply::Text("Answer.".into()), choice("<img src=\"https://x.test/a.png\"><p>Useful?</p>", &["Yes"], 1)]);
    assert_eq!(out.len(), 3);
    assert_eq!(text_of(&out[0]), "Answer.");
    assert!(matches!(&out[1], Content::Attachment { attachment: Attachment::Image(_) }));
    assert!(matches!(&out[2], Content::Text { text, quick_replies } if text == "Useful?" && quick_replies.len() == 1));
    let out = contents(&[Reply::Text("Answer.".into()), choice("Useful?", &["Yes"], 1)]);
    assert!(matches!(&out[..], [Content::Text { text, quick_replies }] if text == "Answer.\n\nUseful?" && quick_replies.len() == 1));
}

#[test]
fn links_become_a_button_template_of_at_most_three_and_the_rest_text_lines() {
    let links: Vec<Link> = (1..=5).map(|i| Link { title: format!("Page {i}"), url: format!("https://x.test/{i}") }).collect();
    let mut links = links;
    links.push(Link { title: "Call us".into(), url: "tel:+34900".into() });
    let out = contents(&[Reply::Links { text: "<p>See these</p>".into(), links }]);
    assert_eq!(out.len(), 2);
    let Content::Attachment { attachment: Attachment::Template(template) } = &out[0] else { panic!("not a template") };
    assert_eq!(template.text, "See these");
    assert_eq!(template.buttons.len(), MAX_BUTTONS);
    assert_eq!(
        serde_json::to_value(&template.buttons[0]).unwrap(),
        json!({"type": "web_url", "title": "Page 1", "url": "https://x.test/1"})
    );
    assert_eq!(text_of(&out[1]), "Page 4: https://x.test/4\n\nPage 5: https://x.test/5\n\nCall us: tel:+34900");
}

#[test]
fn a_template_text_longer_than_640_characters_goes_out_before_it() {
    let long = "Twenty characters!! ".repeat(40);
    let out = contents(&[Reply::Links {
        text: long,
        links: vec![Link { title: "A long link title here".into(), url: "https://x.test".into() }],
    }]);
    assert_eq!(out.len(), 2);
    let Content::Attachment { attachment: Attachment::Template(template) } = &out[1] else { panic!("not a template") };
    assert!(template.text.chars().count() <= MAX_BUTTON_TEXT_CHARS);
    assert!(matches!(&template.buttons[0], Button::WebUrl { title, .. } if title == "A long link title h…"));
    assert!(text_of(&out[0]).chars().count() <= MAX_BUTTON_TEXT_CHARS);
}

#[test]
fn human_agent_is_used_only_for_agent_messages_after_24_hours() {
    let hours = |h: u64| Duration::from_secs(h * 3600);
    let of = |from_agent, since| render(&[Reply::Text("x".into())], &Occasion { from_agent, since_user_wrote: since })[0].delivery;
    assert_eq!(of(true, hours(25)), Delivery::HumanAgent);
    assert_eq!(of(true, hours(23)), Delivery::Response);
    assert_eq!(of(false, hours(25)), Delivery::Response, "never for the bot");
    assert_eq!(of(false, hours(200)), Delivery::Response);
    assert_eq!((Delivery::HumanAgent.messaging_type(), Delivery::HumanAgent.tag()), ("MESSAGE_TAG", Some("HUMAN_AGENT")));
    assert_eq!((Delivery::Response.messaging_type(), Delivery::Response.tag()), ("RESPONSE", None));
}

#[test]
fn rendering_is_pure() {
    let replies = [Reply::Text("<p>a</p><img src=\"https://x.test/a.png\">".into()), choice("q", &["1", "2"], 1)];
    assert_eq!(render(&replies, &bot()), render(&replies, &bot()));
}
