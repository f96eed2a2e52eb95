//! An in-memory journal: for tests, and for bots that accept losing in-flight events on a
//! crash. Same semantics as the SQLite store (it passes the same conformance suite).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::SystemTime;

use super::{
    Appended, Batch, Entry, EntryState, InstallationStore, JournalStore, KeyValueStore, LeaseStore,
    Mark, OutboxStore, Output, OutputAppended, OutputMark, OutputState, StoreError, Written,
};

#[derive(Debug, Default)]
pub struct MemoryStore {
    /// std Mutex: every operation is a short in-memory update, never held across an await.
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    kv: BTreeMap<String, String>,
    by_seq: BTreeMap<i64, Entry>,
    seq_by_key: HashMap<String, i64>,
    next_seq: i64,
    outbox: BTreeMap<i64, Output>,
    output_by_key: HashMap<String, i64>,
    next_output: i64,
    bot: Option<String>,
    installations: BTreeMap<String, String>,
    oauth_states: HashMap<String, SystemTime>,
    locks: HashMap<String, (String, SystemTime)>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl JournalStore for MemoryStore {
    fn bot(&self) -> Result<Option<String>, StoreError> {
        Ok(self.lock().bot.clone())
    }

    fn claim_for_bot(&self, bot: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        match &inner.bot {
            Some(holder) if holder != bot => Err(StoreError::OtherBot {
                place: "in memory".to_owned(),
                holder: holder.clone(),
                this: bot.to_owned(),
                setting: "MemoryStore".to_owned(),
            }),
            Some(_) => Ok(()),
            None => {
                inner.bot = Some(bot.to_owned());
                Ok(())
            }
        }
    }

    fn write(&self, batch: &Batch<'_>) -> Result<Written, StoreError> {
        let Batch {
            entries,
            marks,
            outputs,
            output_marks,
        } = *batch;
        let mut inner = self.lock();
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            if inner.seq_by_key.contains_key(&entry.key) {
                out.push(Appended::Duplicate);
                continue;
            }
            inner.next_seq += 1;
            let seq = inner.next_seq;
            inner.seq_by_key.insert(entry.key.clone(), seq);
            inner.by_seq.insert(
                seq,
                Entry {
                    seq,
                    key: entry.key.clone(),
                    envelope_id: entry.envelope_id.clone(),
                    kind: entry.kind.clone(),
                    raw: entry.raw.clone(),
                    received_at: entry.received_at,
                    state: if entry.dispatched {
                        EntryState::Dispatched
                    } else {
                        EntryState::Received
                    },
                    attempts: u32::from(entry.dispatched),
                    error: None,
                },
            );
            out.push(Appended::Fresh { seq });
        }
        for mark in marks {
            let Some(seq) = inner.seq_by_key.get(mark.key()).copied() else {
                continue;
            };
            if let Some(entry) = inner.by_seq.get_mut(&seq) {
                match mark {
                    Mark::Dispatched { .. } => {
                        entry.state = EntryState::Dispatched;
                        entry.attempts += 1;
                    }
                    Mark::Done { .. } => entry.state = EntryState::Done,
                    Mark::Failed { error, .. } => {
                        entry.state = EntryState::Failed;
                        entry.error = Some(error.clone());
                    }
                }
            }
        }
        let mut written = Vec::with_capacity(outputs.len());
        for output in outputs {
            if let Some(output) = inner
                .output_by_key
                .get(&output.key)
                .and_then(|id| inner.outbox.get(id))
            {
                written.push(OutputAppended::Existing(Box::new(output.clone())));
                continue;
            }
            inner.next_output += 1;
            let id = inner.next_output;
            inner.output_by_key.insert(output.key.clone(), id);
            inner.outbox.insert(id, output.clone().written_as(id));
            written.push(OutputAppended::Fresh { id });
        }
        for mark in output_marks {
            let Some(output) = inner.outbox.get_mut(&mark.id()) else {
                continue;
            };
            match mark {
                OutputMark::Attempt { at, .. } => {
                    output.attempts += 1;
                    output.attempted_at = Some(*at);
                }
                OutputMark::NotPosted { .. } => output.attempted_at = None,
                OutputMark::Sent { result, .. } => {
                    output.state = OutputState::Sent;
                    output.result = Some(result.clone());
                }
                OutputMark::Failed { error, .. } => {
                    output.state = OutputState::Failed;
                    output.error = Some(error.clone());
                }
            }
        }
        Ok(Written {
            appended: out,
            outputs: written,
            fenced: Vec::new(),
        })
    }

    fn unfinished(&self, limit: usize) -> Result<Vec<Entry>, StoreError> {
        Ok(self
            .lock()
            .by_seq
            .values()
            .filter(|e| !e.state.is_finished())
            .take(limit)
            .cloned()
            .collect())
    }

    fn received_after(&self, after: i64, limit: usize) -> Result<Vec<Entry>, StoreError> {
        Ok(self
            .lock()
            .by_seq
            .range(after.saturating_add(1)..)
            .map(|(_, e)| e)
            .filter(|e| e.state == EntryState::Received)
            .take(limit)
            .cloned()
            .collect())
    }

    fn recent(&self, limit: usize, state: Option<EntryState>) -> Result<Vec<Entry>, StoreError> {
        Ok(self
            .lock()
            .by_seq
            .values()
            .rev()
            .filter(|e| state.is_none_or(|s| e.state == s))
            .take(limit)
            .cloned()
            .collect())
    }

