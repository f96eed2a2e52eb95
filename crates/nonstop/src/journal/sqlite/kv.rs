//! SQLite: The key-value role: the bot's own storage.

#[allow(clippy::wildcard_imports)]
use super::*;

impl KeyValueStore for SqliteStore {
    fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.with_kv(|conn| {
            conn.query_row("SELECT value FROM kv WHERE key = ?1", params![key], |row| {
                row.get(0)
            })
            .optional()
            .map_err(read_error)
        })
    }

    fn kv_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.with_kv(|conn| {
            conn.execute(KV_UPSERT, params![key, value, to_millis(SystemTime::now())])
                .map(|_| ())
                .map_err(write_error)
        })
    }

    fn kv_delete(&self, key: &str) -> Result<bool, StoreError> {
        self.with_kv(|conn| {
            conn.execute("DELETE FROM kv WHERE key = ?1", params![key])
                .map(|n| n > 0)
                .map_err(write_error)
        })
    }

    fn kv_list(&self, prefix: &str, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        self.with_kv(|conn| {
            // Range scan on the primary key: prefix <= key < prefix + U+10FFFF.
            let upper = format!("{prefix}\u{10FFFF}");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT key, value FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3",
                )
                .map_err(read_error)?;
            let rows = stmt
                .query_map(params![prefix, upper, limit as i64], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })
                .map_err(read_error)?;
            rows.collect::<Result<_, _>>().map_err(read_error)
        })
    }

    fn kv_compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.with_kv(|conn| write_record(conn, Records::Kv, key, Some(expected), new))
    }
}
