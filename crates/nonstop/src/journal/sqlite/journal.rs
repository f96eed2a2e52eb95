//! SQLite: The journal role: the batched write, and what was received and finished.

#[allow(clippy::wildcard_imports)]
use super::*;

impl JournalStore for SqliteStore {
    fn bot(&self) -> Result<Option<String>, StoreError> {
        bot_of(&self.lock())
    }

    fn claim_for_bot(&self, bot: &str) -> Result<(), StoreError> {
        let conn = self.lock();
        conn.execute(
            "INSERT OR IGNORE INTO meta (name, value) VALUES ('bot', ?1)",
            [bot],
        )
        .map_err(write_error)?;
        let holder = bot_of(&conn)?.unwrap_or_default();
        if holder == bot {
            return Ok(());
        }
        Err(StoreError::OtherBot {
            place: self.path.clone(),
            holder,
            this: bot.to_owned(),
            setting: "NONSTOP_DB".to_owned(),
        })
    }

    fn checkpoint(&self) -> Result<(), StoreError> {
        // Passive: copies what it can without waiting for a lock, never blocks a commit.
        self.lock()
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(write_error)
    }

    fn write(&self, batch: &Batch<'_>) -> Result<Written, StoreError> {
        let Batch {
            entries,
            marks,
            outputs,
            output_marks,
        } = *batch;
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(write_error)?;
        let now = to_millis(SystemTime::now());
        let mut out = Vec::with_capacity(entries.len());
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events
                     (key, envelope_id, kind, raw, received_at, updated_at, state, attempts)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (key) DO NOTHING",
                )
                .map_err(write_error)?;
            for entry in entries {
                let inserted = insert
                    .execute(params![
                        entry.key,
                        entry.envelope_id,
                        entry.kind,
                        &*entry.raw,
                        to_millis(entry.received_at),
                        now,
                        if entry.dispatched {
                            EntryState::Dispatched.code()
                        } else {
                            EntryState::Received.code()
                        },
                        i64::from(entry.dispatched)
                    ])
                    .map_err(write_error)?;
                out.push(if inserted == 1 {
                    Appended::Fresh {
                        seq: tx.last_insert_rowid(),
                    }
                } else {
                    Appended::Duplicate
                });
            }
            // One UPDATE per key, however many marks the batch holds for it: a fast handler's
            // "dispatched" and "done" usually arrive together.
            let mut update = tx
                .prepare_cached(
                    "UPDATE events SET state = ?2, attempts = attempts + ?3,
                     error = COALESCE(?4, error), updated_at = ?5 WHERE key = ?1",
                )
                .map_err(write_error)?;
            for folded in fold(marks) {
                update
                    .execute(params![
                        folded.key,
                        folded.state.code(),
                        folded.starts,
                        folded.error,
                        now
                    ])
                    .map_err(write_error)?;
            }
        }
        let outputs = write_outputs(&tx, outputs, output_marks, now)?;
        tx.commit().map_err(write_error)?;
        Ok(Written {
            appended: out,
            outputs,
            fenced: Vec::new(),
        })
    }

    fn unfinished(&self, limit: usize) -> Result<Vec<Entry>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM events WHERE state < 2 ORDER BY seq LIMIT ?1"
            ))
            .map_err(read_error)?;
        let rows = stmt
            .query_map(params![limit as i64], row_to_entry)
            .map_err(read_error)?;
        rows.collect::<Result<_, _>>().map_err(read_error)
    }

    fn received_after(&self, after: i64, limit: usize) -> Result<Vec<Entry>, StoreError> {
        let conn = self.lock();
        // A range scan on the rowid from `after`: cheap however long the journal is.
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM events WHERE seq > ?1 AND state = 0 ORDER BY seq LIMIT ?2"
            ))
            .map_err(read_error)?;
        let rows = stmt
            .query_map(
                params![after, i64::try_from(limit).unwrap_or(i64::MAX)],
                row_to_entry,
            )
            .map_err(read_error)?;
        rows.collect::<Result<_, _>>().map_err(read_error)
    }

    fn recent(&self, limit: usize, state: Option<EntryState>) -> Result<Vec<Entry>, StoreError> {
        let conn = self.lock();
        let (sql, code) = match state {
            Some(s) => (
                format!("SELECT {COLUMNS} FROM events WHERE state = ?2 ORDER BY seq DESC LIMIT ?1"),
                s.code(),
            ),
            None => (
                format!("SELECT {COLUMNS} FROM events WHERE ?2 = ?2 ORDER BY seq DESC LIMIT ?1"),
                0,
            ),
        };
        let mut stmt = conn.prepare_cached(&sql).map_err(read_error)?;
        let rows = stmt
            .query_map(params![limit as i64, code], row_to_entry)
            .map_err(read_error)?;
        rows.collect::<Result<_, _>>().map_err(read_error)
    }

    fn counts(&self) -> Result<Vec<(EntryState, u64)>, StoreError> {
        count_by_state(
            &self.lock(),
            "SELECT state, COUNT(*) FROM events GROUP BY state ORDER BY state",
            EntryState::from_code,
        )
    }

    fn prune(&self, cutoff: SystemTime, max_entries: u64, limit: usize) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(write_error)?;
        // Through the `received_at` index: only entries older than the cutoff are visited.
        // (Ordered by seq, SQLite walked the whole table whenever nothing was old enough,
        // which is most of the time: with 120,000 entries that held the writer, and every ack,
        // for over 100 ms once a minute.)
        let mut removed = tx
            .execute(PRUNE_BY_AGE, params![to_millis(cutoff), limit])
            .map_err(write_error)? as u64;
        let budget = limit.saturating_sub(i64::try_from(removed).unwrap_or(i64::MAX));
        if budget > 0 {
            let boundary = size_boundary(&tx, max_entries)?;
            removed += tx
                .execute(PRUNE_BY_SIZE, params![boundary, budget])
                .map_err(write_error)? as u64;
        }
        let budget = limit.saturating_sub(i64::try_from(removed).unwrap_or(i64::MAX));
        if budget > 0 {
            removed += tx
                .execute(PRUNE_OUTBOX_BY_AGE, params![to_millis(cutoff), budget])
                .map_err(write_error)? as u64;
        }
        let budget = limit.saturating_sub(i64::try_from(removed).unwrap_or(i64::MAX));
        if budget > 0 {
            let newest: Option<i64> = tx
                .query_row("SELECT max(id) FROM outbox", [], |row| row.get(0))
                .map_err(write_error)?;
            let boundary = newest
                .unwrap_or(0)
                .saturating_sub(i64::try_from(max_entries).unwrap_or(i64::MAX));
            removed += tx
                .execute(PRUNE_OUTBOX_BY_SIZE, params![boundary, budget])
                .map_err(write_error)? as u64;
        }
        tx.commit().map_err(write_error)?;
        if removed > 0 {
            // Give the freed pages back, so a pruned journal shrinks instead of staying at
            // its high-water mark. The pragma frees one page per step: run it to the end.
            let mut vacuum = conn
                .prepare("PRAGMA incremental_vacuum")
                .map_err(write_error)?;
            let mut rows = vacuum.query([]).map_err(write_error)?;
            while rows.next().map_err(write_error)?.is_some() {}
        }
        Ok(removed)
    }
}
