//! Redis: the installation role: the app's installations in one hash (`P:inst`), written by
//! `install.lua` (compare-and-set in one step), and the OAuth flow's states as keys that
//! expire (`P:oauth:<state>`), taken once by whichever replica deletes them first.

#[allow(clippy::wildcard_imports)]
use super::*;

impl InstallationStore for RedisStore {
    fn installation_record(&self, key: &str) -> Result<Option<String>, StoreError> {
        let s = &self.shared;
        s.read(|conn| redis::cmd("HGET").arg(s.key("inst")).arg(key).query(conn))
    }

    fn installation_write(
        &self,
        key: &str,
        expected: Option<Option<&str>>,
        new: Option<&str>,
    ) -> Result<bool, StoreError> {
        let s = &self.shared;
        let (check, expected) = match expected {
            None => ("-", ""),
            Some(None) => ("0", ""),
            Some(Some(value)) => ("1", value),
        };
        let wrote = s.write(|conn| {
            s.scripts
                .install
                .arg(&s.options.prefix)
                .arg(key)
                .arg(check)
                .arg(expected)
                .arg(if new.is_some() { "1" } else { "0" })
                .arg(new.unwrap_or(""))
                .invoke(conn)
        })?;
        Ok(matches!(wrote, redis::Value::Int(1)))
    }

    fn installation_keys(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let s = &self.shared;
        let mut keys: Vec<String> =
            s.read(|conn| redis::cmd("HKEYS").arg(s.key("inst")).query(conn))?;
        keys.sort();
        keys.truncate(limit);
        Ok(keys)
    }

    fn oauth_state_issue(&self, state: &str, expires_at: SystemTime) -> Result<(), StoreError> {
        let s = &self.shared;
        let ttl = expires_at
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .as_millis()
            .max(1);
        s.write(|conn| {
            redis::cmd("SET")
                .arg(s.key(&format!("oauth:{state}")))
                .arg(1)
                .arg("PX")
                .arg(u64::try_from(ttl).unwrap_or(u64::MAX))
                .query(conn)
        })
        .map(drop)
    }

    fn installation_lock(
        &self,
        name: &str,
        holder: &str,
        until: SystemTime,
    ) -> Result<bool, StoreError> {
        let s = &self.shared;
        let ttl = until
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .as_millis()
            .max(1);
        let taken = s.write(|conn| {
            s.scripts
                .install_lock
                .arg(s.key(&format!("lock:{name}")))
                .arg(holder)
                .arg(u64::try_from(ttl).unwrap_or(u64::MAX))
                .arg("take")
                .invoke(conn)
        })?;
        Ok(matches!(taken, redis::Value::Int(1)))
    }

    fn installation_unlock(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let s = &self.shared;
        s.write(|conn| {
            s.scripts
                .install_lock
                .arg(s.key(&format!("lock:{name}")))
                .arg(holder)
                .arg(0)
                .arg("give")
                .invoke(conn)
        })
        .map(drop)
    }

    fn oauth_state_consume(&self, state: &str, _now: SystemTime) -> Result<bool, StoreError> {
        // Redis lets the key expire: present means not expired, and one DEL wins.
        let s = &self.shared;
        let deleted = s.write(|conn| {
            redis::cmd("DEL")
                .arg(s.key(&format!("oauth:{state}")))
                .query(conn)
        })?;
        Ok(matches!(deleted, redis::Value::Int(1)))
    }
}
