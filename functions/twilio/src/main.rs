//! Lambda entry point for the Twilio (SMS and WhatsApp) webhook: build everything once per
//! cold start, then hand every request to the shared handler.

use connector_app::{App, Twilio, lambda};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_logging();
    lambda::build_and_serve(async {
        let app = App::from_env().await?;
        app.channel_function::<Twilio>(app.inbenta()?).await
    })
    .await
}
