//! `connector-local chat --with-agent`: the terminal also plays the live agent. A local stand-in
//! for HyperChat (the fake the tests use, `connector-fakes`, a real HTTP server on loopback) takes the chats the
//! connector opens; its agent joins at once, and what the user writes to the agent is printed.
//! `/agent TEXT`, `/agent-file PATH` and `/close-agent` speak for the agent, as signed
//! HyperChat webhook events.

use connector_fakes::hyperchat::{FakeHyperChat, event_body, hook_signature};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The stand-in's webhook secret, offered in the handshake and signing every event.
const HOOK_SECRET: &str = "connector-local-agent";

pub struct LocalAgent {
    hyperchat: FakeHyperChat,
    agent_id: String,
    http: reqwest::Client,
    events_url: String,
}

impl LocalAgent {
    /// The stand-in, with one agent available.
    pub async fn start() -> Self {
        let hyperchat = FakeHyperChat::start().await;
        hyperchat.set_agents_available(1);
        let agent_id = hyperchat.add_agent("Alex");
        Self { hyperchat, agent_id, http: crate::http_client(), events_url: String::new() }
    }

    /// The variables that point the connector at the stand-in.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("HYPERCHAT_API_URL", self.hyperchat.base_url()),
            ("HYPERCHAT_APP_ID", FakeHyperChat::APP_ID.to_owned()),
            ("HYPERCHAT_SECRET", FakeHyperChat::SECRET.to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v))
        .into()
    }

    /// Subscribes the connector's `/hyperchat` webhook, as HyperChat would.
    pub async fn subscribe(&mut self, events_url: String) -> Result<(), crate::Error> {
        self.events_url = events_url;
        let answer = self.http.post(&self.events_url).header("x-hook-secret", HOOK_SECRET).send().await?;
        if !answer.status().is_success() {
            return Err(format!("the local agent could not subscribe to {} (HTTP {})", self.events_url, answer.status()).into());
        }
        Ok(())
    }

    /// Watches the stand-in: the agent joins every new chat, and the user's messages are shown.
    pub fn watch(self: std::sync::Arc<Self>) {
        tokio::spawn(async move {
            let (mut chats, mut seen) = (HashSet::new(), HashSet::new());
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                for chat in self.hyperchat.chats() {
                    let Some(id) = chat["id"].as_str().map(str::to_owned) else { continue };
                    if chats.insert(id.clone()) {
                        crate::chat::show(
                            "[agent] a chat opened: /agent TEXT answers as Alex, /agent-file PATH shares a file, /close-agent ends it",
                        );
                        self.post("invitations:accept", json!({"chatId": id, "userId": self.agent_id})).await;
                    }
                    for message in self.hyperchat.messages(&id) {
                        let mine = message["sender"] == Value::String(self.agent_id.clone());
                        if !mine && seen.insert(message["id"].to_string()) {
                            match message["message"].as_str() {
                                Some(text) => crate::chat::show(&format!("[agent sees] {text}")),
                                None => crate::chat::show(&format!(
                                    "[agent sees] a file: {} ({})",
                                    message["message"]["name"], message["message"]["type"]
                                )),
                            }
                        }
                    }
                }
            }
        });
    }

    /// The open chat, if any.
    fn open_chat(&self) -> Option<String> {
        self.hyperchat.chats().iter().rev().find(|c| c["status"] != "closed").and_then(|c| c["id"].as_str().map(str::to_owned))
    }

    /// `/agent TEXT`, `/agent-file PATH` or `/close-agent`; `false` when the line is none.
    pub async fn command(&self, line: &str) -> bool {
        if matches!(line, "/agent" | "/agent-file") {
            crate::chat::show("[agent] /agent TEXT answers as the agent, /agent-file PATH shares a file, /close-agent ends the chat");
            return true;
        }
        let action = if let Some(path) = line.strip_prefix("/agent-file ") {
            Action::File(PathBuf::from(path.trim()))
        } else if let Some(text) = line.strip_prefix("/agent ") {
            Action::Say(text.trim().to_owned())
        } else if line == "/close-agent" {
            Action::Close
        } else {
            return false;
        };
        let Some(chat) = self.open_chat() else {
            crate::chat::show("[agent] no chat is open: ask the bot for an agent first");
            return true;
        };
        match action {
            Action::Say(text) => {
                static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let id = format!("local-agent-{}", COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
                let message = json!({"id": id, "chat": chat, "sender": self.agent_id, "type": "text", "message": text});
                self.post("messages:new", json!({ "message": message })).await;
            }
            Action::File(path) => match std::fs::read(&path) {
                Ok(bytes) => {
                    let name = path.file_name().map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned());
                    let message = self.hyperchat.agent_file(&chat, &self.agent_id, &name, media_type_of(&path), &bytes);
                    self.post("messages:new", json!({ "message": message })).await;
                }
                Err(error) => crate::chat::show(&format!("[agent] cannot read {}: {error}", path.display())),
            },
            Action::Close => {
                // HyperChat closes the chat, then tells the connector: the next escalation opens
                // a new chat instead of reusing this one.
                self.hyperchat.close_chat(&chat);
                self.post("chats:close", json!({"chatId": chat, "userId": self.agent_id})).await;
            }
        }
        true
    }

    async fn post(&self, trigger: &str, data: Value) {
        let body = event_body(trigger, data);
        let signature = hook_signature(HOOK_SECRET, &body);
        let sent = self
            .http
            .post(&self.events_url)
            .header("content-type", "application/json")
            .header("x-hook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(answer) if answer.status().is_success() => {}
            Ok(answer) => crate::chat::show(&format!("[agent] the connector answered HTTP {} to {trigger}", answer.status().as_u16())),
            Err(error) => crate::chat::show(&format!("[agent] {trigger} not delivered: {error}")),
        }
    }
}

