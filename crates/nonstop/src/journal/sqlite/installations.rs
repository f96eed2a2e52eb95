//! SQLite: the installation role: the app's installations and the OAuth flow's states, on the
//! storage connection (never the journal writer's).

#[allow(clippy::wildcard_imports)]
use super::*;

impl InstallationStore for SqliteStore {
    fn installation_record(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.with_kv(|conn| {
            conn.query_row(Records::Installations.select(), params![key], |row| {
                row.get(0)
            })
            .optional()
            .map_err(read_error)
        })
    }

    fn installation_write(
        &self,
        key: &str,
        expected: Option<Option<&str>>,
        new: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.with_kv(|conn| write_record(conn, Records::Installations, key, expected, new))
    }

    fn installation_keys(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        self.with_kv(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT key FROM installations ORDER BY key LIMIT ?1")
                .map_err(read_error)?;
            let rows = stmt
                .query_map(params![limit as i64], |row| row.get(0))
                .map_err(read_error)?;
            rows.collect::<Result<_, _>>().map_err(read_error)
        })
    }

    fn oauth_state_issue(&self, state: &str, expires_at: SystemTime) -> Result<(), StoreError> {
        self.with_kv(|conn| {
            // Expired states go as new ones come: the table stays as small as the installs
            // under way.
            conn.execute(
                "DELETE FROM oauth_states WHERE expires_at <= ?1",
                params![to_millis(SystemTime::now())],
            )
            .map_err(write_error)?;
            conn.execute(
                "INSERT OR REPLACE INTO oauth_states (state, expires_at) VALUES (?1, ?2)",
                params![state, to_millis(expires_at)],
            )
            .map(drop)
            .map_err(write_error)
        })
    }

    fn installation_lock(
        &self,
        name: &str,
        holder: &str,
        until: SystemTime,
    ) -> Result<bool, StoreError> {
        self.with_kv(|conn| {
            // One statement: taken when free, expired, or the holder's own.
            let taken = conn
                .execute(
                    "INSERT INTO installation_locks (name, holder, until) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET holder = ?2, until = ?3
                     WHERE installation_locks.holder = ?2 OR installation_locks.until <= ?4",
                    params![name, holder, to_millis(until), to_millis(SystemTime::now())],
                )
                .map_err(write_error)?;
            Ok(taken == 1)
        })
    }

    fn installation_unlock(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.with_kv(|conn| {
            conn.execute(
                "DELETE FROM installation_locks WHERE name = ?1 AND holder = ?2",
                params![name, holder],
            )
            .map(drop)
            .map_err(write_error)
        })
    }

    fn oauth_state_consume(&self, state: &str, now: SystemTime) -> Result<bool, StoreError> {
        self.with_kv(|conn| {
            let expires_at: Option<i64> = conn
                .query_row(
                    "DELETE FROM oauth_states WHERE state = ?1 RETURNING expires_at",
                    params![state],
                    |row| row.get(0),
                )
                .optional()
                .map_err(write_error)?;
            Ok(expires_at.is_some_and(|at| at > to_millis(now)))
        })
    }
}
