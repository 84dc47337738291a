//! The local HTTP server: the same handlers as the Lambda functions, one route each.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use channels::MAX_WEBHOOK_BODY_BYTES;
use channels::bootstrap::Foundation;
use channels::twilio::TwilioWebhook;
use connector_engine::config::Sources;
use connector_engine::ports::Chatbot;
use std::path::Path;
use std::sync::Arc;

pub struct App {
    twilio: TwilioWebhook,
    /// "inbenta" or "demo", for the start-up line.
    pub bot_kind: &'static str,
}

impl App {
    pub async fn build(sources: &Sources, lang_dir: &Path) -> Result<Self, crate::Error> {
        let foundation = Foundation::load(sources, lang_dir).await?;
        if let Some(table) = foundation.settings.state.table_name.as_deref().filter(|t| !t.is_empty()) {
            // Local use only: in AWS the SAM template owns the table.
            state_store::DynamoStore::from_env(table).await.ensure_table().await?;
        }
        let (chatbot, bot_kind): (Arc<dyn Chatbot>, _) = if foundation.settings.api.has_credentials() {
            (foundation.inbenta()?, "inbenta")
        } else {
            (Arc::new(crate::demo_bot::DemoBot::new()?), "demo")
        };
        let pipeline = Arc::new(foundation.pipeline(chatbot, foundation.live_chat()?));
        Ok(Self { twilio: foundation.twilio_webhook(pipeline)?, bot_kind })
    }
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/health", get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }))
        .route("/twilio", post(twilio))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such route") })
        .with_state(app)
}

async fn twilio(State(app): State<Arc<App>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // One byte over the limit is enough to know the body is too large.
    let Ok(bytes) = axum::body::to_bytes(body, MAX_WEBHOOK_BODY_BYTES + 1).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    };
    let response = app.twilio.handle(http::Request::from_parts(parts, bytes)).await;
    response.map(Body::from)
}
