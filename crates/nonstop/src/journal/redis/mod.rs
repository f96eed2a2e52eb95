//! The journal in Redis, shared by several replicas of one bot (`REDIS_URL`).
//!
//! Every batch is one Lua script (`write.lua`), which Redis runs to the end before anything
//! else: an event is fresh exactly once across all replicas, whichever socket it came on, and
//! nothing of a batch is written when the script fails.
//!
//! Each entry and answer belongs to the replica that wrote it (its `own` field and the sets
//! `eu:<replica>` / `ou:<replica>` of its unfinished ones). A replica holds a lease in the
//! sorted set `replicas`, renewed by every batch and by a timer thread, timed by the Redis
//! server's clock. When a replica dies, its lease runs out after [`RedisOptions::lease`] and a
//! live replica claims what it left unfinished ([`LeaseStore::take_over`], `take_over.lua`) and runs
//! it as replays. Why a lease and not a stream's consumer group with `XAUTOCLAIM`: a claim by
//! idle time also steals the entry of a live replica whose handler merely runs long; a lease
//! is lost only by a replica that stops renewing it. A replica claims the work of replicas
//! whose lease ran out (rather than was given up at a clean stop) only once Redis has
//! answered it for a whole lease, since it started and since any failed call (down,
//! unreachable, full): after an outage the others' leases have run out too, and they need that
//! long to renew them; without the wait, the first replica back (or one started just then)
//! would run a live one's handlers again. A dead replica's lease needs a lease to run out
//! anyway, so the wait costs a takeover little.
//!
//! Keys, under the prefix `P` (one Redis primary; not a cluster, since the scripts compute key
//! names): `P:seq`, `P:oseq` counters; `P:e:<key>` an entry (hash) and `P:r:<key>` its
//! envelope (apart, so that the hash keeps Redis's compact encoding; `fields.lua`), and
//! `P:oa:<id>` an answer's arguments likewise; `P:es` all entries by seq;
//! `P:st:<state>` entries by state, but for done ones, which are most (`P:efs` less the
//! failed); `P:eu:<replica>` unfinished by owner; `P:efs` finished by seq (pruning by size,
//! and by age in arrival order); `P:o:<id>`, `P:ok`, `P:os`, `P:ost:<state>`,
//! `P:ou:<replica>`, `P:ofs` the same for answers; `P:kv`, `P:kvk` the bot's storage;
//! `P:replicas` the leases; `P:bot` the bot the journal serves ([`JournalStore::claim_for_bot`]);
//! `P:sockets` each replica's count of Socket Mode sockets, so that
//! all together stay within `NONSTOP_APP_SOCKETS` ([`LeaseStore::take_socket`], `sockets.lua`), and
//! `P:sockexp` until when each count holds (6 s, renewed every 2 s); `P:inst` the app's
//! installations, `P:oauth:<state>` the OAuth flow's states and `P:lock:<name>` the
//! locks on them (`installations.rs`).

mod installations;
mod journal;
mod kv;
mod leases;
mod outbox;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tracing::warn;

use super::{
    from_millis, to_millis, Appended, Batch, Entry, EntryState, InstallationStore, JournalStore,
    KeyValueStore, LeaseStore, Mark, OutboxStore, Output, OutputAppended, OutputMark, OutputState,
    SocketShare, StoreError, TakenOver, Written,
};

/// How a [`RedisStore`] is reached and shared.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Every key starts with this and a colon: several bots (or tests) can share one Redis.
    pub prefix: String,
    /// How long a replica that stopped renewing its lease keeps what it took; after it,
    /// another replica claims its unfinished entries and answers. Default 30 s.
    pub lease: Duration,
    /// The longest one command may take (connect, send, answer) before it counts as failed.
    pub timeout: Duration,
    /// For `rediss://` to a server whose certificate a private CA signed: that CA's
    /// certificate (PEM), trusted instead of the public CAs built in.
    pub ca_pem: Option<Vec<u8>>,
    /// This replica's name, stable across restarts (`NONSTOP_REPLICA_ID`); `None`: random
    /// per start. See [`RedisStore::open`].
    pub replica_id: Option<String>,
}

impl RedisOptions {
    /// With the private CA at `path` (`NONSTOP_REDIS_CA`) read in, when one is given.
    pub fn with_ca_file(mut self, path: Option<&std::path::Path>) -> Result<Self, StoreError> {
        if let Some(path) = path {
            let pem = std::fs::read(path).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                detail: format!("NONSTOP_REDIS_CA cannot be read: {e}"),
            })?;
            self.ca_pem = Some(pem);
        }
        Ok(self)
    }
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            prefix: "nonstop".to_owned(),
            lease: Duration::from_secs(30),
            timeout: Duration::from_secs(2),
            ca_pem: None,
            replica_id: None,
        }
    }
}

/// What [`RedisStore::server_facts`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisFacts {
    pub version: String,
    /// Whether the append-only file is on: without it a restart of Redis loses everything
    /// since the last snapshot.
    pub aof_enabled: bool,
    /// `always`, `everysec` or `no`; `None` when the server does not say (CONFIG disabled).
    pub appendfsync: Option<String>,
    /// Must be `noeviction`: any other policy may delete journal keys under memory pressure.
    pub maxmemory_policy: String,
    /// `master` to write to.
    pub role: String,
    /// Bytes Redis holds (`used_memory`), and its limit (`maxmemory`; 0: none). At the limit,
    /// with `noeviction`, every write is refused and the bot stops acking.
    pub used_memory: u64,
    pub maxmemory: u64,
}

