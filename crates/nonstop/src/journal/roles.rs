//! What a store does, by role. A backend implements each role (SQLite and Redis one file per
//! role, `sqlite/` and `redis/`) and passes each role's conformance suite
//! (`journal::conformance`, feature `test-util`); [`Store`] is all of them, what the runtime
//! holds. Writes of envelopes, their outcomes and answers share one batch and one commit
//! ([`JournalStore::write`]): the roles split what is read and kept, not the commit.
//!
//! Installations (many workspaces, rotating tokens) are one role among them: the backends keep
//! their records and the OAuth flow's states; what a record means is read here.

use std::time::{Duration, SystemTime};

use super::installation::{Installation, InstallationKey};
use super::{
    Appended, Batch, Entry, EntryState, Mark, NewEntry, Output, OutputState, SocketShare,
    StoreError, TakenOver, Written,
};

/// Every role: what the runtime holds (`Arc<dyn Store>`). Implemented for any type that
/// implements the four roles.
pub trait Store:
    JournalStore + OutboxStore + KeyValueStore + LeaseStore + InstallationStore
{
}

impl<T: JournalStore + OutboxStore + KeyValueStore + LeaseStore + InstallationStore> Store for T {}

/// The journal of envelopes: the one batched write, and what was received and finished.
/// Small and synchronous: the runtime calls it from its writer thread.
pub trait JournalStore: Send + Sync + 'static {
    /// In one transaction: appends the batch's entries (each deduplicated by key, against the
    /// journal and against earlier entries of the same batch), applies its marks, appends its
    /// outputs (deduplicated by key the same way; a known key answers with the output as
    /// stored) and applies its output marks. On error nothing was written.
    fn write(&self, batch: &Batch<'_>) -> Result<Written, StoreError>;

    /// [`JournalStore::write`] of envelopes and their outcomes only.
    fn commit(&self, entries: &[NewEntry], marks: &[Mark]) -> Result<Vec<Appended>, StoreError> {
        self.write(&Batch {
            entries,
            marks,
            ..Batch::default()
        })
        .map(|written| written.appended)
    }

    /// Entries received or dispatched but not finished, oldest first, at most `limit`.
    fn unfinished(&self, limit: usize) -> Result<Vec<Entry>, StoreError>;

    /// Entries still `received` whose `seq` is above `after`, in arrival order: envelopes
    /// that waited in the journal for room in the dispatch queue.
    fn received_after(&self, after: i64, limit: usize) -> Result<Vec<Entry>, StoreError>;

    /// The newest entries, newest first, at most `limit`; only `state` when given.
    fn recent(&self, limit: usize, state: Option<EntryState>) -> Result<Vec<Entry>, StoreError>;

    /// How many entries are in each state.
    fn counts(&self) -> Result<Vec<(EntryState, u64)>, StoreError>;

    /// Deletes finished entries received before `cutoff`, then the oldest finished entries
    /// beyond `max_entries` in all; the same for finished answers in the outbox (by when they
    /// were written; unfinished answers never go and do not count); at most `limit` in one call, so that a large backlog is
    /// pruned in short steps between other writes. Unfinished entries are never pruned.
    /// Each step must cost in proportion to what it deletes, not to the journal's size: it
    /// runs between batches, with acks waiting.
    /// Returns how many were deleted: fewer than `limit` means nothing is left to prune.
    fn prune(&self, cutoff: SystemTime, max_entries: u64, limit: usize) -> Result<u64, StoreError>;

    /// Ties the journal to one bot (`bot`: its team and bot user, as `auth.test` names them),
    /// or refuses with [`StoreError::OtherBot`] when another bot's name is on it: two bots on
    /// one journal would dedup each other's events, and the second would replay the first's
    /// unfinished ones with its own handlers. The runtime calls it once it knows who it is,
    /// before it replays anything. Calling it again with the same bot is harmless.
    fn claim_for_bot(&self, bot: &str) -> Result<(), StoreError>;

    /// The bot [`JournalStore::claim_for_bot`] recorded, if any has (`nonstop journal` shows it).
    fn bot(&self) -> Result<Option<String>, StoreError>;

    /// Moves what recent commits wrote to wherever it finally lives (for SQLite, copies the
    /// write-ahead log back into the file), as far as it can without waiting for anybody.
    /// The writer calls it when it has nothing else to do, so that a commit seldom has to.
    fn checkpoint(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The outbox's answers as kept: written through [`JournalStore::write`], read here.
pub trait OutboxStore: Send + Sync + 'static {
    /// Answers not sent nor failed yet, in the order they were written, at most `limit`.
    fn outbox_unfinished(&self, limit: usize) -> Result<Vec<Output>, StoreError>;

    /// One answer by id.
    fn outbox_get(&self, id: i64) -> Result<Option<Output>, StoreError>;

    /// The answers written under these keys (those that exist, in no particular order): a
    /// replayed handler reads what its earlier run wrote (a stream's pieces).
    fn outbox_by_keys(&self, keys: &[String]) -> Result<Vec<Output>, StoreError>;

    /// The newest answers, newest first, at most `limit`; only `state` when given.
    fn outbox_recent(
        &self,
        limit: usize,
        state: Option<OutputState>,
    ) -> Result<Vec<Output>, StoreError>;

    /// How many answers are in each state.
    fn outbox_counts(&self) -> Result<Vec<(OutputState, u64)>, StoreError>;
}

/// The bot's own key-value storage, in the same store. Values are JSON text.
pub trait KeyValueStore: Send + Sync + 'static {
    fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError>;

    fn kv_set(&self, key: &str, value: &str) -> Result<(), StoreError>;

    /// True when the key existed.
    fn kv_delete(&self, key: &str) -> Result<bool, StoreError>;

    /// Keys starting with `prefix`, in key order, at most `limit`.
    fn kv_list(&self, prefix: &str, limit: usize) -> Result<Vec<(String, String)>, StoreError>;

    /// Writes `new` (`None` deletes) only if the key holds `expected` now (`None`: absent), in
    /// one atomic step. True when it wrote.
    fn kv_compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// Reads, transforms and writes one key atomically: `update` gets the current value and
    /// returns the new one (`None` deletes). Returns what was written.
    ///
    /// `update` runs outside any lock of the store (it is user code, and may be slow): the
    /// write is a compare-and-set, and when another writer changed the key meanwhile,
    /// `update` runs again on the new value.
    fn kv_update(
        &self,
        key: &str,
        update: &mut dyn FnMut(Option<&str>) -> Option<String>,
    ) -> Result<Option<String>, StoreError> {
        for _ in 0..KV_UPDATE_ATTEMPTS {
            let current = self.kv_get(key)?;
            let next = update(current.as_deref());
            if next == current
                || self.kv_compare_and_set(key, current.as_deref(), next.as_deref())?
            {
                return Ok(next);
            }
        }
        Err(StoreError::Write {
            detail: format!(
                "storage key {key:?} changed under {KV_UPDATE_ATTEMPTS} updates in a row; \
                 too many writers of one key"
            ),
        })
    }
}

