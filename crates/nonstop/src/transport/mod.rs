//! Transports bring envelopes in and acks out: Socket Mode and RTM, both WebSockets run by
//! the shared loop in `ws.rs`.

pub(crate) mod rtm;
pub mod socket;
pub(crate) mod ws;
