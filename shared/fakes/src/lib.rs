//! Fakes of every upstream of the connector, shared by the end-to-end tests (`connector-tests`)
//! and `connector-local` (its stand-ins for unconfigured channels and the local agent).
//!
//! The connector talks to Inbenta (auth + chatbot API), Twilio, Smooch, Meta's Graph API and
//! HyperChat. End-to-end tests must never reach the internet, and mocking at the Rust level would
//! skip exactly the code we most want to exercise (HTTP clients, headers, encodings, retries,
//! timeouts). So this crate provides *real* HTTP servers bound to `127.0.0.1:0` that implement
//! the documented contracts, record every request, and can be scripted or told to misbehave:
//!
//! * [`inbenta::FakeInbenta`] – `/v1/auth`, `/v1/refreshToken` and the chatbot
//!   API (`/prod/chatbot/v1/...`), with scripted bot answers, session/token
//!   expiry, delays and injected failures.
//! * [`twilio::FakeTwilio`] – `POST /2010-04-01/Accounts/{sid}/Messages.json`
//!   with Twilio's validation rules and error bodies, and the Content API
//!   (`POST /v1/Content`, [`twilio_content`]).
//! * [`graph::FakeGraph`] – Meta's Graph API for Messenger (Send API
//!   `/{version}/me/messages`, user profiles) with Meta's limits, the 24-hour
//!   window and Graph error bodies; plus builders and a signer for the
//!   Messenger webhooks Meta posts (ASCII-escaped bodies, `X-Hub-Signature*`).
//! * [`hyperchat::FakeHyperChat`] – Inbenta HyperChat, the live-agent chat
//!   API (`/v1/settings`, `/v1/agents/...`, `/v1/users`, `/v1/chats`), with
//!   in-memory users, agents, chats and messages and availability switches.
//! * [`smooch::FakeSmooch`] – Smooch v1.1 and Sunshine Conversations v2
//!   (messages, typing activity, user profiles) with verified JWT / Basic
//!   auth, Smooch's validation and error bodies; plus builders of the webhook
//!   bodies Smooch posts to us.
//! * [`admin::FakeAdmin`] – the providers' administration endpoints that
//!   `connector-local register` calls.
//! * [`files::FakeFileHost`] – the CDNs where channels keep users' media.
//! * [`twilio_signing`] – an implementation of Twilio's webhook signature that
//!   is independent of the product code, so drivers can sign inbound
//!   webhooks without trusting the code under test.
//! * [`specs`] – the providers' own schemas (vendored in `shared/fakes/specs/`) every fake
//!   checks the requests it accepts against.
//! * [`raw_http`] – a tiny HTTP/1.1 client (the crate deliberately has no
//!   HTTP client dependency) for drivers that need to call the connector's
//!   own local server or poke the fakes directly.
//!
//! The fakes that receive the connector's messages (Twilio, Smooch, Graph) also tell
//! subscribers of each one they accept (`subscribe`), for a program that shows replies as they
//! arrive instead of polling.
//!
//! The crate depends on no crate of the product: a fake that used the product's own code would
//! confirm the product instead of checking it.
//!
//! Every fake is cheap to start; give each test its own instance so tests can
//! run in parallel without sharing scripts or recordings.

pub mod admin;
pub mod files;
pub mod graph;
pub mod hyperchat;
pub mod inbenta;
pub mod raw_http;
pub mod recording;
pub mod server;
pub mod smooch;
pub mod specs;
pub mod twilio;
pub mod twilio_content;
pub mod twilio_signing;