/// One replica as [`RedisStore::replicas`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicaFacts {
    /// Its id (random per start; in its log line "journal open in Redis").
    pub id: String,
    /// How long its lease still runs (by the Redis server's clock); `None` when it ran out
    /// or was given up: the replica is gone, and what it left goes to the others.
    pub lease_left: Option<Duration>,
    /// Socket Mode sockets it last said it holds (of `NONSTOP_APP_SOCKETS`).
    pub sockets: u64,
    /// Events it took and has not finished, and answers it has not delivered.
    pub unfinished: u64,
    pub answers_waiting: u64,
}

/// The journal in Redis. See the module documentation.
pub struct RedisStore {
    shared: Arc<Shared>,
}

struct Shared {
    client: redis::Client,
    /// The URL with its password replaced, for messages.
    shown: String,
    /// The password, to scrub from anything Redis or the client says.
    secret: Option<String>,
    options: RedisOptions,
    /// This process's replica id: random per start, or the stable one it was given.
    me: String,
    /// With a stable id: this process's token for it (`P:inc:<id>`), checked by every script
    /// that writes, so that an older process under the same id (one that was paused while
    /// this one started) writes nothing more. "" with a random id.
    incarnation: String,
    /// One connection, made again after any failure (the next call reconnects).
    conn: Mutex<Option<redis::Connection>>,
    scripts: Scripts,
    /// Set by [`RedisStore::vanish`]: the lease is neither renewed nor given up.
    vanished: AtomicBool,
    /// Batches whose write failed, which Redis may have run all the same; kept for
    /// [`LOST_BATCHES_KEPT_FOR`], at most [`LOST_BATCHES`].
    lost: Mutex<VecDeque<(String, Instant)>>,
    /// Takeover calls whose answer never came, which Redis may have run: what they claimed
    /// is this replica's, and the next call returns it.
    lost_claims: Mutex<VecDeque<String>>,
    /// Since when Redis has answered every call (the store's opening, or the last failure):
    /// see [`Shared::may_claim_others`].
    answered_since: Mutex<Instant>,
    /// The highest entry seq and answer id this replica has seen, sent with every batch so
    /// that Redis's counters never go below them (`write.lua`): a Redis that lost its last
    /// writes (a crash with `appendfsync everysec`, a failover) would otherwise hand them out
    /// again while this replica still holds them, and a late mark would land on another
    /// event's answer.
    seen_seq: AtomicI64,
    seen_id: AtomicI64,
    /// Sockets this replica holds, as counted by [`LeaseStore::take_socket`](crate::journal::LeaseStore::take_socket) and
    /// [`LeaseStore::give_socket`](crate::journal::LeaseStore::give_socket); an atomic, so giving one back never waits for Redis.
    sockets: AtomicUsize,
    /// Held while a count is sent to Redis (a take, a renewal), so that two sends never
    /// cross and an older count never overwrites a newer one there.
    sockets_sending: Mutex<()>,
    /// Set by [`LeaseStore::give_socket`](crate::journal::LeaseStore::give_socket): the lease timer wakes and publishes the smaller count
    /// now, not at its next renewal.
    publish_now: (Mutex<bool>, Condvar),
    /// Set once a call renewed the lease: from then on, a renewal that finds it run out
    /// means this replica was paused or cut off past it ([`Shared::lease_seen`]).
    had_lease: AtomicBool,
    /// How many times a renewal found this replica's lease run out.
    leases_lost: AtomicU64,
    /// The bot this replica serves, once [`JournalStore::claim_for_bot`](crate::journal::JournalStore::claim_for_bot) named it: written again
    /// with every renewal and batch when Redis lost it.
    bot: Mutex<Option<String>>,
    /// Set while `P:bot` names another bot, for one error line per spell.
    foreign_bot: AtomicBool,
    #[cfg(any(test, feature = "test-util"))]
    lose_next_reply: AtomicBool,
    /// Set by [`RedisStore::hold_renewals`]: the timer renews nothing, as in a paused process.
    #[cfg(any(test, feature = "test-util"))]
    renewals_held: AtomicBool,
}

/// How long a replica's count of sockets counts against `NONSTOP_APP_SOCKETS` unless it is
/// renewed, and how often it is: a replica killed holding sockets keeps the others from
/// opening theirs for this long at most, not for a whole lease (issue 25's crash loop went
/// deaf for 25 s that way).
const SHARE_LIFE: Duration = Duration::from_secs(6);
const SHARE_RENEWAL: Duration = Duration::from_secs(2);

/// How long a failed batch's envelopes may come again from Slack and still be taken as fresh:
/// Slack retries an unacked envelope for minutes.
const LOST_BATCHES_KEPT_FOR: Duration = Duration::from_secs(30 * 60);
/// Failed batches remembered at most (a long Redis outage fails a batch every 200 ms).
const LOST_BATCHES: usize = 1024;

/// The state code of what finished well (an entry done, an answer sent), which has no set of
/// its own in Redis (`write.lua`), and of the failed.
const FINISHED_WELL: i64 = 2;
const FAILED: i64 = 3;

/// Said after Redis's own words when the server is a read-only replica: after a failover the
/// old primary becomes one, and a URL naming it keeps pointing there.
const READ_ONLY: &str = " (this Redis is a read-only replica, perhaps the old primary after a failover: point REDIS_URL at the primary, or at an address that follows it; nonstop does not ask Sentinel)";

/// Said after the scripts' refusal when another process took this replica's stable id.
const FENCED: &str = " (another process started under this NONSTOP_REPLICA_ID while this one was paused or cut off; this one writes nothing more and must be stopped: two processes must never share an id)";

