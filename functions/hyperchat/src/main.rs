//! Lambda entry point for HyperChat's webhook: agents' messages and chat events reach the users
//! of every channel. Build everything once per cold start, then serve.

use connector_app::{App, lambda};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_logging();
    lambda::build_and_serve(async {
        let app = App::from_env().await?;
        app.hyperchat_function(app.inbenta()?).await
    })
    .await
}
