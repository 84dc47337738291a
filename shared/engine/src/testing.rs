//! In-memory doubles of the ports, so engine decisions are tested without I/O.

use crate::answer::BotResponse;
use crate::conversation::BotSession;
use crate::ports::{
    BotInput, ChatRequest, Chatbot, ChatbotError, FileError, HistoryLine, LiveChat, LiveChatError, TrackingEvent, UserChannel,
};
use crate::values::{ChatRef, ExtraInfo, FileContent, UserFile};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// A chatbot answering from a script: exact inputs to responses, else a no-results answer.
#[derive(Default)]
pub struct ScriptedChatbot {
    script: Mutex<Vec<(BotInput, Value)>>,
    failures: Mutex<VecDeque<ChatbotError>>,
    sessions_started: Mutex<Vec<String>>,
    pub inputs: Mutex<Vec<(String, BotInput)>>,
    pub events: Mutex<Vec<TrackingEvent>>,
    pub variables: Mutex<Vec<(String, String)>>,
}

impl ScriptedChatbot {
    pub fn on(&self, input: BotInput, response: Value) -> &Self {
        self.script.lock().unwrap().push((input, response));
        self
    }

    /// The next calls (start or send) fail with these errors, in order.
    pub fn fail_next(&self, error: ChatbotError) -> &Self {
        self.failures.lock().unwrap().push_back(error);
        self
    }

    /// Tracked event types, in order.
    pub fn event_kinds(&self) -> Vec<String> {
        self.events.lock().unwrap().iter().map(|e| e.kind.clone()).collect()
    }

    pub fn sessions_started(&self) -> usize {
        self.sessions_started.lock().unwrap().len()
    }

    /// The inputs sent to the bot, in order.
    pub fn sent(&self) -> Vec<BotInput> {
        self.inputs.lock().unwrap().iter().map(|(_, i)| i.clone()).collect()
    }

    fn next_failure(&self) -> Option<ChatbotError> {
        self.failures.lock().unwrap().pop_front()
    }
}

#[async_trait]
impl Chatbot for ScriptedChatbot {
    async fn start_conversation(&self) -> Result<String, ChatbotError> {
        if let Some(error) = self.next_failure() {
            return Err(error);
        }
        let mut started = self.sessions_started.lock().unwrap();
        let token = format!("session-{}", started.len() + 1);
        started.push(token.clone());
        Ok(token)
    }

    async fn send(&self, session: &BotSession, input: &BotInput) -> Result<BotResponse, ChatbotError> {
        if let Some(error) = self.next_failure() {
            return Err(error);
        }
        self.inputs.lock().unwrap().push((session.token.clone(), input.clone()));
        let scripted = self.script.lock().unwrap().iter().find(|(i, _)| i == input).map(|(_, r)| r.clone());
        let body = scripted.unwrap_or_else(|| json!({"answers":[{"type":"answer","message":"Sorry, no results.","flags":["no-results"]}]}));
        BotResponse::from_json(body).map_err(|e| ChatbotError::Protocol(e.to_string()))
    }

    async fn track(&self, _session: &BotSession, event: &TrackingEvent) -> Result<(), ChatbotError> {
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }

    async fn set_variable(&self, _session: &BotSession, name: &str, value: &str) -> Result<(), ChatbotError> {
        self.variables.lock().unwrap().push((name.to_owned(), value.to_owned()));
        Ok(())
    }

    /// No ExtraInfo: the label files and the configuration decide.
    async fn app_data(&self, _group: &str) -> Result<ExtraInfo, ChatbotError> {
        Ok(ExtraInfo::default())
    }

    /// The user's inputs so far, each followed by "ok" from the bot.
    async fn history(&self, _session: &BotSession) -> Result<Vec<HistoryLine>, ChatbotError> {
        let inputs = self.inputs.lock().unwrap();
        Ok(inputs
            .iter()
            .filter_map(|(_, input)| match input {
                BotInput::Message(text) => Some(text.clone()),
                _ => None,
            })
            .flat_map(|text| [(true, text), (false, "ok".to_owned())])
            .map(|(from_user, message)| HistoryLine { from_user, message, created: 0 })
            .collect())
    }
}