/// How long a replica starting under a stable id whose lease still runs watches for the
/// lease's renewals (every 2 s by a live holder, [`SHARE_RENEWAL`]) before it takes the id as
/// a dead one's: a renewal's period and a second for its round trip.
const IDENTITY_WATCH: Duration = Duration::from_secs(3);

/// Said after Redis's own words when it refuses a write for want of memory.
const OUT_OF_MEMORY: &str = " (Redis is out of memory: it takes no writes until it is below its maxmemory again; give it more, or find what else fills it: the journal keeps each finished event about a day for dedup, docs/storage.md says how much that takes)";

struct Scripts {
    write: redis::Script,
    prune: redis::Script,
    take_over: redis::Script,
    lease: redis::Script,
    kv: redis::Script,
    install: redis::Script,
    install_lock: redis::Script,
    sockets: redis::Script,
    identity: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.shared.shown)
            .field("prefix", &self.shared.options.prefix)
            .field("replica", &self.shared.me)
            .finish()
    }
}

/// `url` with any password replaced by `***`: what messages show.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a redis:// URL)".to_owned();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or("", |(user, _)| user);
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => format!("{scheme}://{authority}{path}"),
    }
}

/// The password in `url`, percent-decoding aside: the text to scrub from messages.
fn password_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    let password = userinfo.split_once(':').map_or(userinfo, |(_, p)| p);
    (!password.is_empty()).then(|| password.to_owned())
}

impl RedisStore {
    /// Connects to the Redis at `url` (`redis://`, `rediss://` for TLS; a password in the URL
    /// is never shown) and takes a lease as a new replica. Fails when Redis cannot be reached
    /// or does not answer a script.
    pub fn open(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let store = Self::build(url, options)?;
        let shared = store.shared.clone();
        if let Err(e) = shared.claim_identity() {
            shared.vanished.store(true, Ordering::Relaxed);
            return Err(open_error(&shared.shown, e));
        }
        if let Err(e) = shared.lease("renew") {
            // Nothing to give up: spare the drop its own wait for an unreachable Redis.
            shared.vanished.store(true, Ordering::Relaxed);
            return Err(open_error(&shared.shown, e));
        }
        spawn_renewer(Arc::downgrade(&shared));
        Ok(store)
    }

    fn build(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let shown = redact_url(url);
        let secret = password_of(url);
        let client = match &options.ca_pem {
            // A private CA: trusted alone, in place of the public ones.
            Some(pem) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            None => redis::Client::open(url),
        }
        .map_err(|e| StoreError::Unreachable {
            url: shown.clone(),
            detail: scrub(&e.to_string(), secret.as_deref()),
        })?;
        let (me, incarnation) = match &options.replica_id {
            Some(id) => (id.clone(), format!("{:016x}", rand::random::<u64>())),
            None => (format!("{:016x}", rand::random::<u64>()), String::new()),
        };
        let shared = Arc::new(Shared {
            client,
            shown: shown.clone(),
            secret,
            options,
            me,
            incarnation,
            conn: Mutex::new(None),
            vanished: AtomicBool::new(false),
            lost: Mutex::new(VecDeque::new()),
            lost_claims: Mutex::new(VecDeque::new()),
            answered_since: Mutex::new(Instant::now()),
            seen_seq: AtomicI64::new(0),
            seen_id: AtomicI64::new(0),
            sockets: AtomicUsize::new(0),
            sockets_sending: Mutex::new(()),
            publish_now: (Mutex::new(false), Condvar::new()),
            had_lease: AtomicBool::new(false),
            leases_lost: AtomicU64::new(0),
            bot: Mutex::new(None),
            foreign_bot: AtomicBool::new(false),
            #[cfg(any(test, feature = "test-util"))]
            lose_next_reply: AtomicBool::new(false),
            #[cfg(any(test, feature = "test-util"))]
            renewals_held: AtomicBool::new(false),
            scripts: Scripts {
                write: redis::Script::new(concat!(
                    include_str!("fields.lua"),
                    include_str!("write.lua")
                )),
                prune: redis::Script::new(include_str!("prune.lua")),
                take_over: redis::Script::new(concat!(
                    include_str!("fields.lua"),
                    include_str!("take_over.lua")
                )),
                lease: redis::Script::new(concat!(
                    include_str!("fields.lua"),
                    include_str!("lease.lua")
                )),
                kv: redis::Script::new(include_str!("kv.lua")),
                install: redis::Script::new(include_str!("install.lua")),
                install_lock: redis::Script::new(include_str!("install_lock.lua")),
                identity: redis::Script::new(include_str!("identity.lua")),
                sockets: redis::Script::new(include_str!("sockets.lua")),
            },
        });
        Ok(RedisStore { shared })
    }

    /// Opens the journal at `url` to look at it while replicas run on it (`nonstop
    /// journal`): no lease is taken, so this process is no replica and nothing it does
    /// changes who owns what. Reading only; writing through it is a mistake.
    pub fn open_read_only(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let store = Self::build(url, options)?;
        store.shared.vanished.store(true, Ordering::Relaxed);
        let answered: Result<String, StoreError> =
            store.shared.read(|conn| redis::cmd("PING").query(conn));
        answered.map_err(|e| open_error(&store.shared.shown, e))?;
        Ok(store)
    }

