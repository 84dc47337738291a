//! `connector-local chat` as a newcomer uses it, against the demo bot: as a Smooch or Messenger
//! user (options as buttons, a typed button title picks its option), and with `--with-agent`
//! (an agent offered after two answers the bot cannot give, the chat both ways, the bot again).

use connector_tests::connector::repo_root;
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long one typed line may take to be answered (the agent side polls every 200 ms).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// `connector-local chat` running, with what its terminal showed so far.
struct Terminal {
    child: Child,
    stdin: Option<ChildStdin>,
    shown: Arc<(Mutex<String>, Condvar)>,
}

impl Terminal {
    fn start(args: &[&str]) -> Self {
        Self::start_with(args, &[])
    }

    /// With these variables set too.
    fn start_with(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = spawn_chat(args, env);
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = child.stdout.take().expect("stdout");
        let shown = Arc::new((Mutex::new(String::new()), Condvar::new()));
        let writer = shown.clone();
        // Bytes, not lines: the prompt `you> ` ends no line.
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buffer) {
                writer.0.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
                writer.1.notify_all();
            }
        });
        let terminal = Self { child, stdin: Some(stdin), shown };
        terminal.wait_for(0, "/quit or Ctrl-D ends.");
        terminal
    }

    fn shown(&self) -> String {
        self.shown.0.lock().unwrap().clone()
    }

    /// Waits until `expected`, then a prompt, were shown after the first `from` bytes; where
    /// `expected` ends.
    fn wait_for(&self, from: usize, expected: &str) -> usize {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        let (lock, changed) = &*self.shown;
        let mut shown = lock.lock().unwrap();
        loop {
            if let Some(at) = shown[from..].find(expected).map(|at| from + at + expected.len())
                && shown[at..].contains("you> ")
            {
                return at;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{expected:?} not shown within {ANSWER_TIMEOUT:?}, in:\n{shown}");
            shown = changed.wait_timeout(shown, left).unwrap().0;
        }
    }

    /// Types `line`, then waits until `answer` (and the prompt after it) is shown.
    fn answered(&mut self, line: &str, answer: &str) -> usize {
        let from = self.shown.0.lock().unwrap().len();
        writeln!(self.stdin.as_mut().expect("the chat is open"), "{line}").expect("the chat reads its input");
        self.wait_for(from, answer)
    }

    /// Types `/quit`; everything the terminal showed.
    fn quit(mut self) -> String {
        let mut stdin = self.stdin.take().expect("the chat is open");
        writeln!(stdin, "/quit").expect("the chat reads its input");
        drop(stdin);
        assert!(self.child.wait().expect("the chat ends").success());
        // The reader sees the end of the output once the process is gone.
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        while !self.shown().ends_with("you> /quit\n") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.shown()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `connector-local chat <args>`, typing each line once the one before was answered
/// (`(line, what its answer ends with)`); what the terminal showed.
fn chat(args: &[&str], turns: &[(&str, &str)]) -> String {
    chat_with(args, &[], turns)
}

/// [`chat`] with these variables set too.
fn chat_with(args: &[&str], env: &[(&str, &str)], turns: &[(&str, &str)]) -> String {
    let mut terminal = Terminal::start_with(args, env);
    for (line, answer) in turns {
        terminal.answered(line, answer);
    }
    terminal.quit()
}

/// `connector-local chat <args>` against the demo bot, its input and output piped.
fn spawn_chat(args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_connector-local"));
    for name in CREDENTIALS {
        command.env_remove(name);
    }
    command
        .arg("chat")
        .args(args)
        .env("CONF_DIR", repo_root().join("conf"))
        .env("LANG_DIR", repo_root().join("lang"))
        .env_remove("INBENTA_API_KEY")
        .env_remove("INBENTA_API_SECRET")
        .env_remove("TABLE_NAME")
        .envs(env.iter().copied())
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

/// What the demo bot's booking asks, typed as a Smooch or Messenger user: each line with how
/// its answer ends.
const BOOKING: [(&str, &str); 3] =
    [("hello", "[Terms and conditions]"), ("order a new card", "[Roma]"), ("Madrid", "On which day would you like to come?")];

/// Two lines the bot cannot answer, then "Yes" to the agent it offers: Alex joins.
const TO_AN_AGENT: [(&str, &str); 3] =
    [("zzz", "Try \"hello\" to see what I know."), ("qqq", "2) No"), ("1", "Agent Alex has joined the conversation.")];

#[test]
fn the_terminal_chat_plays_a_smooch_user_with_buttons() {
    let shown = chat(&["--channel", "smooch"], &BOOKING);
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
    let shown = chat(&["--channel", "messenger"], &BOOKING);
    let expected = [
        "Chatting as a Messenger user",
        "I'm the demo bot",
        "In which city would you like to pick up your card?",
        "[Madrid]",
        "On which day",
    ];
    assert_shown_in_order(&shown, &expected);
}

/// The channels' credentials connector-local fills in when the environment has none.
const CREDENTIALS: [&str; 5] = ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "SMOOCH_KEY_ID", "SMOOCH_SECRET", "MESSENGER_PAGE_TOKEN"];

#[test]
fn the_terminal_chat_plays_a_whatsapp_user_with_buttons_lists_and_media() {
    let turns = [
        ("hello", "[Terms and conditions]"),
        ("Where to find us", "[media] https://static.example.com/demo/directions.mp4"),
        ("order a new card", "[Roma]"),
    ];
    let shown = chat(&["--channel", "whatsapp"], &turns);
    let expected = [
        "Chatting as WhatsApp user +34600000001",
        "bot> Hi! I'm the *demo bot*",
        // More than three options: a list, made through the Content API.
        "bot> What would you like to see?\n     [Opening hours] [Cards] [Where to find us] [Terms and conditions]",
        "bot> Our main office, on the map:",
        "bot> [media] https://static.example.com/demo/map.png",
        "bot> In which city would you like to pick up your card?\n     [Madrid] [Barcelona] [Roma]",
    ];
    assert_shown_in_order(&shown, &expected);
}

#[test]
fn the_terminal_chat_plays_an_sms_user_with_numbered_options() {
    let shown = chat(&[], &[("hello", "4) Terms and conditions"), ("order a new card", "3) Roma")]);
    let expected = ["Chatting as SMS user +34600000001", "bot> Hi! I'm the demo bot", "     1) Opening hours", "     1) Madrid"];
    assert_shown_in_order(&shown, &expected);
}

/// The stand-ins take the credentials the environment gives the connector, not only the local
/// defaults, and the terminal's webhooks name the configured Twilio account.
#[test]
fn the_stand_ins_and_the_terminals_webhooks_take_the_credentials_of_the_environment() {
    let env = [
        ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
        ("TWILIO_AUTH_TOKEN", "a-token-of-the-environment"),
        ("SMOOCH_KEY_ID", "app_environment"),
        ("SMOOCH_SECRET", "a-smooch-secret-of-the-environment"),
        ("MESSENGER_PAGE_TOKEN", "a-page-token-of-the-environment"),
    ];
    for channel in ["sms", "smooch", "messenger"] {
        let shown = chat_with(&["--channel", channel], &env, &[("hello", "Terms and conditions")]);
        assert_shown_in_order(&shown, &["bot> Hi! I'm the", "Terms and conditions"]);
    }
}

#[test]
fn asking_for_an_agent_offers_one_and_without_live_chat_says_none_is_available() {
    let with_agent = chat(
        &["--with-agent"],
        &[("I want to talk to an agent", "2) No"), ("1", "Agent Alex has joined the conversation."), ("/close-agent", "Chat closed")],
    );
    assert_shown_in_order(
        &with_agent,
        &["Let me see whether one of our agents is free.", "Do you want to start a chat with a human agent?", "Agent Alex has joined"],
    );
    let alone = chat(&[], &[("I want to talk to a person", "No agents available")]);
    assert_shown_in_order(&alone, &["Let me see whether one of our agents is free.", "No agents available"]);
}

#[test]
fn after_the_local_agent_closes_a_chat_the_next_escalation_opens_a_new_chat_the_agent_joins() {
    let mut turns = TO_AN_AGENT.to_vec();
    turns.push(("/close-agent", "Chat closed"));
    turns.extend(TO_AN_AGENT);
    turns.extend([("/agent Hello again.", "bot> Hello again."), ("/agent", "[agent] /agent TEXT answers as the agent")]);
    let shown = chat(&["--with-agent"], &turns);
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
    let mut turns = vec![("hello", "4) Terms and conditions")];
    turns.extend(TO_AN_AGENT);
    turns.extend([("/agent Hi.", "bot> Hi."), ("thanks", "[agent sees] thanks"), ("/close-agent", "Chat closed")]);
    let typed: Vec<&str> = turns.iter().map(|(line, _)| *line).collect();
    let shown = chat(&["--with-agent"], &turns);
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
    let mut turns = TO_AN_AGENT.to_vec();
    turns.extend([
        ("/agent Hello, I am Alex.", "bot> Hello, I am Alex."),
        ("my card is blocked", "[agent sees] my card is blocked"),
        ("/close-agent", "Chat closed"),
        ("hello", "4) Terms and conditions"),
    ]);
    let shown = chat(&["--with-agent"], &turns);
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
    let mut terminal = Terminal::start(&["--with-agent"]);
    for (line, answer) in TO_AN_AGENT {
        terminal.answered(line, answer);
    }
    // On SMS (no MMS) a file is its name and link: "receipt.txt: http://127.0.0.1:PORT/hyperchat/files/...".
    let at = terminal.answered(&format!("/agent-file {}", receipt.display()), "receipt.txt: ");
    let shown = terminal.shown();
    let link = shown[at..].lines().next().unwrap_or_default().trim().to_owned();
    assert!(link.starts_with("http://127.0.0.1:") && link.contains("/hyperchat/files/"), "{link}");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let fetched = runtime.block_on(connector_tests::raw_http::get(&link, &[])).expect("the local server answers");
    assert_eq!((fetched.status, fetched.body.as_slice()), (200, &b"Receipt no. 7"[..]));
    terminal.quit();
}
