//! Catch-up: what was said while the bot could not hear, fetched from history.
//!
//! Slack delivers an event only while a socket is live: RTM never sends it again, and Socket
//! Mode retries an unacked event a few times over about an hour and a half, on whichever
//! socket Slack picks (a socket that went silent at the network level can swallow every
//! retry: Slack cannot tell it is dead either). So after any time without a live socket
//! longer than `catch_up_after` (a process restart included, measured from the journal's
//! last entry), and after a socket is declared dead, the bot reads the history of the
//! conversations it is a member of since just before it went deaf, drops what the journal
//! already has (a message is known by channel and `ts` whichever way it came), and journals
//! the rest for the listeners, oldest first, marked as catch-up.
//!
//! [`Plan`] decides when and from when (pure, unit-tested); [`run`] watches the lifecycle,
//! fetches and hands over.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use nonstop_model::{printable, Ack, ParsedFrame};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use tracing::{info, warn};

use super::intake::{Intake, Refused};
use crate::envelope::{event_time, wrap_event, Envelope, CATCH_UP};
use crate::identity::BotIdentity;
use crate::status::{LifecycleChange, Status};

/// History is read from this long before the bot went deaf: Slack's clock and ours differ,
/// and a message's `ts` is when Slack took it, not when it would have reached us.
const MARGIN: Duration = Duration::from_secs(10);
/// A message dated further ahead of this machine's clock than this is not caught up: no
/// clock is that far off, and a history that says so (a forged or broken `ts`) must not have
/// the bot answer a message "from next year" (issue 25).
const FUTURE_SKEW: Duration = Duration::from_secs(60);

/// Messages asked for per page of history.
const PAGE: u32 = 200;
/// How long catch-up waits for room in the journal's queue before it gives up on a message.
const QUEUE_PATIENCE: Duration = Duration::from_secs(30);
/// How long the sockets must stay live after a gap before its window is fetched.
pub(crate) const COALESCE: Duration = Duration::from_secs(2);
/// A window waits at most this long for the sockets to settle before it is fetched anyway.
const MAX_DEFER: Duration = Duration::from_secs(20);

/// Catch-up's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Downtime shorter than this is not caught up (Socket Mode's redelivery covers it);
    /// zero on RTM, which redelivers nothing.
    pub(crate) after: Duration,
    /// A window is fetched once a socket has been live this long without another gap (or
    /// after [`MAX_DEFER`]): a storm of short gaps (RTM `goodbye` after `goodbye`) costs one
    /// history read per conversation, not one per gap.
    pub(crate) coalesce: Duration,
    /// Nothing older than this is fetched.
    pub(crate) max_age: Duration,
    /// At most this many messages per catch-up (the newest are kept).
    pub(crate) max_messages: usize,
    /// A socket is declared dead after this much silence: what it swallowed lies within it.
    pub(crate) dead_after: Duration,
}

/// When to catch up, and from when. Fed with what the supervisor records.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    settings: Settings,
    /// Since when no socket has been live, while none is.
    deaf_since: Option<SystemTime>,
    /// The start of the window still to fetch, once a socket is live, and since when it
    /// waits.
    pending: Option<SystemTime>,
    pending_since: Option<SystemTime>,
    /// Since when some socket has been live without a gap, while one is.
    live_since: Option<SystemTime>,
    /// While journal writes fail: when the last one worked.
    refusing_since: Option<SystemTime>,
}

impl Plan {
    /// `last_seen`: the last event the journal holds from before this start, if any.
    pub(crate) fn new(settings: Settings, last_seen: Option<SystemTime>) -> Self {
        Self {
            settings,
            // The process was down since then: a restart is downtime too.
            deaf_since: last_seen,
            pending: None,
            pending_since: None,
            live_since: None,
            refusing_since: None,
        }
    }

    /// Journal writes fail, the last that worked at `last_written` (`Some`), or work again
    /// (`None`), at `now`. While they failed, envelopes were refused: Slack sends those again
    /// a few times, then gives up, so the window is caught up once writes work (issue 25: a
    /// Redis restarted empty under load lost 55 of 600 events that way, its sockets live all
    /// along). From the last write that worked, with no margin: everything before it was
    /// journaled, and a journal that failed may have lost it (a Redis restarted empty), so
    /// what was handled then would be handled again.
    pub(crate) fn on_journal(&mut self, last_written: Option<SystemTime>, now: SystemTime) {
        match last_written {
            Some(at) => {
                self.refusing_since.get_or_insert(at);
            }
            None => {
                if let Some(since) = self.refusing_since.take() {
                    self.widen(since, now);
                }
            }
        }
    }

