//! The user's channel as the engine's port sees it.

use super::*;

/// The user's channel, as the engine asks it: their name when a chat opens, the files they
/// send their agent, its reply window.
pub(super) struct UserChannelPort<'a> {
    pub(super) sink: &'a dyn AnySender,
    pub(super) address: &'a ReplyAddress,
    pub(super) max_file_bytes: u64,
    pub(super) deadline: Instant,
}

#[async_trait::async_trait]
impl UserChannel for UserChannelPort<'_> {
    fn reply_window(&self) -> Option<Duration> {
        self.sink.reply_window(self.address)
    }

    async fn display_name(&self) -> Option<String> {
        self.sink.display_name(self.address, self.deadline).await
    }

    async fn fetch_file(&self, file: &UserFile) -> Result<FileContent, FileError> {
        self.sink.fetch_file(file, self.max_file_bytes, self.deadline).await
    }
}
