//! What the role suites share: a fresh entry, and a failing call as a panic naming the step.

use std::sync::Arc;
use std::time::SystemTime;

use crate::journal::{NewEntry, StoreError};

pub(super) fn entry(key: &str, at: SystemTime) -> NewEntry {
    NewEntry {
        key: key.to_owned(),
        envelope_id: format!("env-{key}"),
        kind: "events_api".to_owned(),
        raw: Arc::from(format!(
            r#"{{"envelope_id":"env-{key}","type":"events_api"}}"#
        )),
        received_at: at,
        dispatched: false,
    }
}

pub(super) fn ok<T>(result: Result<T, StoreError>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {e}"))
}