    /// The number of live sockets changed to `live` at `now`.
    pub(crate) fn on_live_count(&mut self, live: usize, now: SystemTime) {
        if live == 0 {
            self.deaf_since.get_or_insert(now);
            self.live_since = None;
            return;
        }
        self.live_since.get_or_insert(now);
        if let Some(since) = self.deaf_since.take() {
            let deaf_for = now.duration_since(since).unwrap_or_default();
            if deaf_for >= self.settings.after {
                self.widen(since.checked_sub(MARGIN).unwrap_or(UNIX_EPOCH), now);
            }
        }
    }

    /// A socket was declared dead at `now`: what Slack sent it during its silence is lost.
    pub(crate) fn on_dead_socket(&mut self, now: SystemTime) {
        let silent_since = now
            .checked_sub(self.settings.dead_after + MARGIN)
            .unwrap_or(UNIX_EPOCH);
        self.widen(silent_since, now);
    }

    fn widen(&mut self, from: SystemTime, now: SystemTime) {
        self.pending = Some(self.pending.map_or(from, |p| p.min(from)));
        self.pending_since.get_or_insert(now);
    }

    /// When the window waiting now is to be fetched, if one waits and a socket is live.
    pub(crate) fn ready_at(&self) -> Option<SystemTime> {
        self.pending?;
        let settled = self.live_since? + self.settings.coalesce;
        Some(settled.min(self.pending_since? + MAX_DEFER))
    }

    /// The window to fetch now, from its start, if one is due and a socket is live; never
    /// older than `max_age`.
    pub(crate) fn due(&mut self, live: usize, now: SystemTime) -> Option<SystemTime> {
        if live == 0 || self.ready_at()? > now {
            return None;
        }
        self.pending_since = None;
        let from = self.pending.take()?;
        let oldest = now.checked_sub(self.settings.max_age).unwrap_or(UNIX_EPOCH);
        Some(from.max(oldest))
    }
}

/// What catch-up needs.
pub(crate) struct CatchUp {
    pub(crate) web: nonstop_web::WebClient,
    /// For a workspace the app was installed in: the installed workspaces and its key, whose
    /// current token reads its history (`web` is then the token it had at start).
    pub(crate) installed: Option<(Arc<crate::install::Workspaces>, String)>,
    pub(crate) intake: Arc<Intake>,
    pub(crate) status: Arc<Status>,
    pub(crate) me: Arc<BotIdentity>,
    pub(crate) settings: Settings,
}

