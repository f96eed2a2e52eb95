//! The installation role ([`InstallationStore`]): installations kept, found for an event
//! (the workspace's own before its organization's), replaced only when unchanged, removed;
//! OAuth states taken once, and not after they expire.

use std::time::{Duration, SystemTime};

use nonstop_web::Secret;

use super::support::ok;
use crate::journal::{Installation, InstallationKey, InstallationStore};

/// Every installation rule against `store`, which must hold no installations.
pub fn run(store: &dyn InstallationStore) {
    installations_are_kept_and_found(store);
    a_record_is_replaced_only_when_unchanged(store);
    oauth_states_are_taken_once(store);
    a_lock_has_one_holder_until_given_back_or_expired(store);
}

fn installations_are_kept_and_found(store: &dyn InstallationStore) {
    assert_eq!(ok(store.installations(10), "list empty").len(), 0);
    assert!(ok(
        store.installation_find(None, Some("T1"), false),
        "find none"
    )
    .is_none());
    let mut acme = Installation::for_team("T1", Secret::new("xoxb-acme"));
    acme.team_name = Some("Acme".to_owned());
    acme.bot_user_id = Some("U0BOT1".to_owned());
    acme.bot_scopes = vec!["chat:write".to_owned(), "commands".to_owned()];
    acme.bot_refresh_token = Some(Secret::new("xoxe-1-acme"));
    acme.bot_token_expires_at = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000));
    ok(store.installation_save(&acme), "save a workspace's");
    let found = ok(store.installation_find(None, Some("T1"), false), "find T1");
    assert_eq!(
        found.as_ref(),
        Some(&acme),
        "kept whole, tokens and expiry included"
    );

    let mut org = Installation::for_enterprise("E1", Secret::new("xoxb-org"));
    org.enterprise_name = Some("Globex".to_owned());
    ok(store.installation_save(&org), "save an org-wide one");
    let in_org = ok(
        store.installation_find(Some("E1"), Some("T9"), false),
        "find T9 in E1",
    );
    assert_eq!(
        in_org.map(|i| i.bot_token),
        Some(Secret::new("xoxb-org")),
        "a workspace without its own install is the organization's"
    );
    let mut own = Installation::for_team("T2", Secret::new("xoxb-own"));
    own.enterprise_id = Some("E1".to_owned());
    ok(store.installation_save(&own), "save a workspace's in E1");
    let found = ok(
        store.installation_find(Some("E1"), Some("T2"), false),
        "find T2",
    );
    assert_eq!(
        found.map(|i| i.bot_token),
        Some(Secret::new("xoxb-own")),
        "a workspace's own install comes first"
    );
    let org_event = ok(
        store.installation_find(Some("E1"), Some("T2"), true),
        "org event",
    );
    assert_eq!(
        org_event.map(|i| i.bot_token),
        Some(Secret::new("xoxb-org")),
        "an event of the org-wide install is the organization's"
    );

    let keys: Vec<InstallationKey> = ok(store.installations(10), "list")
        .iter()
        .map(Installation::key)
        .collect();
    assert_eq!(
        keys,
        [
            InstallationKey::Enterprise("E1".into()),
            InstallationKey::Team("T1".into()),
            InstallationKey::Team("T2".into())
        ],
        "in key order"
    );
    assert_eq!(ok(store.installations(1), "limit").len(), 1);

    let mut reinstalled = acme.clone();
    reinstalled.bot_token = Secret::new("xoxb-acme-2");
    ok(store.installation_save(&reinstalled), "reinstall");
    let found = ok(
        store.installation_find(None, Some("T1"), false),
        "find reinstalled",
    );
    assert_eq!(found.map(|i| i.bot_token), Some(Secret::new("xoxb-acme-2")));

    for key in [
        InstallationKey::Team("T1".into()),
        InstallationKey::Team("T2".into()),
        InstallationKey::Enterprise("E1".into()),
    ] {
        assert!(
            ok(store.installation_delete(&key), "delete"),
            "{key:?} was there"
        );
        assert!(
            !ok(store.installation_delete(&key), "delete again"),
            "{key:?} is gone"
        );
    }
    assert!(ok(
        store.installation_find(Some("E1"), Some("T9"), false),
        "find after"
    )
    .is_none());
}

fn a_record_is_replaced_only_when_unchanged(store: &dyn InstallationStore) {
    let key = "team:TCAS";
    assert!(ok(
        store.installation_write(key, Some(None), Some("a")),
        "create when absent"
    ));
    assert!(
        !ok(
            store.installation_write(key, Some(None), Some("b")),
            "create over one"
        ),
        "it was there"
    );
    assert!(!ok(
        store.installation_write(key, Some(Some("x")), Some("b")),
        "stale expectation"
    ));
    assert!(ok(
        store.installation_write(key, Some(Some("a")), Some("b")),
        "expected"
    ));
    assert_eq!(
        ok(store.installation_record(key), "read").as_deref(),
        Some("b")
    );
    assert!(ok(
        store.installation_write(key, Some(Some("b")), None),
        "delete when unchanged"
    ));
    assert_eq!(ok(store.installation_record(key), "read gone"), None);
}

fn oauth_states_are_taken_once(store: &dyn InstallationStore) {
    let now = SystemTime::now();
    ok(
        store.oauth_state_issue("s-live", now + Duration::from_secs(600)),
        "issue",
    );
    assert!(ok(store.oauth_state_consume("s-live", now), "consume"));
    assert!(
        !ok(store.oauth_state_consume("s-live", now), "consume again"),
        "single use"
    );
    assert!(!ok(store.oauth_state_consume("s-never", now), "unknown"));
    ok(
        store.oauth_state_issue("s-short", now + Duration::from_millis(50)),
        "issue short",
    );
    std::thread::sleep(Duration::from_millis(120));
    assert!(
        !ok(
            store.oauth_state_consume("s-short", SystemTime::now()),
            "expired"
        ),
        "not after it expires"
    );
}

fn a_lock_has_one_holder_until_given_back_or_expired(store: &dyn InstallationStore) {
    let name = "refresh:team:T1";
    let later = || SystemTime::now() + Duration::from_secs(60);
    assert!(ok(store.installation_lock(name, "a", later()), "take"));
    assert!(
        !ok(store.installation_lock(name, "b", later()), "taken"),
        "one holder"
    );
    assert!(
        ok(store.installation_lock(name, "a", later()), "extend"),
        "its holder extends it"
    );
    ok(store.installation_unlock(name, "b"), "give back by another");
    assert!(
        !ok(store.installation_lock(name, "b", later()), "still a's"),
        "only its holder gives it back"
    );
    ok(store.installation_unlock(name, "a"), "give back");
    assert!(ok(
        store.installation_lock(name, "b", later()),
        "free again"
    ));
    let short = "refresh:team:T2";
    let soon = SystemTime::now() + Duration::from_millis(50);
    assert!(ok(store.installation_lock(short, "a", soon), "take short"));
    std::thread::sleep(Duration::from_millis(120));
    assert!(
        ok(store.installation_lock(short, "b", later()), "expired"),
        "a holder that stopped does not hold it for ever"
    );
}
