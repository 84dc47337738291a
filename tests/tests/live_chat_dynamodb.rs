//! The live-chat cases of `live_chat.rs` with the state in DynamoDB (moto on loopback, started
//! by `scripts/test.sh`): chat index, dedupe, handshake secret and conversations in the table.

const ON_DYNAMODB: bool = true;

include!("live_chat/cases.rs");
