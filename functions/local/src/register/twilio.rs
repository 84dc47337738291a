//! Twilio: the SMS number's `SmsUrl` and the WhatsApp sender's webhook.

use super::*;

impl Run {
    pub(super) async fn twilio_number(&self, api: &str, sid: &str, token: &str, number: &str, url: &str) -> Outcome {
        let base = format!("{api}/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers");
        let listed =
            Request::new(Provider::Twilio, reqwest::Method::GET, format!("{base}.json")).query("PhoneNumber", number).basic(sid, token);
        let number_sid = match self.send(listed).await {
            Err(error) => return Outcome::Failed(error),
            Ok(None) => format!("{{sid of {number}}}"),
            Ok(Some(list)) => {
                let numbers = list["incoming_phone_numbers"].as_array().cloned().unwrap_or_default();
                let Some(found) = numbers.iter().find(|n| text(&n["phone_number"]) == number) else {
                    return Outcome::Failed(format!("{number} is no phone number of account {sid} (Twilio lists none)"));
                };
                if let Some(handler) = found["sms_application_sid"].as_str().filter(|s| !s.is_empty()) {
                    return Outcome::Failed(format!(
                        "{number}'s messages are handled by {handler}, which overrides the number's SmsUrl: set {url} (POST) there, or take the number out of it in the Console (Phone Numbers > {number} > Messaging)"
                    ));
                }
                let method = found["sms_method"].as_str().unwrap_or("POST");
                if text(&found["sms_url"]) == url && method.eq_ignore_ascii_case("POST") {
                    return Outcome::Unchanged(format!("\"A message comes in\" is already {url} (POST)"));
                }
                let before = match text(&found["sms_url"]) {
                    "" => "nothing".to_owned(),
                    other => format!("{other} ({method})"),
                };
                self.say(&format!("  {number} ({}): \"A message comes in\" was {before}", text(&found["sid"])));
                text(&found["sid"]).to_owned()
            }
        };
        let update = Request::new(Provider::Twilio, reqwest::Method::POST, format!("{base}/{number_sid}.json"))
            .form(&[("SmsUrl", url), ("SmsMethod", "POST")])
            .basic(sid, token);
        match self.send(update).await {
            Err(error) => Outcome::Failed(error),
            Ok(None) => Outcome::WouldChange(format!("{number}: SmsUrl = {url}, SmsMethod = POST")),
            Ok(Some(number_now)) if text(&number_now["sms_url"]) == url => {
                Outcome::Changed(format!("{number}: \"A message comes in\" = {url} (POST)"))
            }
            Ok(Some(number_now)) => {
                Outcome::Failed(format!("Twilio took the update but the number's sms_url is {:?}", text(&number_now["sms_url"])))
            }
        }
    }

    pub(super) async fn twilio_whatsapp(&self, api: &str, sid: &str, token: &str, number: &str, url: &str) -> Outcome {
        let sender_id = if number.starts_with("whatsapp:") { number.to_owned() } else { format!("whatsapp:{number}") };
        let console = format!(
            "in the Console, Messaging > Senders > WhatsApp senders > {sender_id} > \"Webhook URL for incoming messages\" = {url} (POST); for the sandbox, Messaging > Try it out > Send a WhatsApp message > Sandbox settings > \"When a message comes in\" = {url} (POST)"
        );
        let listed = Request::new(Provider::Twilio, reqwest::Method::GET, format!("{api}/v2/Channels/Senders"))
            .query("Channel", "whatsapp")
            .query("PageSize", "1000")
            .basic(sid, token);
        let sender_sid = match self.send(listed).await {
            Err(error) => return Outcome::Failed(format!("{error}; or set it {console}")),
            Ok(None) => format!("{{sid of {sender_id}}}"),
            Ok(Some(list)) => {
                let senders = list["senders"].as_array().cloned().unwrap_or_default();
                let Some(found) = senders.iter().find(|s| text(&s["sender_id"]) == sender_id) else {
                    return Outcome::Manual(format!("{sender_id} is no sender in Twilio's Senders API: set it {console}"));
                };
                let method = found["webhook"]["callback_method"].as_str().unwrap_or("POST");
                if text(&found["webhook"]["callback_url"]) == url && method.eq_ignore_ascii_case("POST") {
                    return Outcome::Unchanged(format!("{sender_id}'s webhook is already {url} (POST)"));
                }
                text(&found["sid"]).to_owned()
            }
        };
        let update = Request::new(Provider::Twilio, reqwest::Method::POST, format!("{api}/v2/Channels/Senders/{sender_sid}"))
            .json(json!({"webhook": {"callback_url": url, "callback_method": "POST"}}))
            .basic(sid, token);
        match self.send(update).await {
            Err(error) => Outcome::Failed(error),
            Ok(None) => Outcome::WouldChange(format!("{sender_id}: webhook.callback_url = {url} (POST)")),
            Ok(Some(sender)) if text(&sender["webhook"]["callback_url"]) == url => {
                Outcome::Changed(format!("{sender_id}: webhook = {url} (POST)"))
            }
            Ok(Some(sender)) => Outcome::Failed(format!(
                "Twilio took the update but the sender's callback_url is {:?}",
                text(&sender["webhook"]["callback_url"])
            )),
        }
    }
}
