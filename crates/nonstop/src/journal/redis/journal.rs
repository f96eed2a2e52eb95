//! Redis: The journal role: the batched write, and what was received and finished.

#[allow(clippy::wildcard_imports)]
use super::*;

impl JournalStore for RedisStore {
    fn write(&self, batch: &Batch<'_>) -> Result<Written, StoreError> {
        let s = &self.shared;
        let id = format!("{:016x}", rand::random::<u64>());
        let json = serde_json::to_string(&wire(
            batch,
            id.clone(),
            s.lost_batches(),
            [
                s.seen_seq.load(Ordering::Relaxed),
                s.seen_id.load(Ordering::Relaxed),
            ],
        ))
        .map_err(|e| StoreError::Write {
            detail: format!("the batch could not be encoded: {e}"),
        })?;
        let answer = s
            .write(|conn| {
                let answer = s
                    .scripts
                    .write
                    .arg(&s.options.prefix)
                    .arg(&s.me)
                    .arg(s.lease_ms())
                    .arg(&json)
                    .arg(s.bot_name())
                    .arg(&s.incarnation)
                    .invoke(conn);
                s.as_if_lost(answer)
            })
            .inspect_err(|_| {
                if !batch.entries.is_empty() || !batch.outputs.is_empty() {
                    s.batch_lost(id);
                }
            })?;
        let redis::Value::Array(parts) = answer else {
            return Err(malformed("a batch"));
        };
        let (appended, outputs, fenced, fenced_marks, lapsed) = match parts.as_slice() {
            [redis::Value::Array(a), redis::Value::Array(o), redis::Value::Array(f), redis::Value::Int(m), redis::Value::Int(l), redis::Value::Int(b)] =>
            {
                s.bot_seen(*b == 1);
                (a, o, f, *m, *l == 1)
            }
            // An empty Lua table comes back as an empty array; every list may be empty.
            _ => return Err(malformed("a batch")),
        };
        s.lease_seen(lapsed);
        let fenced: Vec<i64> = fenced
            .iter()
            .filter_map(|v| match v {
                redis::Value::Int(id) => Some(*id),
                _ => None,
            })
            .collect();
        if fenced_marks > 0 {
            warn!(
                outcomes = fenced_marks,
                "redis: outcomes of events another replica took over were not recorded; that replica runs them"
            );
        }
        let appended = appended
            .iter()
            .map(|v| match v {
                redis::Value::Int(0) => Ok(Appended::Duplicate),
                redis::Value::Int(seq) => {
                    s.seen_seq.fetch_max(*seq, Ordering::Relaxed);
                    Ok(Appended::Fresh { seq: *seq })
                }
                _ => Err(malformed("an entry")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let outputs = outputs
            .iter()
            .map(|v| match v {
                redis::Value::Int(id) => {
                    s.seen_id.fetch_max(*id, Ordering::Relaxed);
                    Ok(OutputAppended::Fresh { id: *id })
                }
                other => hash(other)
                    .as_ref()
                    .and_then(output_from)
                    .inspect(|o| s.saw([], [o]))
                    .map(|o| OutputAppended::Existing(Box::new(o)))
                    .ok_or_else(|| malformed("an answer")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Written {
            appended,
            outputs,
            fenced,
        })
    }

    fn unfinished(&self, limit: usize) -> Result<Vec<Entry>, StoreError> {
        let s = &self.shared;
        let keys = s.members(&format!("eu:{}", s.me), limit, false)?;
        s.entries(&keys)
    }

    fn received_after(&self, after: i64, limit: usize) -> Result<Vec<Entry>, StoreError> {
        let s = &self.shared;
        // Entries still `received` (waiting for room in a dispatch queue), all replicas', by
        // seq: few next to those dispatched, and read from `after` on, so a replica with a
        // long backlog of running handlers does not scan it at every call.
        let set = s.key(&format!("st:{}", EntryState::Received.code()));
        let mut found = Vec::new();
        let mut from = after;
        while found.len() < limit {
            let keys: Vec<(String, i64)> = s.read(|conn| {
                redis::cmd("ZRANGEBYSCORE")
                    .arg(&set)
                    .arg(format!("({from}"))
                    .arg("+inf")
                    .arg("WITHSCORES")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(256)
                    .query(conn)
            })?;
            let Some(&(_, last)) = keys.last() else {
                break;
            };
            from = last;
            let owners: Vec<Option<String>> = s.read(|conn| {
                let mut pipe = redis::pipe();
                for (key, _) in &keys {
                    pipe.hget(s.key(&format!("e:{key}")), "own");
                }
                pipe.query(conn)
            })?;
            let mine: Vec<String> = keys
                .into_iter()
                .zip(owners)
                .filter(|(_, owner)| owner.as_deref() == Some(s.me.as_str()))
                .map(|((key, _), _)| key)
                .collect();
            found.extend(
                s.entries(&mine)?
                    .into_iter()
                    .filter(|e| e.state == EntryState::Received),
            );
        }
        found.truncate(limit);
        Ok(found)
    }

    fn recent(&self, limit: usize, state: Option<EntryState>) -> Result<Vec<Entry>, StoreError> {
        let s = &self.shared;
        if state == Some(EntryState::Done) {
            return s.newest_finished_well(
                "efs",
                limit,
                |keys| s.entries(keys),
                |e| e.state == EntryState::Done,
            );
        }
        let set = state.map_or("es".to_owned(), |st| format!("st:{}", st.code()));
        let keys = s.members(&set, limit, true)?;
        s.entries(&keys)
    }

    fn counts(&self) -> Result<Vec<(EntryState, u64)>, StoreError> {
        let codes: Vec<i64> = EntryState::ALL.iter().map(|s| s.code()).collect();
        let counts = self.shared.counts("st", "efs", &codes)?;
        Ok(EntryState::ALL
            .into_iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .collect())
    }

    fn prune(&self, cutoff: SystemTime, max_entries: u64, limit: usize) -> Result<u64, StoreError> {
        let s = &self.shared;
        let removed = s.write(|conn| {
            s.scripts
                .prune
                .arg(&s.options.prefix)
                .arg(to_millis(cutoff))
                .arg(max_entries)
                .arg(limit)
                .invoke(conn)
        })?;
        match removed {
            redis::Value::Int(n) => Ok(u64::try_from(n).unwrap_or(0)),
            _ => Err(malformed("a prune")),
        }
    }

    fn bot(&self) -> Result<Option<String>, StoreError> {
        let s = &self.shared;
        s.read(|conn| redis::cmd("GET").arg(s.key("bot")).query(conn))
    }

    fn claim_for_bot(&self, bot: &str) -> Result<(), StoreError> {
        let s = &self.shared;
        let key = s.key("bot");
        // The first replica of the first bot names it; everybody reads the name back.
        let holder: String = s.with_conn(
            |detail| StoreError::Write { detail },
            |conn| {
                redis::cmd("SET").arg(&key).arg(bot).arg("NX").exec(conn)?;
                redis::cmd("GET").arg(&key).query(conn)
            },
        )?;
        if holder == bot {
            *s.bot.lock().unwrap_or_else(|p| p.into_inner()) = Some(bot.to_owned());
            return Ok(());
        }
        Err(StoreError::OtherBot {
            place: format!(
                "in Redis at {} under the prefix {}",
                s.shown, s.options.prefix
            ),
            holder,
            this: bot.to_owned(),
            setting: "NONSTOP_REDIS_PREFIX".to_owned(),
        })
    }
}
