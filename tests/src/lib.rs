//! Test support for the connector's end-to-end tests.
//!
//! The connector talks to two upstreams: Inbenta (auth + chatbot API) and
//! Twilio (Messages API, plus the signed webhooks Twilio sends us). End-to-end
//! tests must never reach the internet, and mocking at the Rust level would
//! skip exactly the code we most want to exercise (HTTP clients, headers,
//! encodings, retries, timeouts). So this crate provides *real* HTTP servers
//! bound to `127.0.0.1:0` that implement the documented contracts, record
//! every request, and can be scripted or told to misbehave:
//!
//! * [`inbenta::FakeInbenta`] – `/v1/auth`, `/v1/refreshToken` and the chatbot
//!   API (`/prod/chatbot/v1/...`), with scripted bot answers, session/token
//!   expiry, delays and injected failures.
//! * [`twilio::FakeTwilio`] – `POST /2010-04-01/Accounts/{sid}/Messages.json`
//!   with Twilio's validation rules and error bodies.
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
//! * [`twilio_signing`] – an implementation of Twilio's webhook signature that
//!   is independent of the product code, so test drivers can sign inbound
//!   webhooks without trusting the code under test.
//! * [`raw_http`] – a tiny HTTP/1.1 client (the crate deliberately has no
//!   HTTP client dependency) for test drivers that need to call the
//!   connector's own local server or poke the fakes directly.
//!
//! * [`connector::Connector`] – the Twilio webhook handler wired to those fakes
//!   exactly as a Lambda cold start wires it, for end-to-end tests.
//!
//! Every fake is cheap to start; give each test its own instance so tests can
//! run in parallel without sharing scripts or recordings.

pub mod admin;
pub mod connector;
pub mod counting_store;
pub mod dynamo_proxy;
pub mod files;
pub mod graph;
pub mod hyperchat;
pub mod inbenta;
pub mod local;
pub mod moto;
pub mod raw_http;
pub mod recording;
pub mod smooch;
pub mod specs;
pub mod twilio;
pub mod twilio_content;
pub mod twilio_signing;

mod server;