    fn counts(&self) -> Result<Vec<(EntryState, u64)>, StoreError> {
        let inner = self.lock();
        Ok(EntryState::ALL
            .into_iter()
            .map(|s| {
                (
                    s,
                    inner.by_seq.values().filter(|e| e.state == s).count() as u64,
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect())
    }

    fn prune(&self, cutoff: SystemTime, max_entries: u64, limit: usize) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let before = inner.by_seq.len();
        let expired: Vec<i64> = inner
            .by_seq
            .values()
            .filter(|e| e.state.is_finished() && e.received_at < cutoff)
            .map(|e| e.seq)
            .take(limit)
            .collect();
        let budget = limit - expired.len();
        for seq in expired {
            if let Some(entry) = inner.by_seq.remove(&seq) {
                inner.seq_by_key.remove(&entry.key);
            }
        }
        let excess = inner
            .by_seq
            .len()
            .saturating_sub(max_entries as usize)
            .min(budget);
        let oldest_finished: Vec<i64> = inner
            .by_seq
            .values()
            .filter(|e| e.state.is_finished())
            .map(|e| e.seq)
            .take(excess)
            .collect();
        for seq in oldest_finished {
            if let Some(entry) = inner.by_seq.remove(&seq) {
                inner.seq_by_key.remove(&entry.key);
            }
        }
        let mut removed = before - inner.by_seq.len();
        // The outbox: finished answers written before the cutoff, then those past the newest
        // `max_entries` ids.
        let newest = inner.outbox.keys().next_back().copied().unwrap_or(0);
        let boundary = newest.saturating_sub(i64::try_from(max_entries).unwrap_or(i64::MAX));
        let gone: Vec<i64> = inner
            .outbox
            .values()
            .filter(|o| o.state.is_finished() && (o.created_at < cutoff || o.id <= boundary))
            .map(|o| o.id)
            .take(limit - removed)
            .collect();
        for id in gone {
            if let Some(output) = inner.outbox.remove(&id) {
                inner.output_by_key.remove(&output.key);
                removed += 1;
            }
        }
        Ok(removed as u64)
    }
}

impl OutboxStore for MemoryStore {
    fn outbox_unfinished(&self, limit: usize) -> Result<Vec<Output>, StoreError> {
        Ok(self
            .lock()
            .outbox
            .values()
            .filter(|o| !o.state.is_finished())
            .take(limit)
            .cloned()
            .collect())
    }

    fn outbox_get(&self, id: i64) -> Result<Option<Output>, StoreError> {
        Ok(self.lock().outbox.get(&id).cloned())
    }

    fn outbox_by_keys(&self, keys: &[String]) -> Result<Vec<Output>, StoreError> {
        let inner = self.lock();
        Ok(keys
            .iter()
            .filter_map(|key| inner.output_by_key.get(key))
            .filter_map(|id| inner.outbox.get(id).cloned())
            .collect())
    }

    fn outbox_recent(
        &self,
        limit: usize,
        state: Option<OutputState>,
    ) -> Result<Vec<Output>, StoreError> {
        Ok(self
            .lock()
            .outbox
            .values()
            .rev()
            .filter(|o| state.is_none_or(|s| o.state == s))
            .take(limit)
            .cloned()
            .collect())
    }

    fn outbox_counts(&self) -> Result<Vec<(OutputState, u64)>, StoreError> {
        let inner = self.lock();
        Ok(OutputState::ALL
            .into_iter()
            .map(|s| {
                let n = inner.outbox.values().filter(|o| o.state == s).count();
                (s, n as u64)
            })
            .filter(|(_, n)| *n > 0)
            .collect())
    }
}

impl KeyValueStore for MemoryStore {
    fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.lock().kv.get(key).cloned())
    }

    fn kv_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.lock().kv.insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    fn kv_delete(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.lock().kv.remove(key).is_some())
    }

    fn kv_list(&self, prefix: &str, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .lock()
            .kv
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn kv_compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if inner.kv.get(key).map(String::as_str) != expected {
            return Ok(false);
        }
        match new {
            Some(value) => inner.kv.insert(key.to_owned(), value.to_owned()),
            None => inner.kv.remove(key),
        };
        Ok(true)
    }
}

impl LeaseStore for MemoryStore {}

impl InstallationStore for MemoryStore {
    fn installation_record(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.lock().installations.get(key).cloned())
    }

    fn installation_write(
        &self,
        key: &str,
        expected: Option<Option<&str>>,
        new: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if let Some(expected) = expected {
            if inner.installations.get(key).map(String::as_str) != expected {
                return Ok(false);
            }
        }
        match new {
            Some(value) => {
                inner.installations.insert(key.to_owned(), value.to_owned());
            }
            None => {
                inner.installations.remove(key);
            }
        }
        Ok(true)
    }

    fn installation_keys(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        Ok(self
            .lock()
            .installations
            .keys()
            .take(limit)
            .cloned()
            .collect())
    }

    fn oauth_state_issue(&self, state: &str, expires_at: SystemTime) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let now = SystemTime::now();
        inner.oauth_states.retain(|_, until| *until > now);
        inner.oauth_states.insert(state.to_owned(), expires_at);
        Ok(())
    }

    fn installation_lock(
        &self,
        name: &str,
        holder: &str,
        until: SystemTime,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let now = SystemTime::now();
        let free = inner
            .locks
            .get(name)
            .is_none_or(|(held_by, expires)| held_by == holder || *expires <= now);
        if free {
            inner
                .locks
                .insert(name.to_owned(), (holder.to_owned(), until));
        }
        Ok(free)
    }

    fn installation_unlock(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner
            .locks
            .get(name)
            .is_some_and(|(held_by, _)| held_by == holder)
        {
            inner.locks.remove(name);
        }
        Ok(())
    }

    fn oauth_state_consume(&self, state: &str, now: SystemTime) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .oauth_states
            .remove(state)
            .is_some_and(|until| until > now))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passes_the_conformance_suite() {
        super::super::conformance::run(&super::MemoryStore::new());
    }
}
