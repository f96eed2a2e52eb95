//! Redis: The key-value role: the bot's own storage.

#[allow(clippy::wildcard_imports)]
use super::*;

impl KeyValueStore for RedisStore {
    fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let s = &self.shared;
        s.read(|conn| redis::cmd("HGET").arg(s.key("kv")).arg(key).query(conn))
    }

    fn kv_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let s = &self.shared;
        s.write(|conn| {
            s.scripts
                .kv
                .arg(&s.options.prefix)
                .arg("set")
                .arg(key)
                .arg(value)
                .invoke(conn)
        })
        .map(drop)
    }

    fn kv_delete(&self, key: &str) -> Result<bool, StoreError> {
        let s = &self.shared;
        let existed = s.write(|conn| {
            s.scripts
                .kv
                .arg(&s.options.prefix)
                .arg("delete")
                .arg(key)
                .invoke(conn)
        })?;
        Ok(matches!(existed, redis::Value::Int(n) if n > 0))
    }

    fn kv_list(&self, prefix: &str, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        let s = &self.shared;
        let names: Vec<String> = s.read(|conn| {
            redis::cmd("ZRANGEBYLEX")
                .arg(s.key("kvk"))
                .arg(format!("[{prefix}"))
                .arg("+")
                .arg("LIMIT")
                .arg(0)
                .arg(limit)
                .query(conn)
        })?;
        let names: Vec<String> = names
            .into_iter()
            .take_while(|name| name.starts_with(prefix))
            .collect();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<String>> =
            s.read(|conn| redis::cmd("HMGET").arg(s.key("kv")).arg(&names).query(conn))?;
        Ok(names
            .into_iter()
            .zip(values)
            .filter_map(|(name, value)| Some((name, value?)))
            .collect())
    }

    fn kv_compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: Option<&str>,
    ) -> Result<bool, StoreError> {
        let s = &self.shared;
        let flag = |v: Option<&str>| if v.is_some() { "1" } else { "0" };
        let wrote = s.write(|conn| {
            s.scripts
                .kv
                .arg(&s.options.prefix)
                .arg("cas")
                .arg(key)
                .arg(flag(expected))
                .arg(expected.unwrap_or(""))
                .arg(flag(new))
                .arg(new.unwrap_or(""))
                .invoke(conn)
        })?;
        Ok(matches!(wrote, redis::Value::Int(1)))
    }
}
