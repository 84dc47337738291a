//! What start-up says before anything runs: a channel configured only in part.
//!
//! A channel with none of its credentials is simply not served (its function is not deployed,
//! `connector-local` answers it with local stand-ins, the HyperChat function cannot reach its
//! users). One with some of them is a mistake (a token pasted without its account, a key id
//! without its secret) that each channel's own `setup` would report as "X must be set", or not
//! at all where another source can fill the gap (ExtraInfo for Smooch's key). So each channel's
//! registration (`Registered::CREDENTIALS`) lists the credentials that go together, and a
//! channel with some but not all of them is named with what is set and what is missing, in one
//! line.

use crate::registry::CHANNELS;
use connector_config::Config;
use std::fmt;

/// A credential: its environment variable and the key it sets.
pub type Credential = (&'static str, &'static str);

/// Which credentials make a channel configured, and what it then needs (each channel's are in
/// its module, `Registered::CREDENTIALS`).
pub struct ChannelCredentials {
    /// Any of these set means the channel is meant to be served.
    pub any: &'static [Credential],
    /// Then all of these must be set.
    pub needs: &'static [Credential],
    /// And each of these groups is set whole or not at all (an API key that another source,
    /// such as ExtraInfo, may give instead).
    pub together: &'static [&'static [Credential]],
}

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
    pub fn check(&self, channel: &'static str, config: &Config) -> Option<HalfConfigured> {
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
        Some(HalfConfigured { channel, set, missing })
    }
}

/// Every channel configured only in part.
pub fn half_configured(config: &Config) -> Vec<HalfConfigured> {
    CHANNELS.iter().filter_map(|channel| channel.credentials.check(channel.name, config)).collect()
}