impl std::fmt::Debug for CatchUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatchUp")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Watches the lifecycle until `stop` turns true, and catches up whenever the plan says so.
/// Returns only then; a fetch that panics (a bug of ours) is logged and costs only itself.
pub(crate) async fn run(
    catch_up: CatchUp,
    last_seen: Option<SystemTime>,
    mut stop: watch::Receiver<bool>,
) {
    use futures_util::FutureExt;
    use std::panic::AssertUnwindSafe;
    let mut plan = Plan::new(catch_up.settings, last_seen);
    let mut changes = catch_up.status.lifecycle_changes();
    let mut journal = catch_up.status.journal_changes();
    let mut live = catch_up.status.snapshot().live_connections;
    plan.on_live_count(live, SystemTime::now());
    loop {
        if let Some(from) = plan.due(live, SystemTime::now()) {
            tokio::select! {
                biased;
                _ = stop.changed() => return,
                fetched = AssertUnwindSafe(catch_up.fetch_since(from)).catch_unwind() => {
                    if fetched.is_err() {
                        tracing::error!("catch-up panicked (a bug in nonstop; please report it); what was said while the bot was away may go unanswered");
                    }
                }
            }
        }
        // Woken when a window that waits for the sockets to settle is due.
        let wake = plan
            .ready_at()
            .map(|at| Instant::now() + at.duration_since(SystemTime::now()).unwrap_or_default());
        tokio::select! {
            biased;
            _ = stop.changed() => return,
            () = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {}
            changed = journal.changed() => {
                // The status outlives this task; a closed feed means the bot is ending.
                if changed.is_err() {
                    return;
                }
                let last_written = *journal.borrow_and_update();
                plan.on_journal(last_written, SystemTime::now());
            }
            change = changes.recv() => {
                match change {
                    Ok(record) => {
                        if let LifecycleChange::Closed { cause_kind: "dead", .. } = record.change {
                            plan.on_dead_socket(record.at);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    // The status outlives this task; a closed feed means the bot is ending.
                    Err(broadcast::error::RecvError::Closed) => return,
                }
                live = catch_up.status.snapshot().live_connections;
                plan.on_live_count(live, SystemTime::now());
            }
        }
    }
}

impl CatchUp {
    /// The same catch-up for an installed workspace (kept under `key`), as the bot is there.
    pub(crate) fn in_workspace(
        &self,
        workspaces: &Arc<crate::install::Workspaces>,
        key: String,
        web: nonstop_web::WebClient,
        me: Arc<BotIdentity>,
    ) -> Self {
        Self {
            web,
            installed: Some((Arc::clone(workspaces), key)),
            intake: Arc::clone(&self.intake),
            status: Arc::clone(&self.status),
            me,
            settings: self.settings,
        }
    }

    /// Fetches what was said since `from` in every conversation the bot is in, and journals
    /// what the journal does not have yet, oldest first.
    async fn fetch_since(&self, from: SystemTime) {
        let started = Instant::now();
        let oldest = slack_ts(from);
        // An installed workspace's history is read with its token as it is now (rotated,
        // perhaps); one uninstalled meanwhile is not read at all.
        let web = match &self.installed {
            None => self.web.clone(),
            Some((workspaces, key)) => match workspaces.by_key(key).await {
                Some(workspace) => workspace.web,
                None => return,
            },
        };
        let channels = self.channels(&web).await;
        let mut messages: Vec<(f64, String, Value)> = Vec::new();
        let mut failed = 0;
        let mut dated_ahead = 0;
        let mut scope_said = false;
        for channel in &channels {
            let query = json!({"channel": channel, "oldest": oldest, "limit": PAGE});
            let mut pages =
                Box::pin(web.paginate::<Value>("conversations.history", query, "messages"));
            let mut taken = 0;
            while let Some(message) = pages.next().await {
                match message {
                    Ok(message) => {
                        let at = message
                            .get("ts")
                            .and_then(Value::as_str)
                            .and_then(|ts| ts.parse::<f64>().ok());
                        match at {
                            Some(at) if is_dated_ahead(at, SystemTime::now()) => dated_ahead += 1,
                            Some(at) => {
                                messages.push((at, channel.clone(), message));
                                taken += 1;
                            }
                            None => {}
                        }
                        // Newest first: beyond the bound, older ones would be dropped anyway.
                        if taken >= self.settings.max_messages {
                            break;
                        }
                    }
                    Err(e) if e.code() == Some("missing_scope") => {
                        // Likely the same for every conversation of a kind: said once.
                        failed += 1;
                        if !scope_said {
                            scope_said = true;
                            warn!(channel = %printable(channel), error = %e, "catch-up: the token may not read this conversation's history (channels:history, groups:history, im:history or mpim:history is missing); conversations like it are not caught up");
                        }
                        break;
                    }
                    Err(e) => {
                        failed += 1;
                        warn!(channel = %printable(channel), error = %e, "catch-up: could not read this conversation's history; what was said there while the bot was away is not answered");
                        break;
                    }
                }
            }
        }
        messages.sort_by(|a, b| a.0.total_cmp(&b.0));
        let skipped = messages.len().saturating_sub(self.settings.max_messages);
        let found = messages.len() - skipped;
        // No socket waits for these acks; the channel only has to take them.
        let (acks, mut drained) = mpsc::channel::<Ack>(64);
        let drain = tokio::spawn(async move { while drained.recv().await.is_some() {} });
        let mut journaled = 0;
        for (_, channel, message) in messages.into_iter().skip(skipped) {
            if self.hand_over(&channel, message, &acks).await {
                journaled += 1;
            }
        }
        drop(acks);
        // The drain ends once the writer has sent the last ack; it needs no waiting for.
        drop(drain);
        info!(
            since = %oldest,
            conversations = channels.len(),
            found,
            skipped_over_limit = skipped,
            unreadable_conversations = failed,
            dated_ahead,
            handed_on = journaled,
            took_ms = started.elapsed().as_millis() as u64,
            "catch-up: read history for what was said while the bot could not hear"
        );
    }

    /// The conversations the bot is a member of. All four kinds where the token may list
    /// them; public channels only when it lacks a scope for the others (said in the log).
    async fn channels(&self, web: &nonstop_web::WebClient) -> Vec<String> {
        let mut found = Vec::new();
        for types in ["public_channel,private_channel,mpim,im", "public_channel"] {
            let query = json!({"types": types, "exclude_archived": true, "limit": PAGE});
            let mut pages =
                Box::pin(web.paginate::<Value>("users.conversations", query, "channels"));
            found.clear();
            let mut error = None;
            while let Some(channel) = pages.next().await {
                match channel {
                    Ok(channel) => {
                        if let Some(id) = channel.get("id").and_then(Value::as_str) {
                            found.push(id.to_owned());
                        }
                    }
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
            match error {
                None => return found,
                Some(e) if e.code() == Some("missing_scope") => {
                    warn!(error = %e, "catch-up: the token cannot list private conversations; catching up in public channels only (add groups:read, im:read and mpim:read for the rest)");
                }
                Some(e) => {
                    warn!(error = %e, "catch-up: could not list the bot's conversations; nothing is caught up this time");
                    return Vec::new();
                }
            }
        }
        found
    }

    /// Journals one message from `channel`'s history as a catch-up event, unless it is the
    /// bot's own. True when the intake took it (the journal drops it if it already has it).
    async fn hand_over(&self, channel: &str, mut message: Value, acks: &mpsc::Sender<Ack>) -> bool {
        let Some(object) = message.as_object_mut() else {
            return false;
        };
        object.insert("channel".into(), channel.into());
        object
            .entry("type")
            .or_insert_with(|| Value::String("message".into()));
        let ts = object
            .get("ts")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let key = format!("msg:{channel}:{ts}");
        let text = message.to_string();
        let raw = wrap_event(
            &text,
            &key,
            self.me.team_id.as_deref().unwrap_or_default(),
            event_time(&message),
            CATCH_UP,
        );
        let Ok(frame) = ParsedFrame::parse(raw.as_bytes()) else {
            return false;
        };
        if self.intake.is_own_message(&frame) {
            return false;
        }
        let Some(envelope) = Envelope::from_frame(frame, Arc::from(raw), Instant::now(), 0) else {
            return false;
        };
        let deadline = Instant::now() + QUEUE_PATIENCE;
        loop {
            match self.intake.submit(envelope.clone(), acks) {
                // Counted when dispatched: the journal may already have it.
                Ok(()) => return true,
                // Catch-up is never in a hurry: wait for room rather than lose it.
                Err(Refused::JournalBusy) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(why) => {
                    warn!(key = %printable(&key), why = why.as_str(), "catch-up: a message could not be journaled; it is not answered");
                    return false;
                }
            }
        }
    }
}

/// Whether a message's `ts` (`at`, seconds) lies beyond [`FUTURE_SKEW`] after `now`.
fn is_dated_ahead(at: f64, now: SystemTime) -> bool {
    let latest = now
        .checked_add(FUTURE_SKEW)
        .and_then(|latest| latest.duration_since(UNIX_EPOCH).ok())
        .map_or(f64::MAX, |latest| latest.as_secs_f64());
    at > latest
}

/// A time as Slack's `ts` (seconds with six decimals).
fn slack_ts(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:06}", since.as_secs(), since.subsec_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            after: Duration::from_secs(10),
            max_age: Duration::from_secs(2 * 3600),
            max_messages: 1000,
            dead_after: Duration::from_secs(6),
            coalesce: Duration::from_secs(2),
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    #[test]
    fn downtime_longer_than_the_setting_is_caught_up_from_before_it_began() {
        let mut plan = Plan::new(settings(), None);
        plan.on_live_count(2, at(0));
        assert_eq!(plan.due(2, at(0)), None);
        plan.on_live_count(0, at(100));
        // Nothing while no socket is live to hear the answers' echoes.
        assert_eq!(plan.due(0, at(130)), None);
        plan.on_live_count(1, at(130));
        assert_eq!(plan.due(1, at(131)), None, "before the sockets settled");
        assert_eq!(plan.ready_at(), Some(at(132)));
        assert_eq!(plan.due(1, at(132)), Some(at(100) - MARGIN));
        assert_eq!(plan.due(1, at(133)), None, "once per downtime");
    }

    #[test]
    fn a_short_gap_is_left_to_slack() {
        let mut plan = Plan::new(settings(), None);
        plan.on_live_count(0, at(100));
        plan.on_live_count(1, at(105));
        assert_eq!(plan.due(1, at(105)), None);
    }

    #[test]
    fn a_restart_counts_from_the_journals_last_event_and_no_further_than_max_age() {
        let mut plan = Plan::new(settings(), Some(at(0)));
        plan.on_live_count(1, at(60));
        assert_eq!(plan.due(1, at(62)), Some(at(0) - MARGIN));
        let mut plan = Plan::new(settings(), Some(at(0)));
        plan.on_live_count(1, at(86_400));
        assert_eq!(plan.due(1, at(86_402)), Some(at(86_402 - 7_200)));
        // A first start (an empty journal) has nothing to catch up.
        let mut plan = Plan::new(settings(), None);
        plan.on_live_count(1, at(60));
        assert_eq!(plan.due(1, at(60)), None);
    }

    #[test]
    fn a_dead_socket_is_caught_up_over_its_silence_even_with_another_live() {
        let mut plan = Plan::new(settings(), None);
        plan.on_live_count(2, at(0));
        plan.on_dead_socket(at(50));
        plan.on_live_count(1, at(50));
        // The other socket was live all along: nothing to settle.
        assert_eq!(plan.due(1, at(50)), Some(at(50 - 6) - MARGIN));
    }

    /// Issue 25: RTM `goodbye` on both sockets every half second left gaps of a fraction of
    /// a second, none caught up (each was under `after`), and up to half the messages of the
    /// storm were lost. On RTM (`after` zero) every gap is caught up, and a storm of them is
    /// fetched once, from the first, when the sockets settle.
    #[test]
    fn every_gap_on_rtm_is_caught_up_and_a_storm_of_them_once() {
        let mut plan = Plan::new(
            Settings {
                after: Duration::ZERO,
                ..settings()
            },
            None,
        );
        plan.on_live_count(2, at(0));
        for gap in 0..10 {
            plan.on_live_count(0, at(100 + gap));
            plan.on_live_count(1, at(100 + gap));
            assert_eq!(plan.due(1, at(100 + gap)), None, "fetched during the storm");
        }
        assert_eq!(plan.due(2, at(111)), Some(at(100) - MARGIN));
        assert_eq!(plan.due(2, at(120)), None);
        // A storm that never settles is fetched all the same, after MAX_DEFER.
        for gap in 0..20 {
            plan.on_live_count(0, at(200 + gap));
            plan.on_live_count(1, at(200 + gap));
        }
        assert_eq!(plan.due(1, at(220)), Some(at(200) - MARGIN));
    }

    #[test]
    fn windows_that_meet_before_a_fetch_are_fetched_once_from_the_earliest() {
        let mut plan = Plan::new(settings(), None);
        plan.on_dead_socket(at(50));
        plan.on_live_count(0, at(50));
        plan.on_live_count(1, at(200));
        assert_eq!(plan.due(1, at(202)), Some(at(50 - 6) - MARGIN));
    }

    #[test]
    fn what_the_journal_refused_is_caught_up_once_it_writes_again() {
        let mut plan = Plan::new(settings(), None);
        plan.on_live_count(2, at(0));
        plan.on_journal(Some(at(99)), at(100));
        plan.on_journal(Some(at(99)), at(105));
        // Sockets live all along: nothing is due while writes fail.
        assert_eq!(plan.due(2, at(110)), None);
        plan.on_journal(None, at(112));
        assert_eq!(plan.due(2, at(112)), Some(at(99)));
        assert_eq!(plan.due(2, at(113)), None, "once");
    }

    #[test]
    fn messages_dated_ahead_beyond_clock_skew_are_not_caught_up() {
        let now = at(0);
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(!is_dated_ahead(secs(now), now));
        assert!(!is_dated_ahead(secs(at(59)), now), "within clock skew");
        assert!(is_dated_ahead(secs(at(61)), now));
        assert!(is_dated_ahead(secs(at(365 * 86_400)), now), "a year ahead");
    }

    #[test]
    fn slack_timestamps_have_six_decimals() {
        assert_eq!(
            slack_ts(UNIX_EPOCH + Duration::from_micros(1_700_000_000_000_123)),
            "1700000000.000123"
        );
    }
}
