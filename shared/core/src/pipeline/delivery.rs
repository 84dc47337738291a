//! Delivery: a turn's messages sent in order with write-ahead progress, a send in doubt
//! settled by asking the provider, and what the progress record says.

use super::*;

/// How a delivery ended.
pub(super) enum Delivered {
    /// Every message was attempted (or the user cannot be reached): the turn is over.
    /// `missed`: why some did not reach the user.
    All { sent: usize, missed: Option<Missed> },
    /// Stopped before the end; the outbox and the progress record keep the rest for a retry
    /// or the user's next message.
    Stopped(PipelineError),
}

/// A turn's outbox, its rendering and where its delivery stands.
pub(super) struct Delivery<'a> {
    pub(super) outbox: &'a Outbox,
    pub(super) sink: &'a dyn AnySender,
    pub(super) rendered: &'a Rendered,
    /// What earlier attempts did.
    pub(super) progress: Progress,
}

impl Pipeline {
    /// How far a message's delivery got, as stored now, trying until the deadline (a store
    /// that lost one answer under load usually gives the next). `None`: never read.
    pub(super) async fn progress_read_back(&self, message: &MessageId, budget: Budget) -> Option<Option<Progress>> {
        let mut backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(300), budget.hard);
        loop {
            match self.bounded(self.store.progress(message, self.clock.now()), budget.hard).await {
                Ok(progress) => return Some(progress),
                Err(error) => tracing::warn!(error = %error_chain(&error), "delivery progress read back failed"),
            }
            if !backoff.wait().await {
                return None;
            }
        }
    }

    /// Sends what a stored outbox still holds.
    pub(super) async fn deliver_stored(&self, outbox: &Outbox, progress: Progress, user_wrote_at: Timestamp, budget: Budget) -> Delivered {
        let Some(sink) = self.sinks.get(&outbox.address.channel).cloned() else {
            tracing::error!(channel = %outbox.address.channel, "no sender for an earlier turn's replies: dropped");
            return Delivered::All { sent: 0, missed: None };
        };
        let occasion = Occasion { from_agent: outbox.from_agent, since_user_wrote: since(self.clock.now(), user_wrote_at) };
        let rendered = match sink.render(&outbox.address, &outbox.replies, &occasion) {
            Ok(rendered) => rendered,
            Err(error) => {
                tracing::error!(error = %error_chain(&error), "an earlier turn's replies cannot be rendered: dropped");
                return Delivered::All { sent: 0, missed: None };
            }
        };
        self.send_all(&Delivery { outbox, sink: sink.as_ref(), rendered: &rendered, progress }, budget).await
    }

    /// Sends the messages not attempted yet, in order. Before a send starts, the progress
    /// record says it may have happened, so no retry ever repeats it unless the provider, asked,
    /// says it never got it; a turn with nothing to send is recorded done all the same.
    pub(super) async fn send_all(&self, delivery: &Delivery<'_>, budget: Budget) -> Delivered {
        let total = delivery.rendered.len();
        let message = &delivery.outbox.message_id;
        let (mut sent, mut missed) = (0, None);
        let mut next = delivery.progress.attempted;
        let doubt = match delivery.progress.last_send {
            LastSend::AnswerLost(at) => Some(at),
            // An attempt that stopped during a send: on a channel that cannot be asked, the
            // send counts as done (at most once).
            LastSend::Started(at) if next > 0 && delivery.sink.can_look_up(delivery.rendered) => Some(at),
            LastSend::Started(_) | LastSend::Settled => None,
        };
        if let Some(at) = doubt {
            match self.settle_doubt(delivery, next.saturating_sub(1), at, budget).await {
                Ok(Lookup::Found) => sent += 1,
                Ok(Lookup::Absent) => next = next.saturating_sub(1),
                Err(error) => return Delivered::Stopped(error),
            }
        }
        if total == 0 || next >= total {
            return match self.record(message, Progress::attempted(total, total), budget.hard).await {
                Ok(()) => Delivered::All { sent, missed },
                Err(error) => Delivered::Stopped(error),
            };
        }
        for index in next..total {
            if Instant::now() >= budget.send {
                return Delivered::Stopped(PipelineError::Undelivered(SendError::Unavailable(deadline_passed())));
            }
            let tag = send_tag(delivery.outbox, index, self.clock.now());
            let recorded = Progress { attempted: index + 1, total, last_send: LastSend::Started(tag.at) };
            if let Err(error) = self.record(message, recorded, budget.send).await {
                // Applied or not? A record that was applied would make a retry skip this
                // message: only a confirmed "not applied" may stop here.
                match self.progress_read_back(message, budget).await {
                    Some(Some(stored)) if stored.attempted > index => {
                        tracing::warn!(error = %error_chain(&error), "progress answer lost but recorded")
                    }
                    Some(_) => return Delivered::Stopped(error),
                    None => {
                        tracing::warn!(
                            error = %error_chain(&error),
                            index,
                            "progress unknown until the deadline: not sent now; if the record was applied, the retry asks the channel"
                        );
                        return Delivered::Stopped(error);
                    }
                }
            }
            match delivery.sink.send(delivery.rendered, index, &tag, budget.send).await {
                Ok(()) => sent += 1,
                Err(SendError::Ambiguous(error)) if delivery.sink.can_look_up(delivery.rendered) => {
                    tracing::warn!(error = %error_chain(&error), index, "send answer lost: the channel is asked whether it got the message");
                    let doubt = Progress { last_send: LastSend::AnswerLost(tag.at), ..recorded };
                    match self.record(message, doubt, budget.hard).await {
                        Ok(()) => return Delivered::Stopped(PipelineError::Unconfirmed(SendError::Ambiguous(error))),
                        Err(record) => {
                            tracing::error!(error = %error_chain(&record), index, "the doubt was not recorded: the message is taken as delivered");
                            sent += 1;
                        }
                    }
                }
                Err(SendError::Ambiguous(error)) => {
                    tracing::warn!(error = %error_chain(&error), index, "send answer lost; the channel cannot be asked, so the message is not repeated");
                    sent += 1;
                    missed = missed.or(Some(Missed::Unconfirmed));
                }
                Err(error @ SendError::Refused { recipient_unreachable: true, .. }) => {
                    tracing::error!(error = %error_chain(&error), code = ?refused_code(&error), "the user cannot be reached: the turn's other replies are dropped");
                    if let Err(record) = self.record(message, Progress::attempted(total, total), budget.hard).await {
                        tracing::warn!(error = %error_chain(&record), "dropped replies not recorded; a retry will try them");
                    }
                    return Delivered::All { sent, missed: Some(Missed::Undelivered(error.reason())) };
                }
                Err(error @ (SendError::Refused { .. } | SendError::BadAddress(_))) => {
                    tracing::error!(error = %error_chain(&error), code = ?refused_code(&error), index, "a reply was refused and is dropped");
                    missed = Some(Missed::Undelivered(error.reason()));
                }
                Err(error @ (SendError::Unavailable(_) | SendError::NotConfigured(_))) => {
                    // It certainly did not happen: no longer recorded as attempted, so a retry
                    // sends it.
                    self.undo(message, Progress::attempted(index, total), budget).await;
                    return Delivered::Stopped(PipelineError::Undelivered(error));
                }
            }
        }
        Delivered::All { sent, missed }
    }

    /// Asks the channel whether it got the message whose send's answer was lost at `at`.
    /// Until it answers, nothing after it is sent.
    pub(super) async fn settle_doubt(
        &self,
        delivery: &Delivery<'_>,
        index: usize,
        at: Timestamp,
        budget: Budget,
    ) -> Result<Lookup, PipelineError> {
        let tag = send_tag(delivery.outbox, index, at);
        match delivery.sink.look_up(delivery.rendered, index, &tag, budget.send).await {
            Ok(Lookup::Found) => {
                tracing::info!(index, "the channel got the message whose answer was lost: not sent again");
                Ok(Lookup::Found)
            }
            Ok(Lookup::Absent) => {
                tracing::warn!(index, "the channel never got the message whose answer was lost: sending it again");
                Ok(Lookup::Absent)
            }
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), index, "the channel could not say whether it got the message: asked again later");
                Err(PipelineError::Unconfirmed(error))
            }
        }
    }

    pub(super) async fn record(&self, message: &MessageId, progress: Progress, deadline: Instant) -> Result<(), PipelineError> {
        let expires_at = self.clock.now().plus(self.timing.dedupe_ttl);
        self.bounded(self.store.record_progress(message, progress, expires_at), deadline).await
    }

    /// Records that a send did not happen after all, trying until the deadline.
    pub(super) async fn undo(&self, message: &MessageId, progress: Progress, budget: Budget) {
        let mut backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(300), budget.hard);
        while let Err(undo) = self.record(message, progress, budget.hard).await {
            if !backoff.wait().await {
                tracing::error!(error = %error_chain(&undo), index = progress.attempted, "could not record that a reply was not sent: it is lost");
                break;
            }
        }
    }
}

/// Where an earlier turn's delivery stands, when some of it is still to send (or in doubt).
pub(super) fn pending(outbox: &Outbox, progress: Option<Progress>) -> Option<Progress> {
    match progress {
        Some(progress) if progress.is_done() => None,
        Some(progress) => Some(progress),
        // Committed, and nothing recorded since: unless it had nothing to send, all of it.
        None => Some(Progress::attempted(0, 0)).filter(|_| !outbox.replies.is_empty()),
    }
}

/// The tag of a turn's `index`th message: the same on every attempt.
pub(super) fn send_tag(outbox: &Outbox, index: usize, at: Timestamp) -> SendTag {
    SendTag { id: crate::digest(&format!("{}#{index}", outbox.message_id)), at, from_agent: outbox.from_agent }
}

pub(super) fn refused_code(error: &SendError) -> Option<String> {
    match error {
        SendError::Refused { code, .. } => code.as_ref().map(ToString::to_string),
        _ => None,
    }
}

pub(super) fn deadline_passed() -> upstream::UpstreamError {
    upstream::UpstreamError::Timeout { service: "the request's deadline", maybe_delivered: false }
}
