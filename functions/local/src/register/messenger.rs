//! Messenger: the app's webhook subscription and the page's subscribed apps.

use super::*;

impl Run {
    pub(super) async fn messenger_app(&self, graph: &str, app_id: &str, app_token: &str, verify_token: &str, url: &str) -> Outcome {
        let listed =
            Request::new(Provider::Graph, reqwest::Method::GET, format!("{graph}/{app_id}/subscriptions")).query("access_token", app_token);
        let fields = match self.send(listed).await {
            Err(error) => return Outcome::Failed(error),
            Ok(None) => MESSENGER_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
            Ok(Some(list)) => {
                let page = list["data"].as_array().into_iter().flatten().find(|s| text(&s["object"]) == "page");
                let have: Vec<String> = page
                    .map(|p| p["fields"].as_array().into_iter().flatten().filter_map(|f| f["name"].as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                let same_url = page.is_some_and(|p| text(&p["callback_url"]) == url);
                let active = page.is_some_and(|p| p["active"] != false);
                if same_url && active && missing(&have, MESSENGER_FIELDS).is_empty() {
                    return Outcome::Unchanged(format!("app {app_id} sends page events ({}) to {url}", have.join(", ")));
                }
                if let Some(page) = page.filter(|_| !same_url) {
                    self.say(&format!("  app {app_id}'s page webhook was {}", text(&page["callback_url"])));
                }
                union(&have, MESSENGER_FIELDS)
            }
        };
        let fields = fields.join(",");
        let subscribe = Request::new(Provider::Graph, reqwest::Method::POST, format!("{graph}/{app_id}/subscriptions")).form(&[
            ("object", "page"),
            ("callback_url", url),
            ("verify_token", verify_token),
            ("fields", &fields),
            ("access_token", app_token),
        ]);
        match self.send(subscribe).await {
            Err(error) => Outcome::Failed(format!(
                "{error} (Meta checks the callback URL at once with a GET and the verify token: is the Messenger function deployed with this MESSENGER_VERIFY_TOKEN?)"
            )),
            Ok(None) => Outcome::WouldChange(format!("app {app_id}: page events ({fields}) to {url}")),
            Ok(Some(_)) => Outcome::Changed(format!("app {app_id}: page events ({fields}) to {url}")),
        }
    }

    pub(super) async fn messenger_page(&self, graph: &str, page: &str, app_id: &str, page_token: &str) -> Outcome {
        let listed = Request::new(Provider::Graph, reqwest::Method::GET, format!("{graph}/{page}/subscribed_apps"))
            .query("access_token", page_token);
        let fields = match self.send(listed).await {
            Err(error) => return Outcome::Failed(error),
            Ok(None) => MESSENGER_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
            Ok(Some(list)) => {
                let ours = list["data"].as_array().into_iter().flatten().find(|a| text(&a["id"]) == app_id);
                let have = ours.map(|a| strings(&a["subscribed_fields"])).unwrap_or_default();
                if ours.is_some() && missing(&have, MESSENGER_FIELDS).is_empty() {
                    return Outcome::Unchanged(format!("page {page} is subscribed to app {app_id} for {}", have.join(", ")));
                }
                union(&have, MESSENGER_FIELDS)
            }
        };
        let fields = fields.join(",");
        let subscribe = Request::new(Provider::Graph, reqwest::Method::POST, format!("{graph}/{page}/subscribed_apps"))
            .form(&[("subscribed_fields", &fields), ("access_token", page_token)]);
        match self.send(subscribe).await {
            Err(error) => Outcome::Failed(error),
            Ok(None) => Outcome::WouldChange(format!("page {page}: subscribe app {app_id} to {fields}")),
            Ok(Some(_)) => Outcome::Changed(format!("page {page}: subscribed app {app_id} to {fields}")),
        }
    }
}
