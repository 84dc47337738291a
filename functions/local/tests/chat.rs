//! `connector-local chat` as a newcomer uses it, against the demo bot: as a Smooch or Messenger
//! user (options as buttons, a typed button title picks its option), and with `--with-agent`
//! (an agent offered after two answers the bot cannot give, the chat both ways, the bot again).

use connector_tests::connector::repo_root;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs `connector-local chat <args>`, typing `lines` one by one; what the terminal showed.
fn chat(args: &[&str], lines: &[&str]) -> String {
    let mut child = spawn_chat(args);
    let mut stdin = child.stdin.take().expect("stdin");
    // Each line waits for the one before to be answered (the agent side polls every 200 ms).
    for line in lines.iter().chain(&["/quit"]) {
        std::thread::sleep(Duration::from_millis(1500));
        writeln!(stdin, "{line}").expect("the chat reads its input");
    }
    drop(stdin);
    let output = child.wait_with_output().expect("the chat ends");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `connector-local chat <args>` against the demo bot, its input and output piped.
fn spawn_chat(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_connector-local"))
        .arg("chat")
        .args(args)
        .env("CONF_DIR", repo_root().join("conf"))
        .env("LANG_DIR", repo_root().join("lang"))
        .env_remove("INBENTA_API_KEY")
        .env_remove("INBENTA_API_SECRET")
        .env_remove("TABLE_NAME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("connector-local starts")
}

fn assert_shown_in_order(shown: &str, expected: &[&str]) {
    let mut rest: &str = shown;
    for line in expected {
        let at = rest.find(line).unwrap_or_else(|| panic!("{line:?} missing, in order, from:\n{shown}"));
        rest = &rest[at + line.len()..];
    }
}

const BOOKING: [&str; 3] = ["hello", "order a new card", "Madrid"];

#[test]
fn the_terminal_chat_plays_a_smooch_user_with_buttons() {
    let shown = chat(&["--smooch"], &BOOKING);
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
    let shown = chat(&["--messenger"], &BOOKING);
    let expected = [
        "Chatting as a Messenger user",
        "I'm the demo bot",
        "In which city would you like to pick up your card?",
        "[Madrid]",
        "On which day",
    ];
    assert_shown_in_order(&shown, &expected);
}

#[test]
fn asking_for_an_agent_offers_one_and_without_live_chat_says_none_is_available() {
    let with_agent = chat(&["--with-agent"], &["I want to talk to an agent", "1", "/close-agent"]);
    assert_shown_in_order(
        &with_agent,
        &["Let me see whether one of our agents is free.", "Do you want to start a chat with a human agent?", "Agent Alex has joined"],
    );
    let alone = chat(&[], &["I want to talk to a person"]);
    assert_shown_in_order(&alone, &["Let me see whether one of our agents is free.", "No agents available"]);
}

#[test]
fn after_the_local_agent_closes_a_chat_the_next_escalation_opens_a_new_chat_the_agent_joins() {
    let lines = ["zzz", "qqq", "1", "/close-agent", "zzz", "qqq", "1", "/agent Hello again.", "/agent"];
    let shown = chat(&["--with-agent"], &lines);
    let expected = [
        "Agent Alex has joined the conversation.",
        "Chat closed",
        "I will try to connect you with an agent. Please wait.",
        "[agent] a chat opened",
        "Agent Alex has joined the conversation.",
        "bot> Hello again.",
        "[agent] /agent TEXT answers as the agent",
    ];
    assert_shown_in_order(&shown, &expected);
}

#[test]
fn the_prompt_never_lands_inside_a_reply() {
    let typed = ["hello", "zzz", "qqq", "1", "/agent Hi.", "thanks", "/close-agent"];
    let shown = chat(&["--with-agent"], &typed);
    // Input from a pipe is echoed after the prompt, as a terminal shows what is typed.
    let prompt_lines: Vec<&str> = shown.lines().filter_map(|line| line.strip_prefix("you> ")).collect();
    assert!(prompt_lines.len() > typed.len(), "a prompt per turn:\n{shown}");
    for after in prompt_lines {
        assert!(after.is_empty() || after == "/quit" || typed.contains(&after), "{after:?} was printed on the prompt's line:\n{shown}");
    }
    assert!(shown.contains("you> hello\nbot> Hi!"), "the reply comes on the line after what was typed:\n{shown}");
}

#[test]
fn the_terminal_chat_reaches_a_local_agent_and_comes_back_to_the_bot() {
    let lines = ["zzz", "qqq", "1", "/agent Hello, I am Alex.", "my card is blocked", "/close-agent", "hello"];
    let shown = chat(&["--with-agent"], &lines);
    let expected = [
        "Do you want to start a chat with a human agent?",
        "I will try to connect you with an agent. Please wait.",
        "Agent Alex has joined the conversation.",
        "bot> Hello, I am Alex.",
        "[agent sees] my card is blocked",
        "Chat closed",
        "I'm the demo bot",
    ];
    assert_shown_in_order(&shown, &expected);
}

#[test]
fn a_file_the_local_agent_shares_reaches_the_terminal_as_a_link_the_local_server_serves() {
    let dir = std::env::temp_dir().join(format!("connector-local-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let receipt = dir.join("receipt.txt");
    std::fs::write(&receipt, "Receipt no. 7").unwrap();
    let mut child = spawn_chat(&["--with-agent"]);
    let mut stdin = child.stdin.take().expect("stdin");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    for line in ["zzz", "qqq", "1", &format!("/agent-file {}", receipt.display())] {
        std::thread::sleep(Duration::from_millis(1500));
        writeln!(stdin, "{line}").expect("the chat reads its input");
    }
    // On SMS (no MMS) a file is its name and link: "receipt.txt: http://127.0.0.1:PORT/hyperchat/files/...".
    let mut shown = String::new();
    let link = loop {
        let line = lines_rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| panic!("no link shown in:\n{shown}"));
        shown.push_str(&line);
        shown.push('\n');
        if let Some(at) = line.find("receipt.txt: ") {
            break line[at + "receipt.txt: ".len()..].trim().to_owned();
        }
    };
    assert!(link.starts_with("http://127.0.0.1:") && link.contains("/hyperchat/files/"), "{link}");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let fetched = runtime.block_on(connector_tests::raw_http::get(&link, &[])).expect("the local server answers");
    assert_eq!((fetched.status, fetched.body.as_slice()), (200, &b"Receipt no. 7"[..]));
    writeln!(stdin, "/quit").unwrap();
    drop(stdin);
    assert!(child.wait().expect("the chat ends").success());
}
