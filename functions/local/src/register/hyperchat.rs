//! HyperChat: what to enter in Backstage, and whether it is registered.

use super::*;

impl Run {
    /// What to enter in Backstage, and, with the app's credentials, whether it is there.
    pub(super) async fn hyperchat(&self, base: Option<String>, credentials: Option<(String, String)>, url: &str) -> Outcome {
        self.say(&format!(
            "  In Backstage, Messenger > Settings > Chat > Webhooks: add {url} for the events\n    {}\n  HyperChat then calls it once with X-Hook-Secret, which the function stores: do it right after deploying (or preset HyperChatWebhookSecret).\n  Replies to tickets: the same URL as an external ticket source, its secret as InbentaMessengerWebhookSecret (README, \"Live agents\").",
            HYPERCHAT_EVENTS.join(", ")
        ));
        let manual = Outcome::Manual(format!("register {url} in Backstage for the {} events above", HYPERCHAT_EVENTS.len()));
        let (Some(base), Some((app_id, secret))) = (base, credentials) else {
            self.say("  (set HYPERCHAT_APP_ID and HYPERCHAT_SECRET to check what is registered)");
            return manual;
        };
        let listed = Request::new(Provider::HyperChat, reqwest::Method::GET, format!("{}/v1/webhooks", trim_base(&base)))
            .headers(vec![("x-hyper-appid", app_id), ("x-hyper-secret", secret)]);
        match self.send(listed).await {
            Err(error) => Outcome::Failed(format!("{error}; register it in Backstage as above")),
            Ok(None) => manual,
            Ok(Some(list)) => {
                // The answer's shape is documented nowhere we know of: any object naming the URL
                // counts, with whatever event names it holds.
                let mut events = Vec::new();
                let found = collect_registered(&list, url, &mut events);
                let lacking = missing(&events, HYPERCHAT_EVENTS);
                if found && lacking.is_empty() {
                    Outcome::Unchanged(format!("HyperChat lists {url} for all {} events", HYPERCHAT_EVENTS.len()))
                } else if found {
                    Outcome::Manual(format!("HyperChat lists {url}, without the events {}: add them in Backstage", lacking.join(", ")))
                } else {
                    Outcome::Manual(format!("HyperChat lists no webhook to {url}: register it in Backstage as above"))
                }
            }
        }
    }
}

/// Whether any object in `value` has a string equal to `url`; the strings of such objects (at
/// any depth) are added to `events`.
pub(super) fn collect_registered(value: &Value, url: &str, events: &mut Vec<String>) -> bool {
    pub(super) fn all_strings(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| all_strings(v, out)),
            Value::Object(object) => object.values().for_each(|v| all_strings(v, out)),
            _ => {}
        }
    }
    match value {
        Value::Object(object) if object.values().any(|v| v.as_str() == Some(url)) => {
            all_strings(value, events);
            true
        }
        Value::Object(_) | Value::Array(_) => {
            // Every child is visited, so every registration's events are collected.
            let children: Vec<&Value> = match value {
                Value::Object(object) => object.values().collect(),
                Value::Array(items) => items.iter().collect(),
                _ => Vec::new(),
            };
            let mut found = false;
            for child in children {
                found |= collect_registered(child, url, events);
            }
            found
        }
        _ => false,
    }
}
