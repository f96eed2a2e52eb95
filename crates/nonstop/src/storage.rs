//! The bot's own storage: typed values under string keys, kept in the journal's store (the
//! same SQLite file by default), so it survives restarts with nothing to install.
//!
//! Keys are free-form; a prefix per kind keeps them apart and makes them listable:
//! `team:T123`, `channel:C123`, `user:U123`.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::journal::{Store, StoreError};

/// A failed storage call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("storage key {key:?}: the value could not be encoded as JSON: {detail}")]
    Encode { key: String, detail: String },
    #[error("storage key {key:?}: the stored value is not the type asked for: {detail}")]
    Decode { key: String, detail: String },
    #[error("storage call could not run: {0}")]
    Runtime(String),
}

/// Cheap to clone. Calls run on the blocking pool, never on the async threads.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").finish_non_exhaustive()
    }
}

fn decode<T: DeserializeOwned>(key: &str, raw: &str) -> Result<T, StorageError> {
    serde_json::from_str(raw).map_err(|e| StorageError::Decode {
        key: key.to_owned(),
        detail: e.to_string(),
    })
}

fn encode<T: Serialize>(key: &str, value: &T) -> Result<String, StorageError> {
    serde_json::to_string(value).map_err(|e| StorageError::Encode {
        key: key.to_owned(),
        detail: e.to_string(),
    })
}

impl Storage {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    async fn blocking<R: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn Store) -> Result<R, StorageError> + Send + 'static,
    ) -> Result<R, StorageError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || call(store.as_ref()))
            .await
            .map_err(|e| StorageError::Runtime(e.to_string()))?
    }

    pub async fn get<T: DeserializeOwned + Send + 'static>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StorageError> {
        let key = key.to_owned();
        self.blocking(move |store| {
            store
                .kv_get(&key)?
                .map(|raw| decode(&key, &raw))
                .transpose()
        })
        .await
    }

    pub async fn set<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StorageError> {
        let raw = encode(key, value)?;
        let key = key.to_owned();
        self.blocking(move |store| Ok(store.kv_set(&key, &raw)?))
            .await
    }

    /// True when the key existed.
    pub async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        let key = key.to_owned();
        self.blocking(move |store| Ok(store.kv_delete(&key)?)).await
    }

    /// Values under keys starting with `prefix`, in key order, at most `limit`.
    pub async fn list<T: DeserializeOwned + Send + 'static>(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, T)>, StorageError> {
        let prefix = prefix.to_owned();
        self.blocking(move |store| {
            store
                .kv_list(&prefix, limit)?
                .into_iter()
                .map(|(key, raw)| decode(&key, &raw).map(|value| (key, value)))
                .collect()
        })
        .await
    }

    /// Changes one value atomically: `change` gets the current value (if any) and returns the
    /// new one, or `None` to delete it. Returns what was stored.
    ///
    /// `change` runs while nothing is locked (a slow one holds up no ack and no other call),
    /// so when another update of the same key lands meanwhile, it runs again on the new
    /// value: keep it free of side effects.
    pub async fn update<T, F>(&self, key: &str, mut change: F) -> Result<Option<T>, StorageError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnMut(Option<T>) -> Option<T> + Send + 'static,
    {
        let (stored, ()) = self
            .update_returning(key, move |current| (change(current), ()))
            .await?;
        Ok(stored)
    }

    /// Like [`Storage::update`], and `change` also says something about what it found (was
    /// it this user's own request, did this call decide it): returns what was stored and
    /// what the round that was stored said. When a race runs `change` again, only the last
    /// round's answer comes back, never a stale one.
    ///
    /// ```no_run
    /// # async fn example(storage: nonstop::Storage) -> Result<(), nonstop::StorageError> {
    /// // Take one ticket if any are left; say whether this call got one.
    /// let (_left, got_one) = storage
    ///     .update_returning::<u32, _, _>("tickets/left", |left| match left {
    ///         Some(n) if n > 0 => (Some(n - 1), true),
    ///         other => (other, false),
    ///     })
    ///     .await?;
    /// # let _ = got_one;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn update_returning<T, R, F>(
        &self,
        key: &str,
        mut change: F,
    ) -> Result<(Option<T>, R), StorageError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        R: Send + 'static,
        F: FnMut(Option<T>) -> (Option<T>, R) + Send + 'static,
    {
        let key = key.to_owned();
        self.blocking(move |store| {
            let mut failure: Option<StorageError> = None;
            let mut written: Option<(Option<T>, R)> = None;
            store.kv_update(&key, &mut |stored| {
                // A compare-and-set lost to another writer runs this again: only the last
                // round counts.
                failure = None;
                written = None;
                // On any failure, write back what was there: the value stays as it was.
                let unchanged = stored.map(str::to_owned);
                let current = match stored.map(|raw| decode::<T>(&key, raw)).transpose() {
                    Ok(value) => value,
                    Err(e) => {
                        failure = Some(e);
                        return unchanged;
                    }
                };
                let (next, said) = change(current);
                let raw = match next.as_ref().map(|v| encode(&key, v)).transpose() {
                    Ok(raw) => raw,
                    Err(e) => {
                        failure = Some(e);
                        return unchanged;
                    }
                };
                written = Some((next, said));
                raw
            })?;
            match (failure, written) {
                (Some(e), _) => Err(e),
                (None, Some(written)) => Ok(written),
                // The store returned without running `change`: no store does.
                (None, None) => Err(StorageError::Runtime(format!(
                    "storage key {key:?}: the update did not run"
                ))),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::MemoryStore;

    /// Another writer changes the key while `change` runs: the compare-and-set fails,
    /// `change` runs again on the new value, and what comes back is that round's answer,
    /// not the first one's.
    #[tokio::test]
    async fn a_raced_update_returns_what_its_stored_round_said() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        store.kv_set("seats", "1").unwrap();
        let storage = Storage::new(Arc::clone(&store));
        let other = Arc::clone(&store);
        let mut rounds = 0;
        let (left, got_one) = storage
            .update_returning::<u32, _, _>("seats", move |seats| {
                rounds += 1;
                if rounds == 1 {
                    // Someone else takes the last seat meanwhile.
                    other.kv_set("seats", "0").unwrap();
                }
                match seats {
                    Some(n) if n > 0 => (Some(n - 1), (rounds, true)),
                    other => (other, (rounds, false)),
                }
            })
            .await
            .unwrap();
        assert_eq!(left, Some(0));
        assert_eq!(got_one, (2, false), "the stored round's answer");
    }
}
