//! Where conversation state, dedupe claims and caches live.
//!
//! - [`memory::InMemoryStore`]: one process, for local runs and tests.
//! - [`dynamo::DynamoStore`]: production, one DynamoDB table.
//!
//! Both pass one contract suite ([`contract`]), so the in-memory store is a faithful stand-in.
//!
//! [`sqs::SqsQueue`] is the durable queue of ingestion (`connector_core::queue::Queue`) on SQS
//! FIFO, with its dead-letter queue and a poller for `connector-local`; its client is
//! configured as DynamoDB's ([`sdk_config`]).
#![forbid(unsafe_code)]

pub mod dynamo;
mod https;
pub mod memory;
pub mod sdk_config;
pub mod secrets;
pub mod sqs;

#[cfg(any(test, feature = "contract"))]
pub mod contract;

pub use dynamo::DynamoStore;
pub use memory::InMemoryStore;
