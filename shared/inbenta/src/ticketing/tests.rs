use super::*;
use connector_engine::ports::SystemClock;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Mutex;

/// One request as the server below read it: its head (lower case) and body.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A server on 127.0.0.1 answering as Inbenta would, by the request line: `/v1/auth` with a
/// token whose `apis.ticketing` is this server, chat `C1`'s ticket 42, survey 7 started
/// (shapes as Inbenta's PHP reads them; the fakes in `shared/fakes/src/inbenta.rs` hold the same
/// rules with their sources).
fn inbenta() -> (Seen, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let (log, me) = (seen.clone(), base.clone());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).to_lowercase();
            let length = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|n| n.trim().parse().ok()).unwrap_or(0);
            let mut body = vec![0u8; length];
            let _ = stream.read_exact(&mut body);
            let line = head.lines().next().unwrap_or_default().to_owned();
            let mut status = "200 OK";
            let answer = if line.starts_with("post /v1/auth ") {
                json!({"accessToken": "AT", "expiration": 4_000_000_000_u64, "apis": {"ticketing": format!("{me}/prod/ticketing")}})
            } else if line.starts_with("get /prod/ticketing/v1/tickets?external_id=c1 ") {
                json!({"data": [{"id": 42}]})
            } else if line.starts_with("get /prod/ticketing/v1/tickets?") {
                json!({"data": []})
            } else if line.starts_with("post /prod/ticketing/v1/surveys/7/start ") {
                json!({"response": {"id": 7, "token": "tok", "pages": [{"id": 1, "items": [{"id": 11, "type": "input", "subtype": "text", "settings": [{"value": "How was it?"}]}]}]}})
            } else if line.starts_with("post /prod/ticketing/v1/surveys/7/submit ") {
                json!({"response": {"success": true}})
            } else {
                status = "404 Not Found";
                json!({"error": {"code": 404, "message": "not found"}})
            };
            log.lock().unwrap().push((head, String::from_utf8_lossy(&body).into_owned()));
            let answer = answer.to_string();
            let _ = stream.write_all(
                format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                )
                .as_bytes(),
            );
        }
    });
    (seen, base)
}

fn surveys_at(base: &str) -> ChatSurveys {
    let ticketing = TicketingConfig {
        api_key: "ticketing-key".into(),
        api_secret: SecretString::from("ticketing-secret".to_owned()),
        auth_url: format!("{base}/v1"),
        timeout: Duration::from_secs(5),
    };
    ChatSurveys::new(SurveyConfig { survey_id: "7".into(), ticketing }, None, Arc::new(SystemClock)).unwrap()
}

