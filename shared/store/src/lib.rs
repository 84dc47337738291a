//! Where conversation state, dedupe claims and caches live.
//!
//! - [`memory::InMemoryStore`]: one process, for local runs and tests.
//! - [`dynamo::DynamoStore`]: production, one DynamoDB table.
//!
//! Both pass one contract suite ([`contract`]), so the in-memory store is a faithful stand-in.
#![forbid(unsafe_code)]

pub mod dynamo;
mod https;
pub mod memory;
pub mod sdk_config;

#[cfg(any(test, feature = "contract"))]
pub mod contract;

pub use dynamo::DynamoStore;
pub use memory::InMemoryStore;