/// A live chat with a settable number of available agents, recording the chats it opens and
/// the messages it is given.
#[derive(Default)]
pub struct ScriptedLiveChat {
    agents: AtomicI64,
    pub opened: Mutex<Vec<ChatRequest>>,
    pub messages: Mutex<Vec<(String, String)>>,
    /// Files passed on: chat id and file name.
    pub files: Mutex<Vec<(String, String)>>,
    pub closed: Mutex<Vec<String>>,
    /// The next `send_message` fails with this.
    pub failing: Mutex<Option<LiveChatError>>,
    /// The next `send_file` fails with this.
    pub failing_file: Mutex<Option<LiveChatError>>,
}

impl ScriptedLiveChat {
    pub fn with_agents(agents: i64) -> Self {
        Self { agents: AtomicI64::new(agents), ..Self::default() }
    }
}

#[async_trait]
impl LiveChat for ScriptedLiveChat {
    async fn agents_available(&self) -> Result<bool, LiveChatError> {
        Ok(self.agents.load(Ordering::SeqCst) > 0)
    }

    async fn open_chat(&self, request: &ChatRequest) -> Result<ChatRef, LiveChatError> {
        let mut opened = self.opened.lock().unwrap();
        opened.push(request.clone());
        Ok(ChatRef { chat_id: format!("chat-{}", opened.len()), user_id: "user-1".into() })
    }

    async fn send_message(&self, chat: &ChatRef, text: &str) -> Result<(), LiveChatError> {
        if let Some(error) = self.failing.lock().unwrap().take() {
            return Err(error);
        }
        self.messages.lock().unwrap().push((chat.chat_id.clone(), text.to_owned()));
        Ok(())
    }

    async fn send_file(&self, chat: &ChatRef, file: &FileContent) -> Result<(), LiveChatError> {
        if let Some(error) = self.failing_file.lock().unwrap().take() {
            return Err(error);
        }
        self.files.lock().unwrap().push((chat.chat_id.clone(), file.name.clone()));
        Ok(())
    }

    async fn close_chat(&self, chat: &ChatRef) -> Result<(), LiveChatError> {
        self.closed.lock().unwrap().push(chat.chat_id.clone());
        Ok(())
    }

    async fn abandon_chat(&self, chat_id: &str) -> Result<(), LiveChatError> {
        self.closed.lock().unwrap().push(chat_id.to_owned());
        Ok(())
    }

    async fn agent_name(&self, agent_id: &str) -> Result<String, LiveChatError> {
        Ok(format!("Agent {agent_id}"))
    }

    async fn chat_owner(&self, _chat_id: &str) -> Result<Option<String>, LiveChatError> {
        Ok(None)
    }
}

/// A user's channel that hands over any file whose URL does not say `too-large` (which is over
/// a 5 MB limit) or `broken`, with the reply window given (default: none).
#[derive(Default)]
pub struct ScriptedChannel {
    pub reply_window: Option<Duration>,
}

#[async_trait]
impl UserChannel for ScriptedChannel {
    fn reply_window(&self) -> Option<Duration> {
        self.reply_window
    }

    async fn display_name(&self) -> Option<String> {
        None
    }

    async fn fetch_file(&self, file: &UserFile) -> Result<FileContent, FileError> {
        if file.url.contains("too-large") {
            return Err(FileError::TooLarge { limit: 5_000_000 });
        }
        if file.url.contains("broken") {
            return Err(FileError::Unavailable("HTTP 500".into()));
        }
        let name = file.name.clone().unwrap_or_else(|| file.url.rsplit('/').next().unwrap_or_default().to_owned());
        Ok(FileContent { name, media_type: file.media_type.clone().unwrap_or_default(), bytes: file.url.as_bytes().to_vec() })
    }
}