#[tokio::test]
async fn a_chats_survey_is_started_for_its_ticket_and_submitted_with_the_ticketing_key_and_token_as_inbentas_php_does() {
    let (seen, base) = inbenta();
    let surveys = surveys_at(&base);
    let survey = surveys.start("C1", "T-event").await.unwrap().expect("a survey");
    assert_eq!((survey.token.as_str(), survey.questions[0].text.as_str()), ("tok", "How was it?"));
    assert!(surveys.start("C2", " ").await.unwrap().is_none(), "no ticket found, none in the event: no survey");
    assert!(surveys.start("C2", "T9").await.unwrap().is_some(), "none found: the event's ticket");
    let answers = [
        SurveyAnswer { question: "11".into(), value: "Quick & kind".into() },
        SurveyAnswer { question: "12".into(), value: String::new() },
        SurveyAnswer { question: "13".into(), value: "4".into() },
    ];
    surveys.submit(&survey, &answers).await.unwrap();

    let seen = seen.lock().unwrap().clone();
    let lines: Vec<&str> = seen.iter().map(|(head, _)| head.lines().next().unwrap_or_default()).collect();
    assert_eq!(
        lines,
        vec![
            "post /v1/auth http/1.1",
            "get /prod/ticketing/v1/tickets?external_id=c1 http/1.1",
            "post /prod/ticketing/v1/surveys/7/start http/1.1",
            "get /prod/ticketing/v1/tickets?external_id=c2 http/1.1",
            "get /prod/ticketing/v1/tickets?external_id=c2 http/1.1",
            "post /prod/ticketing/v1/surveys/7/start http/1.1",
            "post /prod/ticketing/v1/surveys/7/submit http/1.1",
        ],
        "one /auth for every call"
    );
    assert_eq!(seen[0].1, r#"{"secret":"ticketing-secret"}"#);
    for (head, _) in &seen {
        assert!(head.contains("x-inbenta-key: ticketing-key"), "{head}");
    }
    let (start, form) = &seen[2];
    assert!(start.contains("authorization: bearer at") && start.contains("content-type: application/x-www-form-urlencoded"), "{start}");
    assert_eq!(form, "sourceType=ticket&sourceId=42", "the ticket the ticketing API found for the chat");
    assert_eq!(seen[5].1, "sourceType=ticket&sourceId=T9");
    let (submit, form) = &seen[6];
    assert!(submit.contains("authorization: bearer at") && submit.contains("content-type: application/x-www-form-urlencoded"), "{submit}");
    assert_eq!(form, "field_answers%5B11%5D=Quick+%26+kind&field_answers%5B13%5D=4&token=tok", "PHP's http_build_query");
}

#[tokio::test]
async fn a_ticketing_failure_is_a_live_chat_outage_only_when_worth_another_attempt() {
    assert!(live_chat_error(ChatbotError::Unavailable { status: 503 }).is_retryable());
    assert!(live_chat_error(ChatbotError::Timeout).is_retryable());
    assert!(!live_chat_error(ChatbotError::Rejected { code: 400, message: "bad token".into() }).is_retryable());
    let (_, base) = inbenta();
    let refused = surveys_at(&base).client.submit_survey("8", "tok", &[]).await.map_err(live_chat_error);
    assert!(matches!(refused, Err(LiveChatError::Rejected(_))), "{refused:?}");
}

/// The shape `ChatbotConnector::processSurveyData` reads (chatbot_api_connector 1.4.3).
#[test]
fn a_started_survey_is_read_as_inbentas_php_reads_it_and_anything_else_is_none() {
    let body = json!({"response": {
        "id": 7, "token": "tok-1",
        "settings": [{"subtype": "navigatepage", "value": []}, {"subtype": "thankyoupage", "value": {"message": "Thank you!"}}],
        "pages": [
            {"id": 1, "items": [
                {"id": 10, "type": "layout", "subtype": "header", "settings": [{"value": "Title"}]},
                {"id": 11, "type": "input", "subtype": "radio", "settings": [{"value": "How was it?"}, {"value": [{"value": "1", "label": "Good"}]}]},
            ]},
            {"id": 2, "items": [{"id": "12", "type": "input", "subtype": "textarea", "settings": [{"value": "Why?"}]}]},
        ],
    }});
    let survey = survey_of_start(&body).expect("a survey");
    assert_eq!((survey.token.as_str(), survey.thanks.as_deref()), ("tok-1", Some("Thank you!")));
    let good = SurveyChoice { value: "1".into(), label: "Good".into() };
    let asked: Vec<(&str, &str, &str, &Expects)> =
        survey.questions.iter().map(|q| (q.id.as_str(), q.page.as_str(), q.text.as_str(), &q.expects)).collect();
    assert_eq!(
        asked,
        vec![("11", "1", "How was it?", &Expects::Choice(vec![good])), ("12", "2", "Why?", &Expects::Text)],
        "headers skipped"
    );

    let under_data = json!({"data": {"token": "t", "pages": []}});
    assert_eq!(survey_of_start(&under_data).map(|s| s.token), Some("t".to_owned()));
    for nothing in
        [json!({"error": {"message": "no"}, "response": {"token": "t", "pages": []}}), json!({"response": {"pages": []}}), json!([])]
    {
        assert_eq!(survey_of_start(&nothing), None, "{nothing}");
    }
}

/// What the digester's `nextSurveyQuestion` makes of an item's settings, and what it does
/// not ask.
#[test]
fn ranges_are_choices_of_their_numbers_layout_items_are_not_asked_and_page_jumps_are_kept() {
    let body = json!({"response": {
        "token": "tok",
        "settings": [{"subtype": "navigatepage", "value": [{"value": "v-bad", "page": 3}]}],
        "pages": [{"id": 1, "items": [
            {"id": 20, "type": "layout", "subtype": "paragraph", "settings": [{"value": "Some words"}]},
            {"id": 21, "type": "input", "subtype": "rating", "settings": [
                {"value": "Rate us"}, {"subtype": "min", "value": {"value": 1}}, {"subtype": "max", "value": {"value": 3}}]},
            {"id": 22, "type": "input", "subtype": "rating", "settings": [
                {"value": "Broken range"}, {"subtype": "min", "value": {"value": 3}}, {"subtype": "max", "value": {"value": 3}}]},
            {"id": 23, "type": "input", "subtype": "email", "settings": [{"value": "Your e-mail?"}]},
            {"id": 24, "type": "input", "subtype": "text", "settings": []},
        ]}],
    }});
    let survey = survey_of_start(&body).expect("a survey");
    let numbers = |range: std::ops::RangeInclusive<i32>| {
        Expects::Choice(range.map(|n| SurveyChoice { value: n.to_string(), label: n.to_string() }).collect())
    };
    let asked: Vec<(&str, &Expects)> = survey.questions.iter().map(|q| (q.id.as_str(), &q.expects)).collect();
    assert_eq!(
        asked,
        vec![("21", &numbers(1..=3)), ("22", &Expects::Text), ("23", &Expects::Text)],
        "no paragraph, no item without a text; a range whose max is not above its min and any other input are free text"
    );
    assert_eq!(survey.jumps, vec![PageJump { value: "v-bad".into(), page: "3".into() }]);
}
