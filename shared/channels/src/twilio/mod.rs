//! Twilio Programmable Messaging: SMS and WhatsApp.

pub mod client;
pub mod inbound;
pub mod render;
pub mod signature;
pub mod webhook;

pub use client::TwilioClient;
pub use inbound::{Channel, TwilioInbound};
pub use webhook::TwilioWebhook;
