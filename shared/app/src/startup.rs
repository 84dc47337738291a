//! What start-up says before anything runs: a channel configured only in part.
//!
//! A channel with none of its credentials is simply not served (its function is not deployed,
//! `connector-local` answers it with local stand-ins, the HyperChat function cannot reach its
//! users). One with some of them is a mistake (a token pasted without its account, a key id
//! without its secret) that each channel's own `setup` would report as "X must be set", or not
//! at all where another source can fill the gap (ExtraInfo for Smooch's key). So the credentials
//! that go together are listed here, by channel, and a channel with some but not all of them
//! is named with what is set and what is missing, in one line.

use connector_config::Config;
use std::fmt;

/// A credential: its environment variable and the key it sets.
type Credential = (&'static str, &'static str);

/// Which credentials make a channel configured, and what it then needs.
pub struct ChannelCredentials {
    pub channel: &'static str,
    /// Any of these set means the channel is meant to be served.
    pub any: &'static [Credential],
    /// Then all of these must be set.
    pub needs: &'static [Credential],
    /// And each of these groups is set whole or not at all (an API key that another source,
    /// such as ExtraInfo, may give instead).
    pub together: &'static [&'static [Credential]],
}

const TWILIO_SID: Credential = ("TWILIO_ACCOUNT_SID", "twilio.credentials.sid");
const TWILIO_TOKEN: Credential = ("TWILIO_AUTH_TOKEN", "twilio.credentials.auth_token");
const TWILIO_URL: Credential = ("TWILIO_WEBHOOK_URL", "twilio.webhook_url");
const SMOOCH_WEBHOOK_SECRET: Credential = ("SMOOCH_WEBHOOK_SECRET", "smooch.webhook_secret");
const SMOOCH_KEY_ID: Credential = ("SMOOCH_KEY_ID", "smooch.key_id");
const SMOOCH_SECRET: Credential = ("SMOOCH_SECRET", "smooch.secret");
const MESSENGER_APP_SECRET: Credential = ("MESSENGER_APP_SECRET", "messenger.app_secret");
const MESSENGER_VERIFY_TOKEN: Credential = ("MESSENGER_VERIFY_TOKEN", "messenger.verify_token");
const MESSENGER_PAGE_TOKEN: Credential = ("MESSENGER_PAGE_TOKEN", "messenger.page_token");

/// Every channel's credentials. The webhook URL does not make Twilio configured (the SAM
/// template sets it for the HyperChat function whether Twilio is deployed or not), but a
/// configured Twilio needs it; Smooch's and Messenger's page token and API key may come from
/// ExtraInfo instead.
pub const CHANNELS: &[ChannelCredentials] = &[
    ChannelCredentials {
        channel: "Twilio",
        any: &[TWILIO_SID, TWILIO_TOKEN],
        needs: &[TWILIO_SID, TWILIO_TOKEN, TWILIO_URL],
        together: &[],
    },
    ChannelCredentials {
        channel: "Smooch",
        any: &[SMOOCH_WEBHOOK_SECRET, SMOOCH_KEY_ID, SMOOCH_SECRET],
        needs: &[SMOOCH_WEBHOOK_SECRET],
        together: &[&[SMOOCH_KEY_ID, SMOOCH_SECRET]],
    },
    ChannelCredentials {
        channel: "Messenger",
        any: &[MESSENGER_APP_SECRET, MESSENGER_VERIFY_TOKEN, MESSENGER_PAGE_TOKEN],
        needs: &[MESSENGER_APP_SECRET, MESSENGER_VERIFY_TOKEN],
        together: &[],
    },
];

/// A channel some of whose credentials are set and others not.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub struct HalfConfigured {
    pub channel: &'static str,
    pub set: Vec<&'static str>,
    pub missing: Vec<&'static str>,
}

impl fmt::Display for HalfConfigured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (set, missing) = (self.set.len(), self.missing.len());
        write!(
            f,
            "{} is half-configured: {} {} set but {} {} not (set {} too, or unset the rest to leave {} out)",
            self.channel,
            names(&self.set),
            if set == 1 { "is" } else { "are" },
            names(&self.missing),
            if missing == 1 { "is" } else { "are" },
            if missing == 1 { "it" } else { "them" },
            self.channel
        )
    }
}

/// Shown as the message it is: a Lambda function that stops at start prints its error with
/// `Debug`.
impl fmt::Debug for HalfConfigured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn names(variables: &[&str]) -> String {
    match variables {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

impl ChannelCredentials {
    /// What is missing, if the channel is configured only in part; `None` when it is whole or
    /// not configured at all.
    pub fn check(&self, config: &Config) -> Option<HalfConfigured> {
        let is_set = |(_, key): &Credential| config.is_set(key);
        if !self.any.iter().any(is_set) {
            return None;
        }
        let mut missing: Vec<&'static str> = self.needs.iter().filter(|c| !is_set(c)).map(|(variable, _)| *variable).collect();
        // What is set is said of what is incomplete: the channel's credentials when it lacks
        // one it needs, else the group that is set in part.
        let mut set: Vec<&'static str> =
            if missing.is_empty() { Vec::new() } else { self.any.iter().filter(|c| is_set(c)).map(|(variable, _)| *variable).collect() };
        for group in self.together {
            if group.iter().any(is_set) && !group.iter().all(is_set) {
                missing.extend(group.iter().filter(|c| !is_set(c)).map(|(variable, _)| *variable));
                set.extend(
                    group
                        .iter()
                        .filter(|c| is_set(c))
                        .map(|(variable, _)| *variable)
                        .filter(|variable| !set.contains(variable))
                        .collect::<Vec<_>>(),
                );
            }
        }
        if missing.is_empty() {
            return None;
        }
        Some(HalfConfigured { channel: self.channel, set, missing })
    }
}

/// The channel's entry of [`CHANNELS`], checked.
pub(crate) fn check(config: &Config, channel: &str) -> Result<(), HalfConfigured> {
    match CHANNELS.iter().find(|credentials| credentials.channel == channel).and_then(|credentials| credentials.check(config)) {
        Some(half) => Err(half),
        None => Ok(()),
    }
}

/// Every channel configured only in part.
pub fn half_configured(config: &Config) -> Vec<HalfConfigured> {
    CHANNELS.iter().filter_map(|credentials| credentials.check(config)).collect()
}
