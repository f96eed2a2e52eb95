//! Transports bring envelopes in and acks out: Socket Mode and RTM, both WebSockets run by
//! the shared loop in `ws.rs`; and (being built) the Events API over HTTP.

pub mod http;
pub(crate) mod rtm;
pub mod socket;
pub(crate) mod ws;