/// What processes sharing a store keep together: leases and takeover of a stopped one's
/// work, Slack's Retry-After across replicas, and the app's socket total. A store one process
/// owns keeps the defaults (nothing shared).
pub trait LeaseStore: Send + Sync + 'static {
    /// For stores that several processes share (Redis): claims, at most `limit` of each, the
    /// unfinished entries and answers of processes that stopped without finishing them (their
    /// lease ran out, or they gave it up at a clean stop); from now on they are this
    /// process's, in [`JournalStore::unfinished`] too. The runtime calls it at start and then
    /// periodically, and runs what it gets as replays. A store one process owns has none.
    fn take_over(&self, limit: usize) -> Result<TakenOver, StoreError> {
        let _ = limit;
        Ok(TakenOver::default())
    }

    /// True when several processes share this store, so that the runtime looks for work
    /// stopped ones left ([`LeaseStore::take_over`]).
    fn is_shared(&self) -> bool {
        false
    }

    /// For stores that several processes share: how long what this process owns stays
    /// surely its own after a write that renewed its lease (a mark it made, say), by this
    /// process's clock. Past that, another process may have taken it: the outbox confirms
    /// ownership with a fresh mark before a call, so that a process paused past its lease
    /// never makes a call the taker makes too. `None`: this process owns the store alone.
    fn lease(&self) -> Option<Duration> {
        None
    }

    /// For stores several processes share: Slack said to wait `wait` before the next call
    /// under `key` (a method, or `chat.postMessage:<channel>`), and every process sharing
    /// the store waits it out too: Slack's limits are per app, not per process.
    fn hold_calls(&self, key: &str, wait: Duration) -> Result<(), StoreError> {
        let _ = (key, wait);
        Ok(())
    }

    /// How long calls under `key` must still wait for a [`LeaseStore::hold_calls`] of any process
    /// sharing the store; `None` when they need not.
    fn calls_held_for(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        let _ = key;
        Ok(None)
    }

    /// Takes one of the `total` Socket Mode sockets that all processes sharing this store may
    /// hold together (Slack allows an app 10), or says how many they hold. The count lives
    /// where the processes meet, so it is kept across replicas; a store one process owns has
    /// no one to share with and always says yes. Called before a socket is opened; a
    /// [`SocketShare::Taken`] is given back with [`LeaseStore::give_socket`] when it closes.
    fn take_socket(&self, total: usize) -> Result<SocketShare, StoreError> {
        let _ = total;
        Ok(SocketShare::Taken)
    }

    /// Gives back a socket [`LeaseStore::take_socket`](crate::journal::LeaseStore::take_socket) took. Never blocks (it is called as a
    /// socket's task ends): the count others see follows soon after.
    fn give_socket(&self) {}
}

