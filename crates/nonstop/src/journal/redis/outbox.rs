//! Redis: The outbox role: answers as kept.

#[allow(clippy::wildcard_imports)]
use super::*;

impl OutboxStore for RedisStore {
    fn outbox_unfinished(&self, limit: usize) -> Result<Vec<Output>, StoreError> {
        let s = &self.shared;
        let ids = s.members(&format!("ou:{}", s.me), limit, false)?;
        s.outputs(&ids)
    }

    fn outbox_get(&self, id: i64) -> Result<Option<Output>, StoreError> {
        Ok(self.shared.outputs(&[id.to_string()])?.pop())
    }

    fn outbox_by_keys(&self, keys: &[String]) -> Result<Vec<Output>, StoreError> {
        let s = &self.shared;
        s.outputs(&s.output_ids(keys)?)
    }

    fn outbox_recent(
        &self,
        limit: usize,
        state: Option<OutputState>,
    ) -> Result<Vec<Output>, StoreError> {
        let s = &self.shared;
        if state == Some(OutputState::Sent) {
            return s.newest_finished_well(
                "ofs",
                limit,
                |ids| s.outputs(ids),
                |o| o.state == OutputState::Sent,
            );
        }
        let set = state.map_or("os".to_owned(), |st| format!("ost:{}", st.code()));
        let ids = s.members(&set, limit, true)?;
        s.outputs(&ids)
    }

    fn outbox_counts(&self) -> Result<Vec<(OutputState, u64)>, StoreError> {
        let codes: Vec<i64> = OutputState::ALL.iter().map(|s| s.code()).collect();
        let counts = self.shared.counts("ost", "ofs", &codes)?;
        Ok(OutputState::ALL
            .into_iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .collect())
    }
}
