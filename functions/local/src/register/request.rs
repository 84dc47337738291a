//! One provider request as `register` prints and sends it: what is shown (secrets masked)
//! and the provider's error as its body names it.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Provider {
    Twilio,
    Smooch,
    Graph,
    HyperChat,
}

pub(super) enum Body {
    Empty,
    Form(Vec<(String, String)>),
    Json(Value),
}

pub(super) enum Auth {
    None,
    Basic(String, String),
    Headers(Vec<(&'static str, String)>),
}

pub(super) struct Request {
    pub(super) provider: Provider,
    pub(super) method: reqwest::Method,
    pub(super) url: String,
    pub(super) query: Vec<(String, String)>,
    pub(super) body: Body,
    pub(super) auth: Auth,
}

impl Request {
    pub(super) fn new(provider: Provider, method: reqwest::Method, url: String) -> Self {
        Self { provider, method, url, query: Vec::new(), body: Body::Empty, auth: Auth::None }
    }

    pub(super) fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(super) fn form(mut self, pairs: &[(&str, &str)]) -> Self {
        self.body = Body::Form(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
        self
    }

    pub(super) fn json(mut self, body: Value) -> Self {
        self.body = Body::Json(body);
        self
    }

    pub(super) fn basic(mut self, user: &str, password: &str) -> Self {
        self.auth = Auth::Basic(user.to_owned(), password.to_owned());
        self
    }

    pub(super) fn headers(mut self, headers: Vec<(&'static str, String)>) -> Self {
        self.auth = Auth::Headers(headers);
        self
    }
}

pub(super) fn encode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)]).unwrap_or_default().trim_start_matches('=').to_owned()
}

/// A provider's error, as its error body names it.
pub(super) fn provider_error(provider: Provider, body: &Value) -> String {
    let described = match provider {
        Provider::Twilio => body["code"].as_i64().map(|code| format!("Twilio error {code}: {}", text(&body["message"]))),
        Provider::Smooch => {
            body["errors"][0]["code"].as_str().map(|code| format!("Smooch error {code}: {}", text(&body["errors"][0]["title"])))
        }
        Provider::Graph => body["error"]["code"].as_i64().map(|code| {
            let subcode = body["error"]["error_subcode"].as_i64().map(|s| format!("/{s}")).unwrap_or_default();
            let trace = body["error"]["fbtrace_id"].as_str().map(|t| format!(" (fbtrace_id {t})")).unwrap_or_default();
            format!("Graph error {code}{subcode}: {}{trace}", text(&body["error"]["message"]))
        }),
        Provider::HyperChat => {
            body["error"]["code"].as_i64().map(|code| format!("HyperChat error {code}: {}", text(&body["error"]["message"])))
        }
    };
    described.unwrap_or_else(|| "no error code in the answer".to_owned())
}

impl Run {
    /// The URL as printed: secret query values as `***`.
    pub(super) fn shown_url(request: &Request) -> String {
        if request.query.is_empty() {
            return request.url.clone();
        }
        let query: Vec<String> = request
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), if SECRET_FIELDS.contains(&k.as_str()) { "***".to_owned() } else { encode(v) }))
            .collect();
        format!("{}?{}", request.url, query.join("&"))
    }

    pub(super) fn shown_body(body: &Body) -> Option<String> {
        fn hide(value: &Value) -> Value {
            match value {
                Value::Object(object) => Value::Object(
                    object
                        .iter()
                        .map(|(k, v)| (k.clone(), if SECRET_FIELDS.contains(&k.as_str()) { json!("***") } else { hide(v) }))
                        .collect(),
                ),
                Value::Array(items) => Value::Array(items.iter().map(hide).collect()),
                other => other.clone(),
            }
        }
        match body {
            Body::Empty => None,
            Body::Form(pairs) => Some(
                pairs
                    .iter()
                    .map(|(k, v)| {
                        format!("{}={}", encode(k), if SECRET_FIELDS.contains(&k.as_str()) { "***".to_owned() } else { encode(v) })
                    })
                    .collect::<Vec<_>>()
                    .join("&"),
            ),
            Body::Json(value) => Some(hide(value).to_string()),
        }
    }

    /// Prints the request and, unless this is a dry run, makes it: `Ok(None)` in a dry run, the
    /// answer's JSON on success, the provider's error (code included) otherwise.
    pub(super) async fn send(&self, request: Request) -> Result<Option<Value>, String> {
        let shown = format!("{} {}", request.method, Self::shown_url(&request));
        let body = Self::shown_body(&request.body);
        let print = |answer: &str| {
            self.say(&format!("  {shown}{answer}"));
            if let Some(body) = &body {
                self.say(&format!("      {body}"));
            }
        };
        if self.dry_run {
            print("");
            return Ok(None);
        }
        let url = match serde_urlencoded::to_string(&request.query) {
            Ok(query) if !query.is_empty() => format!("{}?{query}", request.url),
            _ => request.url.clone(),
        };
        let mut builder = self.http.request(request.method.clone(), url).header("accept", "application/json");
        builder = match &request.auth {
            Auth::None => builder,
            Auth::Basic(user, password) => builder.basic_auth(user, Some(password)),
            Auth::Headers(headers) => headers.iter().fold(builder, |b, (name, value)| b.header(*name, value)),
        };
        builder = match &request.body {
            Body::Empty => builder,
            Body::Form(pairs) => builder.form(pairs),
            Body::Json(value) => builder.json(value),
        };
        let provider = request.provider;
        let answer = match builder.send().await {
            Ok(answer) => answer,
            Err(error) => {
                print(" -> no answer");
                let error = connector_engine::error_chain(&error.without_url());
                return Err(format!("{shown}: no answer from {provider:?} ({error})"));
            }
        };
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        print(&format!(" -> {}", status.as_u16()));
        let json: Value = if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
        if status.is_success() {
            Ok(Some(json))
        } else {
            Err(format!("{shown} answered {}: {}", status.as_u16(), provider_error(provider, &json)))
        }
    }
}
