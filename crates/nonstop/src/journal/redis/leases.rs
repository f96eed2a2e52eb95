//! Redis: The lease role: leases, takeover, shared Retry-After and the socket total.

#[allow(clippy::wildcard_imports)]
use super::*;

impl LeaseStore for RedisStore {
    fn take_over(&self, limit: usize) -> Result<TakenOver, StoreError> {
        let s = &self.shared;
        let lost = s.lost_batches();
        let lost_claims = s.lost_claims();
        let token = format!("{:016x}", rand::random::<u64>());
        let claim_others = s.may_claim_others();
        let answer = s
            .write(|conn| {
                let answer = s
                    .scripts
                    .take_over
                    .arg(&s.options.prefix)
                    .arg(&s.me)
                    .arg(s.lease_ms())
                    .arg(limit)
                    .arg(lost.join(" "))
                    .arg(lost_claims.join(" "))
                    .arg(&token)
                    .arg(if claim_others { "1" } else { "0" })
                    .arg(&s.incarnation)
                    .invoke(conn);
                s.as_if_lost(answer)
            })
            // It may have claimed all the same: the next call returns what it did.
            .inspect_err(|_| s.claim_lost(token))?;
        // Whatever those batches wrote and those claims took is returned now (or was
        // re-appended): forget them.
        s.forget_batches(&lost);
        s.forget_claims(&lost_claims);
        let redis::Value::Array(parts) = answer else {
            return Err(malformed("a takeover"));
        };
        let [redis::Value::Array(entries), redis::Value::Array(outputs), redis::Value::Int(lapsed)] =
            parts.as_slice()
        else {
            return Err(malformed("a takeover"));
        };
        s.lease_seen(*lapsed == 1);
        let taken = TakenOver {
            entries: entries
                .iter()
                .filter_map(|v| hash(v).as_ref().and_then(entry_from))
                .collect(),
            outputs: outputs
                .iter()
                .filter_map(|v| hash(v).as_ref().and_then(output_from))
                .collect(),
        };
        s.saw(&taken.entries, &taken.outputs);
        Ok(taken)
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn lease(&self) -> Option<Duration> {
        Some(self.shared.options.lease)
    }

    fn hold_calls(&self, key: &str, wait: Duration) -> Result<(), StoreError> {
        let s = &self.shared;
        let millis = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        // A longer hold already there stays. Only after a 429: a script made for the call.
        let hold = redis::Script::new(
            "if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then \
               redis.call('SET', KEYS[1], 1, 'PX', ARGV[1]) end return 1",
        );
        s.with_conn(
            |detail| StoreError::Write { detail },
            |conn| {
                hold.key(s.key(&format!("rl:{key}")))
                    .arg(millis)
                    .invoke::<i64>(conn)
            },
        )
        .map(drop)
    }

    fn calls_held_for(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        let s = &self.shared;
        let left: i64 = s.read(|conn| {
            redis::cmd("PTTL")
                .arg(s.key(&format!("rl:{key}")))
                .query(conn)
        })?;
        Ok(u64::try_from(left)
            .ok()
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis))
    }

    fn take_socket(&self, total: usize) -> Result<SocketShare, StoreError> {
        let s = &self.shared;
        // Held over the script: this replica's slots take one at a time, and a renewal
        // does not send an older count meanwhile.
        let _sending = s.sockets_sending.lock().unwrap_or_else(|p| p.into_inner());
        let mine = s.sockets.load(Ordering::Relaxed);
        let answer: Vec<i64> = s.with_conn(
            |detail| StoreError::Write { detail },
            |conn| {
                s.scripts
                    .sockets
                    .arg(&s.options.prefix)
                    .arg(&s.me)
                    .arg(total)
                    .arg(mine)
                    .arg(SHARE_LIFE.as_millis() as u64)
                    .invoke(conn)
            },
        )?;
        let held = answer
            .get(1)
            .and_then(|n| usize::try_from(*n).ok())
            .unwrap_or(0);
        match answer.first() {
            Some(1) => {
                s.sockets.fetch_add(1, Ordering::Relaxed);
                Ok(SocketShare::Taken)
            }
            Some(0) => Ok(SocketShare::Full { held }),
            _ => Err(malformed("a socket count")),
        }
    }

    fn give_socket(&self) {
        let s = &self.shared;
        let _ = s
            .sockets
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        let (flag, wake) = &s.publish_now;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_one();
    }
}
