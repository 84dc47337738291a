//! Lambda entry point for the Facebook Messenger webhook (Meta's GET verification and the
//! page's events): build everything once per cold start, then hand every request to the
//! shared handler.

use connector_app::{App, Messenger, lambda};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_logging();
    lambda::build_and_serve(async {
        let app = App::from_env().await?;
        app.channel_function::<Messenger>(app.inbenta()?).await
    })
    .await
}
