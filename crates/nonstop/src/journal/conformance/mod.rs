//! The behaviour every store must have, one suite per role ([`crate::journal::Store`]'s
//! traits). A backend's tests call [`run`] (every suite) with a fresh, empty store, or one
//! role's `run`; each panics with the rule that was broken.

pub mod installations;
pub mod journal;
pub mod key_value;
pub mod leases;
pub mod outbox;
mod support;

use crate::journal::Store;

/// Runs every role's suite against `store`, which must be empty.
pub fn run(store: &dyn Store) {
    journal::run(store);
    key_value::run(store);
    outbox::run(store);
    leases::run(store);
    installations::run(store);
}
