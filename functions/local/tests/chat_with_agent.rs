//! `connector-local chat --with-agent` as a newcomer uses it: the demo bot, an agent offered
//! after two answers it cannot give, the chat with the agent both ways, and the bot again.

use connector_tests::connector::repo_root;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn the_terminal_chat_reaches_a_local_agent_and_comes_back_to_the_bot() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_connector-local"))
        .args(["chat", "--with-agent"])
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
    // Each line waits for the one before to be answered (the agent side polls every 200 ms).
    for line in ["zzz", "qqq", "1", "/agent Hello, I am Alex.", "my card is blocked", "/close-agent", "hello", "/quit"] {
        std::thread::sleep(Duration::from_millis(1500));
        writeln!(stdin, "{line}").expect("the chat reads its input");
    }
    drop(stdin);
    let output = child.wait_with_output().expect("the chat ends");
    let shown = String::from_utf8_lossy(&output.stdout);
    let expected = [
        "Do you want to start a chat with a human agent?",
        "I will try to connect you with an agent. Please wait.",
        "Agent Alex has joined the conversation.",
        "bot> Hello, I am Alex.",
        "[agent sees] my card is blocked",
        "Chat closed",
        "I'm the demo bot",
    ];
    let mut rest: &str = &shown;
    for line in expected {
        let at = rest.find(line).unwrap_or_else(|| panic!("{line:?} missing, in order, from:\n{shown}"));
        rest = &rest[at + line.len()..];
    }
    assert!(output.status.success());
}
