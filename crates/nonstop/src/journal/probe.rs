//! A store for tests of the journal's callers: in memory, told to refuse writes as a full or
//! read-only disk would (or to panic, as a buggy backend would), and recording each prune step.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use super::{
    Batch, Entry, EntryState, InstallationStore, JournalStore, KeyValueStore, LeaseStore,
    MemoryStore, OutboxStore, Output, OutputState, StoreError, Written,
};

#[derive(Debug, Default)]
pub struct ProbeStore {
    inner: MemoryStore,
    refuse_writes: AtomicBool,
    panic_on_write: AtomicBool,
    prunes: Mutex<Vec<(usize, u64)>>,
}

impl ProbeStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// While set, every commit fails as SQLite's do on a full disk.
    pub fn refuse_writes(&self, refuse: bool) {
        self.refuse_writes.store(refuse, Ordering::SeqCst);
    }

    /// While set, every commit panics, as a backend with a bug would.
    pub fn panic_on_write(&self, panic: bool) {
        self.panic_on_write.store(panic, Ordering::SeqCst);
    }

    /// Each prune call so far: its limit and how many entries it removed.
    pub fn prunes(&self) -> Vec<(usize, u64)> {
        self.prunes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl JournalStore for ProbeStore {
    fn claim_for_bot(&self, bot: &str) -> Result<(), StoreError> {
        self.inner.claim_for_bot(bot)
    }

    fn bot(&self) -> Result<Option<String>, StoreError> {
        self.inner.bot()
    }

    fn write(&self, batch: &Batch<'_>) -> Result<Written, StoreError> {
        assert!(
            !self.panic_on_write.load(Ordering::SeqCst),
            "ProbeStore told to panic on write"
        );
        if self.refuse_writes.load(Ordering::SeqCst) {
            return Err(StoreError::Write {
                detail: "database or disk is full".into(),
            });
        }
        self.inner.write(batch)
    }

    fn unfinished(&self, limit: usize) -> Result<Vec<Entry>, StoreError> {
        self.inner.unfinished(limit)
    }

    fn received_after(&self, after: i64, limit: usize) -> Result<Vec<Entry>, StoreError> {
        self.inner.received_after(after, limit)
    }

    fn recent(&self, limit: usize, state: Option<EntryState>) -> Result<Vec<Entry>, StoreError> {
        self.inner.recent(limit, state)
    }

    fn counts(&self) -> Result<Vec<(EntryState, u64)>, StoreError> {
        self.inner.counts()
    }

    fn prune(&self, cutoff: SystemTime, max_entries: u64, limit: usize) -> Result<u64, StoreError> {
        let removed = self.inner.prune(cutoff, max_entries, limit)?;
        self.prunes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((limit, removed));
        Ok(removed)
    }
}

impl OutboxStore for ProbeStore {
    fn outbox_unfinished(&self, limit: usize) -> Result<Vec<Output>, StoreError> {
        self.inner.outbox_unfinished(limit)
    }

    fn outbox_get(&self, id: i64) -> Result<Option<Output>, StoreError> {
        self.inner.outbox_get(id)
    }

    fn outbox_by_keys(&self, keys: &[String]) -> Result<Vec<Output>, StoreError> {
        self.inner.outbox_by_keys(keys)
    }

    fn outbox_recent(
        &self,
        limit: usize,
        state: Option<OutputState>,
    ) -> Result<Vec<Output>, StoreError> {
        self.inner.outbox_recent(limit, state)
    }

    fn outbox_counts(&self) -> Result<Vec<(OutputState, u64)>, StoreError> {
        self.inner.outbox_counts()
    }
}

impl KeyValueStore for ProbeStore {
    fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.inner.kv_get(key)
    }

    fn kv_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.inner.kv_set(key, value)
    }

    fn kv_delete(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.kv_delete(key)
    }

    fn kv_list(&self, prefix: &str, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.kv_list(prefix, limit)
    }

    fn kv_compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.inner.kv_compare_and_set(key, expected, new)
    }
}

impl LeaseStore for ProbeStore {}

impl InstallationStore for ProbeStore {
    fn installation_record(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.inner.installation_record(key)
    }

    fn installation_write(
        &self,
        key: &str,
        expected: Option<Option<&str>>,
        new: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.inner.installation_write(key, expected, new)
    }

    fn installation_keys(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        self.inner.installation_keys(limit)
    }

    fn oauth_state_issue(&self, state: &str, expires_at: SystemTime) -> Result<(), StoreError> {
        self.inner.oauth_state_issue(state, expires_at)
    }

    fn oauth_state_consume(&self, state: &str, now: SystemTime) -> Result<bool, StoreError> {
        self.inner.oauth_state_consume(state, now)
    }

    fn installation_lock(
        &self,
        name: &str,
        holder: &str,
        until: SystemTime,
    ) -> Result<bool, StoreError> {
        self.inner.installation_lock(name, holder, until)
    }

    fn installation_unlock(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.installation_unlock(name, holder)
    }
}
