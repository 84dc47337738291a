//! Inbenta's API gateway as every Inbenta product is reached through it: an access token from
//! `POST {auth}/auth` (the product's key and secret), kept by [`TokenKeeper`] and sent with the
//! key on each call; a token the gateway refuses (401/403) is dropped and the call made once
//! more with a new one.

use crate::token::{AccessToken, TokenKeeper};
use crate::{chatbot_error, interpret};
use connector_engine::ports::ChatbotError;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use upstream::{RequestBuilder, StatusClass, Upstream};

/// One product's key, secret and token.
pub(crate) struct Gateway {
    upstream: Upstream,
    api_key: String,
    api_secret: SecretString,
    /// Inbenta's auth API, without a trailing `/`.
    auth_url: String,
    tokens: TokenKeeper,
    product: Product,
}

/// What differs between the products reached through the gateway.
pub(crate) struct Product {
    /// How errors name it ("Inbenta", "Inbenta ticketing").
    pub(crate) name: &'static str,
    /// The keys of the auth answer's `apis` naming its URL, the first found winning.
    pub(crate) apis: &'static [&'static str],
    /// Tokens are renewed with `POST {auth}/refreshToken` (the Chatbot API's way) rather than
    /// fetched anew.
    pub(crate) refreshes: bool,
}

/// The gateway refused the access token.
struct Unauthorized;

impl Gateway {
    pub(crate) fn new(
        upstream: Upstream,
        api_key: &str,
        api_secret: SecretString,
        auth_url: &str,
        tokens: TokenKeeper,
        product: Product,
    ) -> Self {
        Self { upstream, api_key: api_key.to_owned(), api_secret, auth_url: auth_url.to_owned(), tokens, product }
    }

    /// Calls a route of the product with a valid access token.
    pub(crate) async fn call(&self, build: impl Fn(&Upstream, &AccessToken) -> RequestBuilder) -> Result<Value, ChatbotError> {
        let token = self.token().await?;
        match self.execute(build(&self.upstream, &token)).await {
            Ok(result) => result,
            Err(Unauthorized) => {
                self.tokens.forget(&token).await;
                let token = self.token().await?;
                self.execute(build(&self.upstream, &token)).await.unwrap_or_else(|Unauthorized| {
                    Err(ChatbotError::Rejected { code: 401, message: format!("{} access token refused", self.product.name) })
                })
            }
        }
    }

    async fn token(&self) -> Result<AccessToken, ChatbotError> {
        self.tokens
            .current(
                || self.authenticate(),
                |current| async move { if self.product.refreshes { self.refresh(current).await } else { self.authenticate().await } },
            )
            .await
    }

    async fn execute(&self, request: RequestBuilder) -> Result<Result<Value, ChatbotError>, Unauthorized> {
        let request = request.header("x-inbenta-key", &self.api_key);
        let answer = match self.upstream.send(request, None).await {
            Ok(answer) => answer,
            Err(e) => return Ok(Err(chatbot_error(e))),
        };
        if answer.class() == StatusClass::Unauthorized {
            return Err(Unauthorized);
        }
        Ok(interpret(answer.status, answer.json()))
    }

    async fn authenticate(&self) -> Result<AccessToken, ChatbotError> {
        let request = self
            .upstream
            .request(upstream::Method::POST, format!("{}/auth", self.auth_url))
            .header("x-inbenta-key", &self.api_key)
            .json(&json!({ "secret": self.api_secret.expose_secret() }));
        let body = self.auth_call(request).await?;
        AccessToken::from_auth_of(&body, None, self.product.apis)
    }

    async fn refresh(&self, current: AccessToken) -> Result<AccessToken, ChatbotError> {
        let request = self
            .upstream
            .request(upstream::Method::POST, format!("{}/refreshToken", self.auth_url))
            .header("x-inbenta-key", &self.api_key)
            .bearer_auth(current.token.expose_secret());
        let body = self.auth_call(request).await?;
        AccessToken::from_auth_of(&body, Some(&current.chatbot_url), self.product.apis)
    }

    async fn auth_call(&self, request: RequestBuilder) -> Result<Value, ChatbotError> {
        let answer = self.upstream.send(request, None).await.map_err(chatbot_error)?;
        if answer.class() == StatusClass::Unauthorized {
            let code = i64::from(answer.status.as_u16());
            return Err(ChatbotError::Rejected { code, message: format!("Invalid {} key or secret", self.product.name) });
        }
        interpret(answer.status, answer.json())
    }
}
