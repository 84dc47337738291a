//! `connector-local chat --smooch` and `--messenger` as a newcomer uses them: the demo bot
//! answers, offers options as buttons, and a typed button title picks its option.

use connector_tests::connector::repo_root;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Plays `flag`'s user through the demo bot's booking form; what the terminal showed.
fn chat_as(flag: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_connector-local"))
        .args(["chat", flag])
        .env("CONF_DIR", repo_root().join("conf"))
        .env("LANG_DIR", repo_root().join("lang"))
        .env_remove("INBENTA_API_KEY")
        .env_remove("INBENTA_API_SECRET")
        .env_remove("TABLE_NAME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("connector-local starts");
    let mut stdin = child.stdin.take().expect("stdin");
    for line in ["hello", "order a new card", "Madrid", "/quit"] {
        std::thread::sleep(Duration::from_millis(1500));
        writeln!(stdin, "{line}").expect("the chat reads its input");
    }
    drop(stdin);
    let output = child.wait_with_output().expect("the chat ends");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn assert_shown_in_order(shown: &str, expected: &[&str]) {
    let mut rest: &str = shown;
    for line in expected {
        let at = rest.find(line).unwrap_or_else(|| panic!("{line:?} missing, in order, from:\n{shown}"));
        rest = &rest[at + line.len()..];
    }
}

#[test]
fn the_terminal_chat_plays_a_smooch_user_with_buttons() {
    let shown = chat_as("--smooch");
    let expected = [
        "Chatting as a Smooch user",
        "I'm the **demo bot**",
        "In which city would you like to pick up your card?",
        "[Madrid]",
        "On which day",
    ];
    assert_shown_in_order(&shown, &expected);
}

#[test]
fn the_terminal_chat_plays_a_messenger_user_with_quick_replies() {
    let shown = chat_as("--messenger");
    let expected = [
        "Chatting as a Messenger user",
        "I'm the demo bot",
        "In which city would you like to pick up your card?",
        "[Madrid]",
        "On which day",
    ];
    assert_shown_in_order(&shown, &expected);
}
