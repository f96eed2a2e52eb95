//! Transports bring envelopes in and acks out. Socket Mode is the one built so far.

pub mod socket;