/// What the agent does.
enum Action {
    Say(String),
    File(PathBuf),
    Close,
}

/// The media type HyperChat's console would give a file, by its extension.
fn media_type_of(path: &Path) -> &'static str {
    let extension = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

/// The configuration folder as given, with live chat turned on for the stand-in (a copy in a
/// temporary folder; `conf/custom/chat.toml`, if any, is replaced for this run).
pub fn conf_with_live_chat(conf_dir: &Path) -> Result<PathBuf, crate::Error> {
    let copy = std::env::temp_dir().join(format!("connector-local-agent-{}", std::process::id()));
    // A folder an earlier process of the same id left behind would add its files.
    match std::fs::remove_dir_all(&copy) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error.into()),
        _ => {}
    }
    for layer in ["default", "custom"] {
        std::fs::create_dir_all(copy.join(layer))?;
        let Ok(entries) = std::fs::read_dir(conf_dir.join(layer)) else { continue };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "toml") {
                std::fs::copy(&path, copy.join(layer).join(entry.file_name()))?;
            }
        }
    }
    std::fs::write(copy.join("custom/chat.toml"), "[chat]\nenabled = true\nroomId = 1\ntriesBeforeEscalation = 2\n")?;
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found in a full test run: temporary folders named by process id outlive their process,
    /// and a later process given the same id read the earlier one's leftover files.
    #[test]
    fn the_live_chat_configuration_holds_only_the_given_folders_files_even_where_an_earlier_process_left_others() {
        let leftover = std::env::temp_dir().join(format!("connector-local-agent-{}", std::process::id())).join("custom/api.toml");
        std::fs::create_dir_all(leftover.parent().unwrap()).unwrap();
        std::fs::write(&leftover, "timeout_ms = 500\n").unwrap();
        let given = std::env::temp_dir().join(format!("connector-local-agent-given-{}", std::process::id()));
        std::fs::create_dir_all(given.join("default")).unwrap();
        std::fs::write(given.join("default/api.toml"), "timeout_ms = 25000\n").unwrap();
        let copy = conf_with_live_chat(&given).unwrap();
        assert!(!copy.join("custom/api.toml").exists(), "an earlier process's file is not read");
        assert_eq!(std::fs::read_to_string(copy.join("default/api.toml")).unwrap(), "timeout_ms = 25000\n");
        assert!(std::fs::read_to_string(copy.join("custom/chat.toml")).unwrap().contains("enabled = true"));
        let _ = std::fs::remove_dir_all(&given);
    }
}
