//! The key-value role ([`KeyValueStore`]): get, set, delete, prefix lists, compare-and-set
//! and updates that rerun on a concurrent write.

use super::support::ok;
use crate::journal::KeyValueStore;

/// Every key-value rule against `store`, which must hold no keys.
pub fn run(store: &dyn KeyValueStore) {
    key_value_storage(store);
    key_value_updates_are_compare_and_set(store);
}

fn key_value_storage(store: &dyn KeyValueStore) {
    assert_eq!(ok(store.kv_get("team:T1"), "get missing"), None);
    ok(store.kv_set("team:T1", r#"{"name":"Acme"}"#), "set");
    ok(
        store.kv_set("team:T1", r#"{"name":"Acme Inc"}"#),
        "overwrite",
    );
    assert_eq!(
        ok(store.kv_get("team:T1"), "get").as_deref(),
        Some(r#"{"name":"Acme Inc"}"#)
    );
    ok(store.kv_set("team:T2", "2"), "set T2");
    ok(store.kv_set("teams", "not a team"), "set teams");
    ok(store.kv_set("user:U1", "1"), "set user");
    let teams = ok(store.kv_list("team:", 10), "list");
    let keys: Vec<&str> = teams.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["team:T1", "team:T2"], "prefix scan, in key order");
    assert_eq!(ok(store.kv_list("team:", 1), "limit").len(), 1);
    let counted = ok(
        store.kv_update("counter", &mut |v| {
            let n: u64 = v.and_then(|v| v.parse().ok()).unwrap_or(0);
            Some((n + 1).to_string())
        }),
        "update new",
    );
    assert_eq!(counted.as_deref(), Some("1"));
    for _ in 0..4 {
        ok(
            store.kv_update("counter", &mut |v| {
                let n: u64 = v.and_then(|v| v.parse().ok()).unwrap_or(0);
                Some((n + 1).to_string())
            }),
            "update",
        );
    }
    assert_eq!(ok(store.kv_get("counter"), "counter").as_deref(), Some("5"));
    assert_eq!(
        ok(
            store.kv_update("counter", &mut |_| None),
            "update to delete"
        ),
        None
    );
    assert_eq!(ok(store.kv_get("counter"), "deleted"), None);
    assert!(ok(store.kv_delete("user:U1"), "delete"));
    assert!(!ok(store.kv_delete("user:U1"), "delete again"));
}

/// `kv_compare_and_set` writes only over what was expected, and `kv_update` runs its closure
/// unlocked: a write that lands while it runs makes it run again on the new value.
fn key_value_updates_are_compare_and_set(store: &dyn KeyValueStore) {
    assert!(ok(
        store.kv_compare_and_set("cas", None, Some("1")),
        "cas create"
    ));
    assert!(!ok(
        store.kv_compare_and_set("cas", None, Some("2")),
        "cas create again"
    ));
    assert!(!ok(
        store.kv_compare_and_set("cas", Some("0"), Some("2")),
        "cas stale"
    ));
    assert_eq!(ok(store.kv_get("cas"), "cas kept").as_deref(), Some("1"));
    assert!(ok(
        store.kv_compare_and_set("cas", Some("1"), Some("2")),
        "cas swap"
    ));
    assert!(ok(
        store.kv_compare_and_set("cas", Some("2"), None),
        "cas delete"
    ));
    assert_eq!(ok(store.kv_get("cas"), "cas deleted"), None);

    let mut rounds = Vec::new();
    let written = ok(
        store.kv_update("raced", &mut |seen| {
            rounds.push(seen.map(str::to_owned));
            if rounds.len() == 1 {
                // Another writer, while the closure runs (it would deadlock under a lock).
                ok(store.kv_set("raced", "10"), "racing set");
            }
            let n: u64 = seen.and_then(|v| v.parse().ok()).unwrap_or(0);
            Some((n + 1).to_string())
        }),
        "raced update",
    );
    assert_eq!(written.as_deref(), Some("11"));
    assert_eq!(rounds, [None, Some("10".to_owned())]);
    assert_eq!(ok(store.kv_get("raced"), "raced").as_deref(), Some("11"));
    ok(store.kv_delete("raced"), "clean up");
}
