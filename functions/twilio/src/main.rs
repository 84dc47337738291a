//! Lambda entry point for the Twilio (SMS and WhatsApp) webhook: build the clients once per
//! cold start, then hand every request to the shared handler.

use channels::bootstrap::Foundation;
use lambda_http::{Body, Error, Request, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let foundation = Foundation::from_env().await?;
    let pipeline = Arc::new(foundation.pipeline(foundation.inbenta()?, foundation.live_chat()?));
    let webhook = Arc::new(foundation.twilio_webhook(pipeline)?);
    lambda_http::run(service_fn(move |request: Request| {
        let webhook = webhook.clone();
        async move {
            let (parts, body) = request.into_parts();
            let request = lambda_http::http::Request::from_parts(parts, bytes::Bytes::from(body.to_vec()));
            Ok::<_, Error>(webhook.handle(request).await.map(Body::from))
        }
    }))
    .await
}