    /// What the server says of itself that decides whether it keeps what it acknowledged
    /// (for `nonstop doctor`): from `INFO`, which managed Redis services allow.
    pub fn server_facts(&self) -> Result<RedisFacts, StoreError> {
        let info: String = self
            .shared
            .read(|conn| redis::cmd("INFO").arg("everything").query(conn))?;
        let field = |name: &str| {
            info.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_owned())
        };
        // `appendfsync` is not in INFO; CONFIG may be disabled (managed services): unknown then.
        let appendfsync: Option<String> = self
            .shared
            .read(|conn| {
                redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("appendfsync")
                    .query::<Vec<String>>(conn)
            })
            .ok()
            .and_then(|pair| pair.get(1).cloned());
        Ok(RedisFacts {
            version: field("redis_version").unwrap_or_else(|| "?".to_owned()),
            aof_enabled: field("aof_enabled").as_deref() == Some("1"),
            appendfsync,
            maxmemory_policy: field("maxmemory_policy").unwrap_or_else(|| "?".to_owned()),
            role: field("role").unwrap_or_else(|| "?".to_owned()),
            used_memory: field("used_memory")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            maxmemory: field("maxmemory").and_then(|v| v.parse().ok()).unwrap_or(0),
        })
    }

    /// The replicas that hold (or held) a lease on this journal, longest lease first: for
    /// `nonstop journal`, to see who holds what.
    pub fn replicas(&self) -> Result<Vec<ReplicaFacts>, StoreError> {
        let s = &self.shared;
        /// Redis's clock, the leases (replica, until in ms) and the socket counts.
        type Read = (Vec<String>, Vec<(String, i64)>, HashMap<String, u64>);
        let (time, leases, sockets): Read = s.read(|conn| {
            redis::pipe()
                .cmd("TIME")
                .cmd("ZRANGE")
                .arg(s.key("replicas"))
                .arg(0)
                .arg(-1)
                .arg("REV")
                .arg("WITHSCORES")
                .hgetall(s.key("sockets"))
                .query(conn)
        })?;
        let now_ms = match time.as_slice() {
            [secs, micros] => {
                secs.parse::<i64>().unwrap_or(0) * 1000 + micros.parse::<i64>().unwrap_or(0) / 1000
            }
            _ => return Err(malformed("TIME")),
        };
        let counts: Vec<(u64, u64)> = s.read(|conn| {
            let mut pipe = redis::pipe();
            for (id, _) in &leases {
                pipe.zcard(s.key(&format!("eu:{id}")))
                    .zcard(s.key(&format!("ou:{id}")));
            }
            pipe.query::<Vec<u64>>(conn).map(|n| {
                n.chunks(2)
                    .map(|c| {
                        let at = |i: usize| c.get(i).copied().unwrap_or(0);
                        (at(0), at(1))
                    })
                    .collect()
            })
        })?;
        Ok(leases
            .into_iter()
            .zip(counts)
            .map(
                |((id, until_ms), (unfinished, answers_waiting))| ReplicaFacts {
                    lease_left: u64::try_from(until_ms - now_ms)
                        .ok()
                        .filter(|left| *left > 0)
                        .map(Duration::from_millis),
                    sockets: sockets.get(&id).copied().unwrap_or(0),
                    unfinished,
                    answers_waiting,
                    id,
                },
            )
            .collect())
    }

    /// The Redis this store uses, password hidden.
    pub fn url(&self) -> &str {
        &self.shared.shown
    }

    /// This process's replica id in the store (random per start).
    pub fn replica(&self) -> &str {
        &self.shared.me
    }

    /// Makes the next batch's write (or takeover) run in Redis but fail here as if its answer
    /// had been lost on the way back: for tests of what the writer does then.
    #[cfg(any(test, feature = "test-util"))]
    pub fn lose_next_reply(&self) {
        self.shared.lose_next_reply.store(true, Ordering::Relaxed);
    }

    /// How many times this replica found its lease run out when it renewed it: it was
    /// paused, or cut off from Redis, for longer than the lease.
    pub fn leases_lost(&self) -> u64 {
        self.shared.leases_lost.load(Ordering::Relaxed)
    }

    /// For tests: while `held`, the lease timer renews nothing, as in a process that is
    /// paused (SIGSTOP) but for the calls the test makes itself.
    #[cfg(any(test, feature = "test-util"))]
    pub fn hold_renewals(&self, held: bool) {
        self.shared.renewals_held.store(held, Ordering::Relaxed);
    }

    /// Stops renewing the lease without giving it up, as a process killed with SIGKILL
    /// would: for tests of takeover.
    #[cfg(any(test, feature = "test-util"))]
    pub fn vanish(self) {
        self.shared.vanished.store(true, Ordering::Relaxed);
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        if self.shared.vanished.load(Ordering::Relaxed) {
            return;
        }
        // A replica that stops hands over what it leaves at once, not after the lease.
        if let Err(e) = self.shared.lease("release") {
            warn!(error = %e, "redis: the lease was not given up; other replicas claim what this one left once it runs out");
        }
    }
}

/// Renews the lease every third of its length until the store is dropped, so a replica with
/// no traffic keeps it, and publishes the replica's socket count with it (at once when one
/// was given back). A failure is a warning: while Redis is unreachable nobody can claim.
fn spawn_renewer(shared: Weak<Shared>) {
    let every = match shared.upgrade() {
        Some(s) => (s.options.lease / 3).min(SHARE_RENEWAL),
        None => return,
    };
    let spawned = std::thread::Builder::new()
        .name("nonstop-redis-lease".into())
        .spawn(move || {
            let mut failing = false;
            loop {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                shared.wait_for_renewal(every.max(Duration::from_millis(10)));
                if shared.vanished.load(Ordering::Relaxed) {
                    return;
                }
                #[cfg(any(test, feature = "test-util"))]
                if shared.renewals_held.load(Ordering::Relaxed) {
                    continue;
                }
                match shared.lease("renew") {
                    Ok(()) if failing => {
                        failing = false;
                        warn!("redis: the lease is renewed again");
                    }
                    Ok(()) => {}
                    Err(e) if !failing => {
                        failing = true;
                        warn!(error = %e, "redis: the lease could not be renewed; other replicas claim this one's work if it stays so for the lease's length");
                    }
                    Err(_) => {}
                }
            }
        });
    if let Err(e) = spawned {
        warn!(error = %e, "redis: the lease timer could not start; the lease is renewed by writes only");
    }
}

