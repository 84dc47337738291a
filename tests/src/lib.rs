//! The harness of the connector's end-to-end tests.
//!
//! The fakes of every upstream (real HTTP servers on 127.0.0.1) are the crate `connector-fakes`
//! (`shared/fakes`), shared with `connector-local`; they are re-exported here under their own
//! names, so tests write `connector_tests::twilio::FakeTwilio`. This crate adds what drives the
//! product:
//!
//! * [`connector::Connector`] – the webhook handlers wired to those fakes
//!   exactly as a Lambda cold start wires them, for end-to-end tests.
//! * [`local`] – `connector-local` run as a process against moto, for the fault tests.
//! * [`dynamo_proxy::FaultyDynamo`] – a proxy in front of moto's DynamoDB that answers late,
//!   freezes or fails calls.
//! * [`counting_store::CountingStore`] – a store that counts the calls made to it.
//! * [`moto`] – moto's Secrets Manager calls.

pub use connector_fakes::{
    admin, files, graph, hyperchat, inbenta, raw_http, recording, smooch, specs, twilio, twilio_content, twilio_signing,
};

pub mod connector;
pub mod counting_store;
pub mod dynamo_proxy;
pub mod local;
pub mod moto;
