//! What a newcomer sees when they get something wrong: help for every command, errors that say
//! what to do, and no silent fallback.

use connector_tests::connector::repo_root;
use std::process::{Command, Output};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_connector-local"));
    command.args(args).env("CONF_DIR", repo_root().join("conf")).env("LANG_DIR", repo_root().join("lang"));
    command.env_remove("INBENTA_API_KEY").env_remove("INBENTA_API_SECRET").env_remove("TABLE_NAME");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("connector-local runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn every_command_has_help_that_exits_successfully() {
    for args in [&["--help"][..], &["help"], &["chat", "--help"], &["serve", "--help"], &["send", "--help"]] {
        let output = run(args, &[]);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        assert!(String::from_utf8_lossy(&output.stdout).contains("Usage"), "{args:?}");
    }
}

#[test]
fn a_mistyped_command_is_refused_with_a_suggestion() {
    let output = run(&["chta"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("chat"), "{}", stderr(&output));
}

#[test]
fn a_port_that_is_no_number_is_an_error_not_a_silent_default() {
    let output = run(&["serve"], &[("PORT", "abc")]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr(&output).trim(), "connector-local: PORT=\"abc\" is not a port number (1-65535)");
}

#[test]
fn a_busy_port_is_named_in_the_error() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let output = run(&["serve"], &[("PORT", &port)]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains(&format!("cannot listen on 127.0.0.1:{port}")), "{}", stderr(&output));
}

#[test]
fn an_inbenta_key_without_its_secret_is_an_error_not_the_demo_bot() {
    let port = connector_tests::local::free_port().to_string();
    let output = run(&["serve"], &[("PORT", &port), ("INBENTA_API_KEY", "my-key")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("INBENTA_API_KEY and INBENTA_API_SECRET go together"), "{}", stderr(&output));
}

#[test]
fn a_server_without_channel_credentials_prints_the_replies_to_messages_sent_with_the_send_command() {
    let port = connector_tests::local::free_port().to_string();
    let mut server = Command::new(env!("CARGO_BIN_EXE_connector-local"))
        .arg("serve")
        .env("PORT", &port)
        .env("CONF_DIR", repo_root().join("conf"))
        .env("LANG_DIR", repo_root().join("lang"))
        .env_remove("INBENTA_API_KEY")
        .env_remove("INBENTA_API_SECRET")
        .env_remove("TABLE_NAME")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("connector-local serves");
    let ready = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).is_ok()
    });
    assert!(ready, "the server listens");
    let mut sent = Vec::new();
    for flags in [&[][..], &["--channel", "whatsapp"], &["--channel", "smooch"], &["--channel", "messenger"]] {
        let args: Vec<&str> = ["send"].iter().chain(flags).chain(&["hello"]).copied().collect();
        let output = run(&args, &[("PORT", &port)]);
        assert!(output.status.success(), "{flags:?}: {}", stderr(&output));
        sent.push(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    server.kill().expect("the server stops");
    let printed = String::from_utf8_lossy(&server.wait_with_output().expect("its output").stdout).into_owned();
    assert!(sent.iter().all(|s| s.starts_with("HTTP 200")), "{sent:?}");
    for to in ["reply to +34600000001: ", "reply to whatsapp:+34600000001: ", "reply to conversation_local: ", "reply to psid_local: "] {
        assert!(printed.lines().any(|l| l.starts_with(to) && l.contains("demo bot")), "{to:?} missing from:\n{printed}");
    }
}

/// `serve`, which must stop at start: killed after 30 s if it serves instead, so that the test
/// fails rather than hangs.
fn serve_stops(env: &[(&str, &str)]) -> Output {
    let port = connector_tests::local::free_port().to_string();
    let mut command = Command::new(env!("CARGO_BIN_EXE_connector-local"));
    command.arg("serve").env("PORT", &port).env("CONF_DIR", repo_root().join("conf")).env("LANG_DIR", repo_root().join("lang"));
    command.env_remove("INBENTA_API_KEY").env_remove("INBENTA_API_SECRET").env_remove("TABLE_NAME");
    command.envs(env.iter().copied()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("connector-local runs");
    let started = std::time::Instant::now();
    while child.try_wait().expect("connector-local's status").is_none() && started.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait_with_output().expect("connector-local's output")
}

#[test]
fn a_twilio_auth_token_without_its_account_sid_is_named_in_one_line_and_nothing_is_served() {
    let output = serve_stops(&[("TWILIO_AUTH_TOKEN", "a-real-token"), ("TWILIO_ACCOUNT_SID", "")]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output).trim(),
        "connector-local: Twilio is half-configured: TWILIO_AUTH_TOKEN is set but TWILIO_ACCOUNT_SID is not (set it too, or unset the rest to leave Twilio out)"
    );
}

#[test]
fn a_misspelled_key_in_conf_custom_is_named_with_the_nearest_key_and_nothing_is_served() {
    let conf = connector_tests::connector::conf_dir_with(&[("chat.toml", "[chat]\nenabeld = true\n")]);
    let output = serve_stops(&[("CONF_DIR", conf.to_str().unwrap())]);
    assert_eq!(output.status.code(), Some(1));
    let shown = stderr(&output);
    assert!(shown.contains("custom/chat.toml: unknown key \"chat.enabeld\"; did you mean \"chat.enabled\"?"), "{shown}");
    assert!(!shown.contains("listening"), "{shown}");
}