fn open_error(shown: &str, e: StoreError) -> StoreError {
    let detail = match e {
        // Said no to us: as it is, so that the caller does not wait for it to change.
        refused @ (StoreError::Refused { .. } | StoreError::ReplicaIdInUse { .. }) => {
            return refused
        }
        StoreError::Write { detail } | StoreError::Read { detail } => detail,
        other => other.to_string(),
    };
    StoreError::Unreachable {
        url: shown.to_owned(),
        detail,
    }
}

/// Whether Redis said no to this client (password, user, ACL) rather than failing to answer.
fn is_refusal(e: &redis::RedisError) -> bool {
    e.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("NOPERM" | "WRONGPASS" | "NOAUTH"))
}

fn scrub(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if text.contains(secret) => text.replace(secret, "***"),
        _ => text.to_owned(),
    }
}

impl Shared {
    /// Runs `f` on the connection, connecting first when there is none; any error drops the
    /// connection so that the next call starts afresh.
    fn with_conn<T>(
        &self,
        error: fn(String) -> StoreError,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            let conn = self
                .client
                .get_connection_with_timeout(self.options.timeout)
                .and_then(|conn| {
                    conn.set_read_timeout(Some(self.options.timeout))?;
                    conn.set_write_timeout(Some(self.options.timeout))?;
                    Ok(conn)
                })
                .map_err(|e| {
                    self.failed();
                    self.classify(&e, error)
                })?;
            *slot = Some(conn);
        }
        let Some(conn) = slot.as_mut() else {
            return Err(error("no connection".to_owned()));
        };
        f(conn).map_err(|e| {
            *slot = None;
            self.failed();
            self.classify(&e, error)
        })
    }

    /// A refusal as [`StoreError::Refused`], anything else as `error` says.
    fn classify(&self, e: &redis::RedisError, error: fn(String) -> StoreError) -> StoreError {
        if is_refusal(e) {
            return StoreError::Refused {
                url: self.shown.clone(),
                detail: scrub(&e.to_string(), self.secret.as_deref()),
            };
        }
        error(self.describe(e))
    }

    /// Notes entries and answers read or written, for the counters' floor.
    fn saw<'a>(
        &self,
        entries: impl IntoIterator<Item = &'a Entry>,
        outputs: impl IntoIterator<Item = &'a Output>,
    ) {
        for entry in entries {
            self.seen_seq.fetch_max(entry.seq, Ordering::Relaxed);
        }
        for output in outputs {
            self.seen_id.fetch_max(output.id, Ordering::Relaxed);
        }
    }

    fn failed(&self) {
        *self
            .answered_since
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// Whether Redis has answered every call for a whole lease, since this store opened and
    /// since its last failure: only then are other replicas' run-out leases taken as deaths.
    /// After an outage longer than the lease every lease has run out, the live replicas' too,
    /// and they renew theirs within a third of a lease once Redis is back; a replica that
    /// starts just then cannot tell them from dead ones either.
    fn may_claim_others(&self) -> bool {
        self.answered_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
            >= self.options.lease
    }

    fn describe(&self, e: &redis::RedisError) -> String {
        let hint = match e.code() {
            Some("OOM") => OUT_OF_MEMORY,
            Some("READONLY") => READ_ONLY,
            Some("NONSTOP_FENCED") => FENCED,
            _ => "",
        };
        scrub(
            &format!("Redis at {}: {e}{hint}", self.shown),
            self.secret.as_deref(),
        )
    }

    fn write(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<redis::Value>,
    ) -> Result<redis::Value, StoreError> {
        self.with_conn(|detail| StoreError::Write { detail }, f)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        self.with_conn(|detail| StoreError::Read { detail }, f)
    }

    fn batch_lost(&self, id: String) {
        let mut lost = self.lost.lock().unwrap_or_else(|p| p.into_inner());
        if lost.len() == LOST_BATCHES {
            lost.pop_front();
        }
        lost.push_back((id, Instant::now()));
    }

    /// `answer`, or, when a test asked for it ([`RedisStore::lose_next_reply`]), an error as
    /// if it had been lost on the way back.
    fn as_if_lost(
        &self,
        answer: redis::RedisResult<redis::Value>,
    ) -> redis::RedisResult<redis::Value> {
        #[cfg(any(test, feature = "test-util"))]
        if self.lose_next_reply.swap(false, Ordering::Relaxed) {
            return Err(redis::RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the reply was lost (a test's doing)",
            )));
        }
        answer
    }

    fn claim_lost(&self, token: String) {
        let mut lost = self.lost_claims.lock().unwrap_or_else(|p| p.into_inner());
        if lost.len() == LOST_BATCHES {
            lost.pop_front();
        }
        lost.push_back(token);
    }

    fn lost_claims(&self) -> Vec<String> {
        let lost = self.lost_claims.lock().unwrap_or_else(|p| p.into_inner());
        lost.iter().cloned().collect()
    }

    fn forget_claims(&self, done: &[String]) {
        if done.is_empty() {
            return;
        }
        let mut lost = self.lost_claims.lock().unwrap_or_else(|p| p.into_inner());
        lost.retain(|token| !done.contains(token));
    }

    fn forget_batches(&self, done: &[String]) {
        if done.is_empty() {
            return;
        }
        let mut lost = self.lost.lock().unwrap_or_else(|p| p.into_inner());
        lost.retain(|(id, _)| !done.contains(id));
    }

    fn lost_batches(&self) -> Vec<String> {
        let mut lost = self.lost.lock().unwrap_or_else(|p| p.into_inner());
        while lost
            .front()
            .is_some_and(|(_, at)| at.elapsed() > LOST_BATCHES_KEPT_FOR)
        {
            lost.pop_front();
        }
        lost.iter().map(|(id, _)| id.clone()).collect()
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.options.prefix)
    }

    fn lease_ms(&self) -> u64 {
        u64::try_from(self.options.lease.as_millis()).unwrap_or(u64::MAX)
    }

    fn lease(&self, what: &str) -> Result<(), StoreError> {
        let _sending = self
            .sockets_sending
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let sockets = self.sockets.load(Ordering::Relaxed);
        let bot = self.bot_name();
        let answer: Vec<i64> = self.with_conn(
            |detail| StoreError::Write { detail },
            |conn| {
                self.scripts
                    .lease
                    .arg(&self.options.prefix)
                    .arg(&self.me)
                    .arg(self.lease_ms())
                    .arg(what)
                    .arg(sockets)
                    .arg(SHARE_LIFE.as_millis() as u64)
                    .arg(&bot)
                    .arg(&self.incarnation)
                    .invoke(conn)
            },
        )?;
        if what == "renew" {
            self.lease_seen(answer.first() == Some(&1));
            self.bot_seen(answer.get(1) == Some(&1));
        }
        Ok(())
    }

    /// With a stable id: takes it for this process, or refuses when a live process holds it.
    /// A lease still running under the id is a live twin or a predecessor killed moments
    /// ago: the lease's renewals (every 2 s) tell them apart, watched for
    /// [`IDENTITY_WATCH`]. Taken, the id's token is this process's, and what the id owns
    /// (the predecessor's unfinished events and answers) is this process's to resume now.
    fn claim_identity(&self) -> Result<(), StoreError> {
        if self.incarnation.is_empty() {
            return Ok(());
        }
        let identity = |what: &str, token: &str| -> Result<Vec<i64>, StoreError> {
            self.with_conn(
                |detail| StoreError::Write { detail },
                |conn| {
                    self.scripts
                        .identity
                        .arg(&self.options.prefix)
                        .arg(&self.me)
                        .arg(what)
                        .arg(token)
                        .invoke(conn)
                },
            )
        };
        let look = || -> Result<(bool, i64), StoreError> {
            let answer = identity("look", "")?;
            Ok((
                answer.first() == Some(&1),
                answer.get(1).copied().unwrap_or(0),
            ))
        };
        let (live, beat) = look()?;
        if live {
            tracing::info!(replica = %self.me, "this replica id's lease still runs: watching whether a live process renews it before taking it");
            std::thread::sleep(IDENTITY_WATCH);
            let (_, again) = look()?;
            if again != beat {
                return Err(StoreError::ReplicaIdInUse {
                    id: self.me.clone(),
                    prefix: self.options.prefix.clone(),
                });
            }
        }
        identity("take", &self.incarnation).map(drop)
    }

    /// The bot this replica serves, or "" before it knows.
    fn bot_name(&self) -> String {
        self.bot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_default()
    }

    /// After a call that checked `P:bot`: `foreign` when it names another bot. That bot was
    /// let in while the name was gone (a Redis restarted empty, a FLUSHDB) and now runs on
    /// this journal too: said once per spell, as an error, for an operator to act on.
    fn bot_seen(&self, foreign: bool) {
        let was = self.foreign_bot.swap(foreign, Ordering::Relaxed);
        if foreign && !was {
            tracing::error!(
                prefix = %self.options.prefix,
                this = %self.bot_name(),
                "another bot's name is on this journal in Redis (it was let in while the name was gone: a Redis restarted empty, a FLUSHDB); both bots now share one journal and deduplicate each other's events: stop the other bot's replicas, or give each bot its own NONSTOP_REDIS_PREFIX"
            );
        }
    }

    /// After a call that renewed the lease: `lapsed` when it had run out before. Once this
    /// replica has held a lease, that means it was paused or cut off from Redis for longer
    /// than the lease, and other replicas may have taken its work: what they took is theirs
    /// (every mark is fenced by owner in `write.lua`), and this replica takes others' work
    /// again only after a whole lease, like one just started (they may have been cut off
    /// with it).
    fn lease_seen(&self, lapsed: bool) {
        let had = self.had_lease.swap(true, Ordering::Relaxed);
        if lapsed && had {
            self.leases_lost.fetch_add(1, Ordering::Relaxed);
            self.failed();
            warn!(
                replica = %self.me,
                "redis: this replica's lease had run out before it renewed it (the process was paused, or cut off from Redis, for longer than NONSTOP_TAKEOVER_SECS); other replicas may have taken its events and answers: it sends none of those and records no outcome for them, and takes others' work again only after a whole lease"
            );
        }
    }

    /// Sleeps for `every`, or less when a socket was given back meanwhile.
    fn wait_for_renewal(&self, every: Duration) {
        let (flag, wake) = &self.publish_now;
        let asked = flag.lock().unwrap_or_else(|p| p.into_inner());
        let (mut asked, _) = wake
            .wait_timeout_while(asked, every, |asked| !*asked)
            .unwrap_or_else(|p| p.into_inner());
        *asked = false;
    }

    /// The entries stored under these keys (by `P:e:<key>`), in the given order; ones pruned
    /// meanwhile are left out.
    fn entries(&self, keys: &[String]) -> Result<Vec<Entry>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let hashes = self.hashes_with(keys, "e", "r", "raw")?;
        let entries: Vec<Entry> = hashes.iter().filter_map(entry_from).collect();
        self.saw(&entries, []);
        Ok(entries)
    }

    fn outputs(&self, ids: &[String]) -> Result<Vec<Output>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let hashes = self.hashes_with(ids, "o", "oa", "args")?;
        let outputs: Vec<Output> = hashes.iter().filter_map(output_from).collect();
        self.saw([], &outputs);
        Ok(outputs)
    }

    /// The hashes `<hash>:<name>` for these names, each with the value kept in its own key
    /// `<own>:<name>` (`fields.lua`) added as `field`, in one round trip.
    fn hashes_with(
        &self,
        names: &[String],
        hash: &str,
        own: &str,
        field: &str,
    ) -> Result<Vec<HashMap<String, String>>, StoreError> {
        let answers: Vec<(HashMap<String, String>, Option<String>)> = self.read(|conn| {
            let mut pipe = redis::pipe();
            for name in names {
                pipe.hgetall(self.key(&format!("{hash}:{name}")));
                pipe.get(self.key(&format!("{own}:{name}")));
            }
            // Two answers per name, read back as pairs.
            pipe.query(conn)
        })?;
        Ok(answers
            .into_iter()
            .map(|(mut h, value)| {
                if let Some(value) = value {
                    h.insert(field.to_owned(), value);
                }
                h
            })
            .collect())
    }

    /// Members of a sorted set by rank, lowest first (or highest first when `newest`).
    /// The ids of the answers written under these keys (`P:ok`), those that exist.
    fn output_ids(&self, keys: &[String]) -> Result<Vec<String>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let by_key = self.key("ok");
        let ids: Vec<Option<String>> =
            self.read(|conn| redis::cmd("HMGET").arg(&by_key).arg(keys).query(conn))?;
        Ok(ids.into_iter().flatten().collect())
    }

    fn members(&self, set: &str, limit: usize, newest: bool) -> Result<Vec<String>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let stop = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
        let set = self.key(set);
        self.read(|conn| {
            if newest {
                redis::cmd("ZREVRANGE")
                    .arg(&set)
                    .arg(0)
                    .arg(stop)
                    .query(conn)
            } else {
                redis::cmd("ZRANGE").arg(&set).arg(0).arg(stop).query(conn)
            }
        })
    }

    /// How many are in each state of `codes`, from the sets `<by_state>:<code>`; those that
    /// finished well have no set (`write.lua`): they are the set `finished` less the failed.
    fn counts(
        &self,
        by_state: &str,
        finished: &str,
        codes: &[i64],
    ) -> Result<Vec<u64>, StoreError> {
        let mut counts: Vec<u64> = self.read(|conn| {
            let mut pipe = redis::pipe();
            // One moment for all, so that the subtraction below is of the same moment.
            pipe.atomic();
            for code in codes {
                if *code == FINISHED_WELL {
                    pipe.zcard(self.key(finished));
                } else {
                    pipe.zcard(self.key(&format!("{by_state}:{code}")));
                }
            }
            pipe.query(conn)
        })?;
        let failed = codes
            .iter()
            .position(|c| *c == FAILED)
            .and_then(|i| counts.get(i).copied())
            .unwrap_or(0);
        if let Some(i) = codes.iter().position(|c| *c == FINISHED_WELL) {
            if let Some(well) = counts.get_mut(i) {
                *well = well.saturating_sub(failed);
            }
        }
        Ok(counts)
    }

    /// Names in the set `finished`, newest first, whose item `read` finds in a state that
    /// `well` accepts, at most `limit`: the newest of those that finished well, which have no
    /// set of their own.
    fn newest_finished_well<T>(
        &self,
        finished: &str,
        limit: usize,
        read: impl Fn(&[String]) -> Result<Vec<T>, StoreError>,
        well: impl Fn(&T) -> bool,
    ) -> Result<Vec<T>, StoreError> {
        let set = self.key(finished);
        let mut found = Vec::new();
        let mut from = 0isize;
        // Failed ones are few: a page or two covers any limit the callers ask for.
        let page = limit.clamp(16, 1024);
        while found.len() < limit {
            let stop = from.saturating_add(isize::try_from(page).unwrap_or(1024) - 1);
            let names: Vec<String> = self.read(|conn| {
                redis::cmd("ZREVRANGE")
                    .arg(&set)
                    .arg(from)
                    .arg(stop)
                    .query(conn)
            })?;
            if names.is_empty() {
                break;
            }
            from = stop.saturating_add(1);
            found.extend(read(&names)?.into_iter().filter(|t| well(t)));
        }
        found.truncate(limit);
        Ok(found)
    }
}

