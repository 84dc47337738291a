//! The AWS SDK's HTTP client (DynamoDB, SQS): the product's own reqwest (rustls on ring), so
//! every function has one HTTP/1.1 stack. The SDK's default client would add a second one with
//! HTTP/2 and the system's root store, which the JSON APIs of DynamoDB and SQS do not need
//! (docs/design-notes.md, "Build").

use aws_sdk_dynamodb::config::{HttpClient, SharedHttpClient};
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The connect and read timeouts the SDK asks a connector for.
type Timeouts = (Option<Duration>, Option<Duration>);

/// Builds one reqwest client per timeout settings the SDK asks for (in practice one).
#[derive(Debug, Default)]
struct Reqwest {
    clients: Mutex<HashMap<Timeouts, SharedHttpConnector>>,
}

/// The HTTPS client to give the SDK's configuration.
pub fn client() -> SharedHttpClient {
    SharedHttpClient::new(Reqwest::default())
}

impl HttpClient for Reqwest {
    fn http_connector(&self, settings: &HttpConnectorSettings, _components: &RuntimeComponents) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients
            .entry(key)
            .or_insert_with(|| {
                let mut builder = upstream::http_client_builder();
                if let Some(connect) = key.0 {
                    builder = builder.connect_timeout(connect);
                }
                if let Some(read) = key.1 {
                    builder = builder.read_timeout(read);
                }
                SharedHttpConnector::new(Connector(builder.build().map_err(Arc::new)))
            })
            .clone()
    }
}

/// One client; a client that could not be built fails every call with why.
#[derive(Debug)]
struct Connector(Result<reqwest::Client, Arc<reqwest::Error>>);

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let client = client.map_err(|error| ConnectorError::user(Box::new(BuildFailed(error))))?;
            let request = request.try_into_http1x().map_err(|error| ConnectorError::user(error.into()))?;
            let (parts, body) = request.into_parts();
            // DynamoDB's and SQS's requests are JSON documents, always in memory.
            let body =
                body.bytes().map(bytes::Bytes::copy_from_slice).ok_or_else(|| ConnectorError::user("a streaming request body".into()))?;
            let request =
                reqwest::Request::try_from(http::Request::from_parts(parts, body)).map_err(|error| ConnectorError::user(error.into()))?;
            let response = client.execute(request).await.map_err(connector_error)?;
            let mut answer = http::Response::builder().status(response.status()).version(response.version());
            if let Some(headers) = answer.headers_mut() {
                headers.extend(response.headers().iter().map(|(name, value)| (name.clone(), value.clone())));
            }
            let body = response.bytes().await.map_err(connector_error)?;
            let answer = answer.body(SdkBody::from(body)).map_err(|error| ConnectorError::other(error.into(), None))?;
            HttpResponse::try_from(answer).map_err(|error| ConnectorError::other(error.into(), None))
        })
    }
}

/// As the SDK's own client sorts them: timeouts, connections that failed (retryable), the rest.
fn connector_error(error: reqwest::Error) -> ConnectorError {
    if error.is_timeout() {
        ConnectorError::timeout(error.into())
    } else if error.is_connect() {
        ConnectorError::io(error.into()).never_connected()
    } else if error.is_builder() {
        ConnectorError::user(error.into())
    } else {
        // The connection broke while the request or its answer was under way.
        ConnectorError::io(error.into())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the HTTP client for the AWS SDK could not be built")]
struct BuildFailed(#[source] Arc<reqwest::Error>);
