//! Lambda entry point for the Smooch / Sunshine Conversations webhook: build everything once
//! per cold start, then hand every request to the shared handler.

use connector_app::{App, Smooch, lambda};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_logging();
    lambda::build_and_serve(async {
        let app = App::from_env().await?;
        app.channel_function::<Smooch>(app.inbenta()?).await
    })
    .await
}
