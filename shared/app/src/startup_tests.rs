//! Start-up as an operator meets it: a typo in `conf/custom/`, a channel configured in part.

use super::*;
use connector_core::SetupError;
use connector_engine::testing::ScriptedChatbot;
use std::sync::Mutex;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The repository's `conf/default/` with these `conf/custom/` files.
fn conf_with(custom: &[(&str, &str)]) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("app-startup-{}-{n}", std::process::id()));
    std::fs::create_dir_all(dir.join("default")).unwrap();
    std::fs::create_dir_all(dir.join("custom")).unwrap();
    for entry in std::fs::read_dir(repo().join("conf/default")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join("default").join(path.file_name().unwrap())).unwrap();
    }
    for (name, text) in custom {
        std::fs::write(dir.join("custom").join(name), text).unwrap();
    }
    dir
}

async fn load(env: &[(&str, &str)], custom: &[(&str, &str)]) -> Result<App, AppError> {
    let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    App::load(&Sources { conf_dir: conf_with(custom), env }, &repo().join("lang")).await
}

fn chatbot() -> Arc<dyn Chatbot> {
    Arc::new(ScriptedChatbot::default())
}

fn shown(error: &AppError) -> String {
    connector_engine::error_chain(error)
}

#[tokio::test]
async fn a_misspelled_key_in_a_custom_file_stops_the_start_naming_the_file_the_key_and_the_nearest_key() {
    let error = load(&[], &[("chat.toml", "[chat]\nenabeld = true\n")]).await.err().expect("a typo refuses to start");
    let message = shown(&error);
    assert!(message.contains("custom/chat.toml: unknown key \"chat.enabeld\"; did you mean \"chat.enabled\"?"), "{message}");
}

#[tokio::test]
async fn every_key_a_guide_or_this_readme_sets_in_a_custom_file_starts() {
    let custom = [
        ("chat.toml", "[chat]\nenabled = true\nappId = \"a\"\nroomId = 2\nregionServer = \"eu\"\n[chat.queue]\nactive = true\n"),
        (
            "conversation.toml",
            "[default]\nlang = \"es\"\nuserType = 2\n[default.answers]\nmaxOptions = 3\n[content_ratings]\nenabled = false\n",
        ),
        ("smooch.toml", "secret = \"s\"\nkey_id = \"k\"\n"),
        ("state.toml", "table_name = \"\"\n"),
    ];
    assert!(load(&[], &custom).await.is_ok());
}

#[test]
fn every_environment_variable_sets_a_key_of_conf_default() {
    let config = Config::load(&Sources { conf_dir: repo().join("conf"), env: Vec::new() }, &[]).unwrap();
    let absent: Vec<_> = env_keys().into_iter().filter(|(_, key)| !config.has_key(key)).collect();
    assert!(absent.is_empty(), "declared by a variable but not in conf/default: {absent:?}");
}

#[tokio::test]
async fn a_twilio_auth_token_without_its_account_sid_is_named_at_start_in_one_line() {
    let app = load(&[("TWILIO_AUTH_TOKEN", "token"), ("TWILIO_WEBHOOK_URL", "https://example.test/twilio")], &[]).await.unwrap();
    let twilio = shown(&app.channel::<Twilio>(&chatbot()).err().expect("Twilio refuses to start"));
    assert_eq!(twilio.lines().count(), 1, "{twilio}");
    assert!(twilio.contains("Twilio is half-configured: TWILIO_AUTH_TOKEN is set but TWILIO_ACCOUNT_SID is not"), "{twilio}");
    let app = load(&[("TWILIO_ACCOUNT_SID", "AC1")], &[]).await.unwrap();
    let reverse = shown(&app.channel::<Twilio>(&chatbot()).err().unwrap());
    assert!(reverse.contains("Twilio is half-configured: TWILIO_ACCOUNT_SID is set but TWILIO_AUTH_TOKEN"), "{reverse}");
}