/// A batch as `write.lua` reads it.
#[derive(Serialize)]
struct WireBatch<'a> {
    /// Random per write: entries remember the batch that wrote them.
    id: String,
    /// This replica's recent batches whose answer never came (see `write.lua`).
    lost: Vec<String>,
    /// The highest entry seq and answer id this replica has seen (`Shared::seen_seq`), as
    /// strings (Lua would print a large number in exponent form).
    seq_floor: String,
    id_floor: String,
    entries: Vec<WireEntry<'a>>,
    marks: Vec<WireMark<'a>>,
    outputs: Vec<WireOutput<'a>>,
    output_marks: Vec<WireOutputMark<'a>>,
}

#[derive(Serialize)]
struct WireEntry<'a> {
    key: &'a str,
    env: &'a str,
    kind: &'a str,
    raw: &'a str,
    at: String,
    dispatched: bool,
}

#[derive(Serialize)]
struct WireMark<'a> {
    key: &'a str,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct WireOutput<'a> {
    key: &'a str,
    lane: &'a str,
    method: &'a str,
    args: &'a str,
    at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    aat: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ws: Option<&'a str>,
}

#[derive(Serialize)]
struct WireOutputMark<'a> {
    id: i64,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

fn wire<'a>(batch: &Batch<'a>, id: String, lost: Vec<String>, floors: [i64; 2]) -> WireBatch<'a> {
    WireBatch {
        id,
        lost,
        seq_floor: floors[0].to_string(),
        id_floor: floors[1].to_string(),
        entries: batch
            .entries
            .iter()
            .map(|e| WireEntry {
                key: &e.key,
                env: &e.envelope_id,
                kind: &e.kind,
                raw: &e.raw,
                at: to_millis(e.received_at).to_string(),
                dispatched: e.dispatched,
            })
            .collect(),
        marks: batch
            .marks
            .iter()
            .map(|m| match m {
                Mark::Dispatched { key } => WireMark {
                    key,
                    kind: "dispatched",
                    error: None,
                },
                Mark::Done { key } => WireMark {
                    key,
                    kind: "done",
                    error: None,
                },
                Mark::Failed { key, error } => WireMark {
                    key,
                    kind: "failed",
                    error: Some(error),
                },
            })
            .collect(),
        outputs: batch
            .outputs
            .iter()
            .map(|o| WireOutput {
                key: &o.key,
                lane: &o.lane,
                method: &o.method,
                args: &o.args,
                at: to_millis(o.created_at).to_string(),
                aat: o.attempt_covered_until.map(|at| to_millis(at).to_string()),
                ws: o.workspace.as_deref(),
            })
            .collect(),
        output_marks: batch
            .output_marks
            .iter()
            .map(|m| {
                let (kind, at, result, error) = match m {
                    OutputMark::Attempt { at, .. } => {
                        ("attempt", Some(to_millis(*at).to_string()), None, None)
                    }
                    OutputMark::NotPosted { .. } => ("not_posted", None, None, None),
                    OutputMark::Sent { result, .. } => ("sent", None, Some(result.as_str()), None),
                    OutputMark::Failed { error, .. } => {
                        ("failed", None, None, Some(error.as_str()))
                    }
                };
                WireOutputMark {
                    id: m.id(),
                    kind,
                    at,
                    result,
                    error,
                }
            })
            .collect(),
    }
}

