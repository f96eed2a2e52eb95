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
        let key = key.to_owned();
        self.blocking(move |store| {
            let mut failure: Option<StorageError> = None;
            let mut written: Option<T> = None;
            store.kv_update(&key, &mut |stored| {
                // A compare-and-set lost to another writer runs this again: only the last
                // round counts.
                failure = None;
                // On any failure, write back what was there: the value stays as it was.
                let unchanged = stored.map(str::to_owned);
                let current = match stored.map(|raw| decode::<T>(&key, raw)).transpose() {
                    Ok(value) => value,
                    Err(e) => {
                        failure = Some(e);
                        return unchanged;
                    }
                };
                let next = change(current);
                let raw = match next.as_ref().map(|v| encode(&key, v)).transpose() {
                    Ok(raw) => raw,
                    Err(e) => {
                        failure = Some(e);
                        return unchanged;
                    }
                };
                written = next;
                raw
            })?;
            match failure {
                Some(e) => Err(e),
                None => Ok(written),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::MemoryStore;

    #[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
    struct Team {
        name: String,
        greeted: u32,
    }

    #[tokio::test]
    async fn typed_values_round_trip_and_update_atomically() {
        let storage = Storage::new(Arc::new(MemoryStore::new()));
        let team = Team {
            name: "Acme".into(),
            greeted: 0,
        };
        storage.set("team:T1", &team).await.unwrap();
        assert_eq!(storage.get::<Team>("team:T1").await.unwrap(), Some(team));
        let after = storage
            .update::<Team, _>("team:T1", |t| {
                t.map(|mut t| {
                    t.greeted += 1;
                    t
                })
            })
            .await
            .unwrap();
        assert_eq!(after.map(|t| t.greeted), Some(1));
        let listed = storage.list::<Team>("team:", 10).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].0, "team:T1");
        // A value of another type is a clear error, not a panic.
        let err = storage.get::<u64>("team:T1").await.unwrap_err();
        assert!(err.to_string().contains("team:T1"), "{err}");
        assert!(storage.delete("team:T1").await.unwrap());
        assert_eq!(storage.get::<Team>("team:T1").await.unwrap(), None);
    }
}