#[tokio::test]
async fn a_smooch_key_id_without_its_secret_and_a_messenger_page_token_without_the_app_secret_are_named() {
    let app = load(&[("SMOOCH_WEBHOOK_SECRET", "w"), ("SMOOCH_KEY_ID", "app_1")], &[]).await.unwrap();
    let smooch = shown(&app.channel::<Smooch>(&chatbot()).err().expect("Smooch refuses to start"));
    assert!(smooch.contains("Smooch is half-configured: SMOOCH_KEY_ID is set but SMOOCH_SECRET is not"), "{smooch}");
    let app = load(&[("MESSENGER_PAGE_TOKEN", "page")], &[]).await.unwrap();
    let messenger = shown(&app.channel::<Messenger>(&chatbot()).err().expect("Messenger refuses to start"));
    assert!(
        messenger.contains(
            "Messenger is half-configured: MESSENGER_PAGE_TOKEN is set but MESSENGER_APP_SECRET and MESSENGER_VERIFY_TOKEN are not"
        ),
        "{messenger}"
    );
}

#[tokio::test]
async fn a_channel_with_none_of_its_variables_is_just_not_configured() {
    let app = load(&[], &[]).await.unwrap();
    assert!(matches!(app.channel::<Twilio>(&chatbot()), Err(AppError::Channel { channel: "Twilio", source: SetupError::Missing(_) })));
    assert!(matches!(app.channel::<Smooch>(&chatbot()), Err(AppError::Channel { channel: "Smooch", source: SetupError::Missing(_) })));
    assert!(matches!(
        app.channel::<Messenger>(&chatbot()),
        Err(AppError::Channel { channel: "Messenger", source: SetupError::Missing(_) })
    ));
}

/// Log lines at `warn` and above, for the assertions below.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Lines {
    type Writer = Lines;
    fn make_writer(&'a self) -> Lines {
        self.clone()
    }
}

#[test]
fn the_hyperchat_function_names_a_half_configured_channel_in_an_error_line_and_serves_the_others() {
    let lines = Lines::default();
    let subscriber = tracing_subscriber::fmt().with_writer(lines.clone()).with_ansi(false).with_max_level(tracing::Level::WARN).finish();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sinks = tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let env = [("TWILIO_ACCOUNT_SID", "AC1"), ("SMOOCH_WEBHOOK_SECRET", "w"), ("SMOOCH_KEY_ID", "k"), ("SMOOCH_SECRET", "s")];
            load(&env, &[]).await.unwrap().senders(&chatbot())
        })
    });
    assert!(sinks.is_ok());
    let logged = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let half: Vec<&str> = logged.lines().filter(|line| line.contains("half-configured")).collect();
    assert_eq!(half.len(), 1, "{logged}");
    assert!(half[0].contains("ERROR") && half[0].contains("Twilio") && half[0].contains("TWILIO_AUTH_TOKEN"), "{logged}");
}

#[test]
fn a_misspelled_environment_variable_is_warned_of_with_the_one_it_is_near() {
    let lines = Lines::default();
    let subscriber = tracing_subscriber::fmt().with_writer(lines.clone()).with_ansi(false).with_max_level(tracing::Level::WARN).finish();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let loaded = tracing::subscriber::with_default(subscriber, || runtime.block_on(load(&[("TWILIO_AUTH_TOKN", "t")], &[])));
    assert!(loaded.is_ok());
    let logged = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("TWILIO_AUTH_TOKN") && logged.contains("TWILIO_AUTH_TOKEN"), "{logged}");
}

#[tokio::test]
async fn the_hyperchat_function_forwards_into_the_queue_of_each_channel_whose_url_is_set_by_its_address_name() {
    let app = load(
        &[("TWILIO_QUEUE_URL", " https://sqs.test/1/twilio.fifo "), ("MESSENGER_QUEUE_URL", "https://sqs.test/1/messenger.fifo")],
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        app.channel_queues().unwrap(),
        [("twilio", "https://sqs.test/1/twilio.fifo".to_owned()), ("messenger", "https://sqs.test/1/messenger.fifo".to_owned())]
    );
    assert!(load(&[], &[]).await.unwrap().channel_queues().unwrap().is_empty(), "no channel queue set: none");
}