/// Compare-and-set rounds of one [`KeyValueStore::kv_update`] before it gives up.
const KV_UPDATE_ATTEMPTS: usize = 1000;

/// The app's installations (one per workspace, or per organization for an org-wide install)
/// and the OAuth flow's single-use states. A backend keeps records under keys
/// ([`InstallationKey::as_stored`]) apart from the bot's own storage; what they mean is read
/// by the provided methods.
pub trait InstallationStore: Send + Sync + 'static {
    /// The record under `key`, as stored.
    fn installation_record(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Writes `new` under `key` (`None` deletes), in one atomic step, only when the key
    /// holds `expected` now (`None`: absent); with `expected` itself `None`, whatever it
    /// holds. True when it wrote.
    fn installation_write(
        &self,
        key: &str,
        expected: Option<Option<&str>>,
        new: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// Keys of the records kept, in key order, at most `limit`.
    fn installation_keys(&self, limit: usize) -> Result<Vec<String>, StoreError>;

    /// Remembers an OAuth `state` until `expires_at`.
    fn oauth_state_issue(&self, state: &str, expires_at: SystemTime) -> Result<(), StoreError>;

    /// Forgets `state` and says whether it was remembered and not expired at `now`: true
    /// once at most, whoever asks (several replicas included).
    fn oauth_state_consume(&self, state: &str, now: SystemTime) -> Result<bool, StoreError>;

    /// Takes the lock `name` for `holder` until `until`, when it is free, expired, or
    /// `holder`'s already (then extended): true when `holder` holds it now. One holder at a
    /// time across threads and processes sharing the store: a token is refreshed by one.
    fn installation_lock(
        &self,
        name: &str,
        holder: &str,
        until: SystemTime,
    ) -> Result<bool, StoreError>;

    /// Gives the lock `name` back, if `holder` holds it.
    fn installation_unlock(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    /// Keeps `installation` (a new install, or a reinstall over the old one).
    fn installation_save(&self, installation: &Installation) -> Result<(), StoreError> {
        let key = installation.key().as_stored();
        self.installation_write(&key, None, Some(&installation.to_json()))
            .map(drop)
    }

    /// The installation under `key`.
    fn installation_get(&self, key: &InstallationKey) -> Result<Option<Installation>, StoreError> {
        let stored = key.as_stored();
        self.installation_record(&stored)?
            .map(|text| Installation::from_json(&stored, &text))
            .transpose()
    }

    /// The installation that answers for an event from `team` in `enterprise`: the
    /// workspace's own, else its organization's org-wide one.
    fn installation_find(
        &self,
        enterprise: Option<&str>,
        team: Option<&str>,
        is_enterprise_install: bool,
    ) -> Result<Option<Installation>, StoreError> {
        for key in InstallationKey::for_event(enterprise, team, is_enterprise_install) {
            if let Some(found) = self.installation_get(&key)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Removes the installation under `key` (the app was uninstalled, its tokens revoked).
    /// True when there was one.
    fn installation_delete(&self, key: &InstallationKey) -> Result<bool, StoreError> {
        let stored = key.as_stored();
        if self.installation_record(&stored)?.is_none() {
            return Ok(false);
        }
        self.installation_write(&stored, None, None)
    }

    /// Every installation kept, in key order, at most `limit`.
    fn installations(&self, limit: usize) -> Result<Vec<Installation>, StoreError> {
        let mut found = Vec::new();
        for key in self.installation_keys(limit)? {
            if let Some(text) = self.installation_record(&key)? {
                found.push(Installation::from_json(&key, &text)?);
            }
        }
        Ok(found)
    }
}
