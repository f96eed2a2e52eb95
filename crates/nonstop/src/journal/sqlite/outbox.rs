//! SQLite: The outbox role: answers as kept.

#[allow(clippy::wildcard_imports)]
use super::*;

impl OutboxStore for SqliteStore {
    fn outbox_unfinished(&self, limit: usize) -> Result<Vec<Output>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {OUTPUT_COLUMNS} FROM outbox WHERE state < 2 ORDER BY id LIMIT ?1"
            ))
            .map_err(read_error)?;
        let rows = stmt
            .query_map(
                params![i64::try_from(limit).unwrap_or(i64::MAX)],
                row_to_output,
            )
            .map_err(read_error)?;
        rows.collect::<Result<_, _>>().map_err(read_error)
    }

    fn outbox_get(&self, id: i64) -> Result<Option<Output>, StoreError> {
        self.lock()
            .query_row(
                &format!("SELECT {OUTPUT_COLUMNS} FROM outbox WHERE id = ?1"),
                params![id],
                row_to_output,
            )
            .optional()
            .map_err(read_error)
    }

    fn outbox_by_keys(&self, keys: &[String]) -> Result<Vec<Output>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {OUTPUT_COLUMNS} FROM outbox WHERE key = ?1"
            ))
            .map_err(read_error)?;
        let mut found = Vec::new();
        for key in keys {
            if let Some(output) = stmt
                .query_row(params![key], row_to_output)
                .optional()
                .map_err(read_error)?
            {
                found.push(output);
            }
        }
        Ok(found)
    }

    fn outbox_recent(
        &self,
        limit: usize,
        state: Option<OutputState>,
    ) -> Result<Vec<Output>, StoreError> {
        let conn = self.lock();
        // `?2 < 0` reads every state: one statement for both.
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {OUTPUT_COLUMNS} FROM outbox WHERE ?2 < 0 OR state = ?2
                 ORDER BY id DESC LIMIT ?1"
            ))
            .map_err(read_error)?;
        let code = state.map_or(-1, OutputState::code);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![limit, code], row_to_output)
            .map_err(read_error)?;
        rows.collect::<Result<_, _>>().map_err(read_error)
    }

    fn outbox_counts(&self) -> Result<Vec<(OutputState, u64)>, StoreError> {
        count_by_state(
            &self.lock(),
            "SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state",
            OutputState::from_code,
        )
    }
}
