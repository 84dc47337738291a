//! Live chat both ways, end to end: the Twilio webhook, the HyperChat events function (signed
//! events posted to it as HyperChat would), and the Inbenta, Twilio and HyperChat fakes; state in
//! memory.

const ON_DYNAMODB: bool = false;

include!("live_chat/cases.rs");