fn text(value: &redis::Value) -> Option<String> {
    match value {
        redis::Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        redis::Value::SimpleString(s) => Some(s.clone()),
        redis::Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A flat `HGETALL` answer as a map.
fn hash(value: &redis::Value) -> Option<HashMap<String, String>> {
    let redis::Value::Array(items) = value else {
        return None;
    };
    let mut map = HashMap::with_capacity(items.len() / 2);
    for pair in items.chunks(2) {
        if let [field, value] = pair {
            map.insert(text(field)?, text(value)?);
        }
    }
    Some(map)
}

fn number<T: std::str::FromStr>(h: &HashMap<String, String>, field: &str) -> Option<T> {
    h.get(field)?.parse().ok()
}

fn entry_from(h: &HashMap<String, String>) -> Option<Entry> {
    Some(Entry {
        seq: number(h, "seq")?,
        key: h.get("key")?.clone(),
        envelope_id: h.get("env")?.clone(),
        kind: h.get("kind")?.clone(),
        raw: Arc::from(h.get("raw")?.as_str()),
        received_at: from_millis(number(h, "at")?),
        state: EntryState::from_code(number(h, "st")?)?,
        attempts: number(h, "att")?,
        error: h.get("err").cloned(),
    })
}

fn output_from(h: &HashMap<String, String>) -> Option<Output> {
    Some(Output {
        id: number(h, "id")?,
        key: h.get("key")?.clone(),
        lane: h.get("lane")?.clone(),
        method: h.get("method")?.clone(),
        args: h.get("args")?.clone(),
        created_at: from_millis(number(h, "at")?),
        state: OutputState::from_code(number(h, "st")?)?,
        attempts: number(h, "att")?,
        attempted_at: number(h, "aat").map(from_millis),
        result: h.get("res").cloned(),
        error: h.get("err").cloned(),
        workspace: h.get("ws").cloned(),
    })
}

fn malformed(what: &str) -> StoreError {
    StoreError::Write {
        detail: format!("Redis answered {what} in a shape this nonstop does not know; is another program using the same key prefix (NONSTOP_REDIS_PREFIX)?"),
    }
}

#[cfg(test)]
mod tests {
    use super::{password_of, redact_url};

    #[test]
    fn passwords_never_show_in_the_url_we_print() {
        assert_eq!(
            redact_url("redis://:hunter2@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
        assert_eq!(
            redact_url("rediss://bot:hunter2@cache.example:6380"),
            "rediss://bot:***@cache.example:6380"
        );
        assert_eq!(redact_url("redis://127.0.0.1/"), "redis://127.0.0.1/");
        assert_eq!(
            password_of("redis://bot:hunter2@h/"),
            Some("hunter2".into())
        );
        assert_eq!(password_of("redis://h:6379"), None);
    }
}
