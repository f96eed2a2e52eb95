//! The decisions of one slot, as a pure function of what happened and when: when to open a
//! connection, when a new one replaces the old, how long to wait after a failure, when to
//! give up. The slot's task (`super::run_slot`) feeds it inputs and carries out its actions,
//! so every rule here is unit-tested without a socket or a clock.

use std::time::Duration;

use rand::rngs::StdRng;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::cause::DisconnectCause;
use crate::status::SlotPhase;

/// A slot opens at most one replacement on request (Slack's `disconnect`, or a planned refresh
/// from a tiny `approximate_connection_time`) within this time; a request that comes sooner
/// waits. The first request is served at once, so make-before-break holds even for a young
/// connection Slack is about to close; a server that asks again after every `hello` gets one
/// connection per slot every few seconds instead of as many as the bot can open.
pub(crate) const REPLACEMENT_FLOOR: Duration = Duration::from_secs(5);

/// A live connection the server closed in order is reopened at once, at most once per this
/// time; closes coming faster than that are reopened after the backoff (a server that closes
/// every socket right after its hello gets no tight loop).
pub(crate) const QUICK_REOPEN_FLOOR: Duration = Duration::from_secs(1);

/// While such requests go on, one log line per this many.
pub(crate) const STORM_LOG_EVERY: u64 = 100;
/// The first opens of the slots are this far apart, so that their connections are not opened
/// (and refreshed) in lockstep.
pub(crate) const FIRST_OPEN_STAGGER: Duration = Duration::from_millis(150);

/// What happened to the slot.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SlotInput {
    /// The time [`SlotState::next_wake`] named has come.
    Wake,
    /// The connection being opened is open (for Socket Mode: it said `hello`).
    Opened {
        connection: u64,
    },
    /// Opening failed with a transient cause; Slack's `Retry-After`, if it gave one.
    OpenFailed {
        connection: u64,
        cause: DisconnectCause,
        retry_after: Option<Duration>,
    },
    /// Opening failed for a reason retrying cannot fix.
    OpenFatal {
        connection: u64,
    },
    /// A live connection asks to be replaced (Slack's `disconnect`, its planned refresh).
    WantsReplacement {
        connection: u64,
        why: &'static str,
    },
    /// A connection closed (the current one, or one being replaced).
    Closed {
        connection: u64,
        cause: DisconnectCause,
        lifetime: Duration,
    },
    Shutdown,
}

/// What happens next after a connection closed, for its log line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum AfterClose {
    /// It was not the slot's current connection: another one is live.
    OtherConnection,
    /// A replacement is already being opened.
    ReplacementOpening,
    ReconnectIn(Duration),
}

/// What to do about it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SlotAction {
    /// Open a connection (the task picks its id and reports back with it).
    Open,
    /// A connection opened: run it. `replacing` is told its replacement is live and drains;
    /// `slot_down_for` is how long the slot had no connection, if it had none; `reconnect`
    /// is false only for the slot's first connection ever.
    Adopt {
        connection: u64,
        replacing: Option<u64>,
        slot_down_for: Option<Duration>,
        reconnect: bool,
    },
    /// Opening failed; the next try is in `delay` (the `attempt`th failure in a row).
    RetryIn {
        connection: u64,
        cause: DisconnectCause,
        delay: Duration,
        attempt: u32,
    },
    /// A replacement was asked for and is being opened now.
    Refresh { connection: u64, why: &'static str },
    /// A replacement was asked for again right after the last one: it waits until `until`.
    /// Log it when `asked_so_far % STORM_LOG_EVERY == 1`.
    StormDelayed {
        connection: u64,
        why: &'static str,
        age: Duration,
        asked_so_far: u64,
        until: Instant,
    },
    /// A connection closed; what happens next. `limit_spell_began`: with this close the slot
    /// took the app to be at Slack's socket limit and began waiting `socket_limit_wait` (said
    /// once per spell).
    Closed {
        connection: u64,
        cause: DisconnectCause,
        lifetime: Duration,
        next: AfterClose,
        limit_spell_began: bool,
    },
    /// Stop: close the current connection (if any) and whatever drains, and end the slot.
    Stop,
    /// Give up: the error that ended the slot is the one the last input came with. Close
    /// what is open and end the slot with it.
    GiveUp,
}

#[derive(Debug, Clone, Copy)]
struct Current {
    connection: u64,
    live_since: Instant,
}

/// Timing rules for a slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SlotTiming {
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_cap: Duration,
    /// A connection live this long resets the backoff.
    pub(crate) backoff_reset_after: Duration,
    /// After `too_many_websockets`, at least this long (plus up to half again) before the
    /// next try ([`crate::Config::socket_limit_wait`]).
    pub(crate) socket_limit_wait: Duration,
}

/// One slot's state. Its task owns the connections' tasks; this owns every decision.
#[derive(Debug)]
pub(crate) struct SlotState {
    backoff: Backoff,
    reset_after: Duration,
    socket_limit_wait: Duration,
    /// `too_many_websockets` closes in a row, each of a socket younger than
    /// `socket_limit_wait`: from two on, the app is taken to be at Slack's limit.
    limit_strikes: u32,
    /// The backoff's jitter; seeded by the caller, so tests are repeatable.
    rng: StdRng,
    current: Option<Current>,
    /// A connection is being opened (its id is learnt when it reports back).
    opening: bool,
    /// Replaced connections still closing.
    draining: Vec<u64>,
    /// When the next open is due, if one is.
    open_at: Option<Instant>,
    ever_live: bool,
    /// Since when the slot has had no live connection.
    down_since: Option<Instant>,
    /// When a connection the server closed in order was last reopened at once.
    last_quick_reopen: Option<Instant>,
    /// When the last replacement on request was (or is to be) opened.
    last_requested_open: Option<Instant>,
    /// Requests that came too soon after the last one (for the storm's log lines).
    young_requests: u64,
    ended: Option<SlotPhase>,
}

impl SlotState {
    /// A slot whose first open is due after its stagger (`slot` × 150 ms).
    pub(crate) fn new(slot: usize, timing: SlotTiming, rng: StdRng, now: Instant) -> Self {
        let stagger = FIRST_OPEN_STAGGER.saturating_mul(u32::try_from(slot).unwrap_or(u32::MAX));
        Self {
            backoff: Backoff::new(timing.backoff_base, timing.backoff_cap),
            reset_after: timing.backoff_reset_after,
            socket_limit_wait: timing.socket_limit_wait,
            limit_strikes: 0,
            rng,
            current: None,
            opening: false,
            draining: Vec::new(),
            open_at: Some(now + stagger),
            ever_live: false,
            down_since: Some(now),
            last_requested_open: None,
            last_quick_reopen: None,
            young_requests: 0,
            ended: None,
        }
    }

    pub(crate) fn phase(&self) -> SlotPhase {
        if let Some(ended) = self.ended {
            return ended;
        }
        let failures = self.backoff.failures();
        match (
            self.current.is_some(),
            self.opening || self.open_at.is_some(),
        ) {
            (true, true) => SlotPhase::Replacing,
            (true, false) => SlotPhase::Live,
            (false, _) if self.opening => SlotPhase::Opening { failures },
            (false, _) => SlotPhase::Waiting { failures },
        }
    }

    /// When to feed [`SlotInput::Wake`]: the next open's time, unless one is being opened.
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        self.open_at
            .filter(|_| !self.opening && self.ended.is_none())
    }

    /// The current connection's id.
    #[cfg(test)]
    pub(crate) fn current(&self) -> Option<u64> {
        self.current.map(|c| c.connection)
    }

    pub(crate) fn on(&mut self, input: SlotInput, now: Instant) -> Vec<SlotAction> {
        if self.ended.is_some() {
            return Vec::new();
        }
        match input {
            SlotInput::Wake => match self.open_at {
                Some(at) if at <= now && !self.opening => {
                    self.open_at = None;
                    self.opening = true;
                    vec![SlotAction::Open]
                }
                _ => Vec::new(),
            },
            SlotInput::Opened { connection } => {
                self.opening = false;
                let slot_down_for = self.down_since.take().map(|since| now - since);
                let reconnect = self.ever_live;
                self.ever_live = true;
                let replacing = self
                    .current
                    .replace(Current {
                        connection,
                        live_since: now,
                    })
                    .map(|old| old.connection);
                if let Some(old) = replacing {
                    self.draining.push(old);
                }
                vec![SlotAction::Adopt {
                    connection,
                    replacing,
                    slot_down_for,
                    reconnect,
                }]
            }
            SlotInput::OpenFailed {
                connection,
                cause,
                retry_after,
            } => {
                self.opening = false;
                let delay = self.backoff.next_delay(retry_after, &mut self.rng);
                self.open_at = Some(now + delay);
                vec![SlotAction::RetryIn {
                    connection,
                    cause,
                    delay,
                    attempt: self.backoff.failures(),
                }]
            }
            SlotInput::OpenFatal { .. } => self.give_up(),
            SlotInput::WantsReplacement { connection, why } => {
                let Some(asking) = self.current.filter(|c| c.connection == connection) else {
                    return Vec::new();
                };
                if self.opening || self.open_at.is_some() {
                    return Vec::new();
                }
                let earliest = self.last_requested_open.map(|at| at + REPLACEMENT_FLOOR);
                match earliest.filter(|at| *at > now) {
                    None => {
                        self.last_requested_open = Some(now);
                        self.opening = true;
                        vec![SlotAction::Refresh { connection, why }, SlotAction::Open]
                    }
                    // The replacement asks to be replaced too: Slack never does that, and a
                    // server that does it after every hello would have the bot open
                    // connections as fast as it can.
                    Some(until) => {
                        self.young_requests += 1;
                        self.open_at = Some(until);
                        self.last_requested_open = Some(until);
                        vec![SlotAction::StormDelayed {
                            connection,
                            why,
                            age: now - asking.live_since,
                            asked_so_far: self.young_requests,
                            until,
                        }]
                    }
                }
            }
            SlotInput::Closed {
                connection,
                cause,
                lifetime,
            } => {
                self.draining.retain(|id| *id != connection);
                let was_current = self.current.is_some_and(|c| c.connection == connection);
                if was_current {
                    if let Some(old) = self.current.take() {
                        if now - old.live_since >= self.reset_after {
                            self.backoff.reset();
                        }
                    }
                    self.down_since = Some(now);
                }
                if cause.is_fatal() {
                    return self.give_up();
                }
                let mut limit_spell_began = false;
                let next = if !was_current {
                    AfterClose::OtherConnection
                } else if self.opening {
                    AfterClose::ReplacementOpening
                } else {
                    // Also when a replacement was due later: the slot has nothing live now.
                    let quick = cause.is_closed_in_order_by_the_server()
                        && self.last_quick_reopen.is_none_or(|at| {
                            now.saturating_duration_since(at) >= QUICK_REOPEN_FLOOR
                        });
                    let mut delay = if quick {
                        self.last_quick_reopen = Some(now);
                        Duration::ZERO
                    } else {
                        self.backoff.next_delay(None, &mut self.rng)
                    };
                    // One `too_many_websockets` may be Slack trimming a socket: reopen as
                    // after any close. Refused again at once, the app is at its limit.
                    if cause.is_app_at_socket_limit() && lifetime < self.socket_limit_wait {
                        self.limit_strikes += 1;
                    } else {
                        self.limit_strikes = 0;
                    }
                    if self.limit_strikes >= 2 {
                        limit_spell_began = self.limit_strikes == 2;
                        let jitter = rand::Rng::random_range(&mut self.rng, 0.0..0.5);
                        delay = delay.max(self.socket_limit_wait.mul_f64(1.0 + jitter));
                    }
                    self.open_at = Some(now + delay);
                    AfterClose::ReconnectIn(delay)
                };
                vec![SlotAction::Closed {
                    connection,
                    cause,
                    lifetime,
                    next,
                    limit_spell_began,
                }]
            }
            SlotInput::Shutdown => {
                self.end(SlotPhase::Stopped);
                vec![SlotAction::Stop]
            }
        }
    }

    fn give_up(&mut self) -> Vec<SlotAction> {
        self.end(SlotPhase::FatallyClosed);
        vec![SlotAction::GiveUp]
    }

    fn end(&mut self, phase: SlotPhase) {
        self.ended = Some(phase);
        self.opening = false;
        self.open_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nonstop_model::DisconnectReason;
    use rand::{Rng, SeedableRng};

    const TIMING: SlotTiming = SlotTiming {
        backoff_base: Duration::from_millis(500),
        backoff_cap: Duration::from_secs(5),
        backoff_reset_after: Duration::from_secs(60),
        socket_limit_wait: Duration::from_secs(30),
    };

    fn slot(n: usize, now: Instant) -> SlotState {
        SlotState::new(n, TIMING, StdRng::seed_from_u64(n as u64), now)
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn dead() -> DisconnectCause {
        DisconnectCause::Dead {
            silent_for: secs(6.0),
        }
    }

    /// Wakes the slot at its due time and checks that it opens.
    fn open_when_due(state: &mut SlotState) -> Instant {
        let at = state.next_wake().expect("an open is due");
        assert_eq!(state.on(SlotInput::Wake, at), vec![SlotAction::Open]);
        at
    }

    fn live(state: &mut SlotState, connection: u64, now: Instant) -> Vec<SlotAction> {
        state.on(SlotInput::Opened { connection }, now)
    }

    fn closed(connection: u64, cause: DisconnectCause) -> SlotInput {
        SlotInput::Closed {
            connection,
            cause,
            lifetime: secs(1.0),
        }
    }

    #[test]
    fn the_first_opens_are_staggered_by_slot() {
        let t0 = Instant::now();
        assert_eq!(slot(0, t0).next_wake(), Some(t0));
        assert_eq!(slot(3, t0).next_wake(), Some(t0 + secs(0.45)));
        let mut state = slot(2, t0);
        assert_eq!(state.phase(), SlotPhase::Waiting { failures: 0 });
        // Woken early (a spurious wake): nothing yet.
        assert!(state.on(SlotInput::Wake, t0).is_empty());
        open_when_due(&mut state);
        assert_eq!(state.phase(), SlotPhase::Opening { failures: 0 });
        assert_eq!(state.next_wake(), None, "no timer while opening");
        let actions = live(&mut state, 1, t0 + secs(0.5));
        assert_eq!(
            actions,
            vec![SlotAction::Adopt {
                connection: 1,
                replacing: None,
                slot_down_for: Some(secs(0.5)),
                reconnect: false,
            }]
        );
        assert_eq!(state.phase(), SlotPhase::Live);
    }

    #[test]
    fn failures_back_off_growing_to_the_cap_then_reset_after_a_healthy_life() {
        let t0 = Instant::now();
        let mut state = slot(0, t0);
        let mut now = open_when_due(&mut state);
        let mut delays = Vec::new();
        for connection in 1..=12 {
            let actions = state.on(
                SlotInput::OpenFailed {
                    connection,
                    cause: dead(),
                    retry_after: None,
                },
                now,
            );
            let [SlotAction::RetryIn { delay, attempt, .. }] = actions[..] else {
                panic!("{actions:?}")
            };
            assert_eq!(attempt, connection as u32);
            assert_eq!(state.phase(), SlotPhase::Waiting { failures: attempt });
            delays.push(delay);
            now = open_when_due(&mut state);
        }
        // The first retry at once, then full jitter under 0.5, 1, 2, 4 s, then the 5 s cap.
        assert_eq!(delays[0], Duration::ZERO);
        for (delay, ceiling) in delays[1..].iter().zip([0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]) {
            assert!(*delay <= secs(ceiling), "{delay:?} > {ceiling}");
        }
        assert!(delays.iter().all(|d| *d <= secs(5.0)));
        assert!(delays[5..].iter().any(|d| *d > secs(1.0)), "{delays:?}");

        // A connection that lived a minute resets the backoff: its death is retried at once.
        live(&mut state, 20, now);
        let actions = state.on(closed(20, dead()), now + secs(61.0));
        assert!(
            matches!(actions[..], [SlotAction::Closed { next: AfterClose::ReconnectIn(d), .. }] if d == Duration::ZERO),
            "{actions:?}"
        );
        // One that died young does not.
        let now = open_when_due(&mut state);
        live(&mut state, 21, now);
        let actions = state.on(closed(21, dead()), now + secs(1.0));
        let [SlotAction::Closed {
            next: AfterClose::ReconnectIn(delay),
            ..
        }] = actions[..]
        else {
            panic!("{actions:?}")
        };
        assert!(
            delay <= secs(0.5),
            "second failure after a reset: {delay:?}"
        );
        assert_eq!(state.phase(), SlotPhase::Waiting { failures: 2 });
    }

    /// Issue 25's `goodbye` storm: young sockets the server closed in order were reopened
    /// after a growing backoff, leaving RTM bots with no socket. Such a close is reopened at
    /// once, once a second at most; a death of a young socket still backs off.
    #[test]
    fn a_connection_the_server_closed_in_order_is_reopened_at_once_once_a_second() {
        let reopen_in = |actions: Vec<SlotAction>| match actions[..] {
            [SlotAction::Closed {
                next: AfterClose::ReconnectIn(delay),
                ..
            }] => delay,
            _ => panic!("{actions:?}"),
        };
        let t0 = Instant::now();
        let mut state = slot(0, t0);
        let mut now = open_when_due(&mut state);
        let goodbye_every = secs(0.7);
        let mut delays = Vec::new();
        for connection in 1..=6 {
            live(&mut state, connection, now);
            now += goodbye_every;
            delays.push(reopen_in(
                state.on(closed(connection, DisconnectCause::Goodbye), now),
            ));
            now = open_when_due(&mut state);
        }
        // Each at once but those within a second of the last quick one (0.7 s apart: every
        // other one), which take the backoff.
        assert_eq!(delays[0], Duration::ZERO);
        assert_eq!(delays[2], Duration::ZERO);
        assert_eq!(delays[4], Duration::ZERO);
        assert_eq!(state.phase(), SlotPhase::Opening { failures: 3 });
        // A close frame and Slack's own disconnect count too; too_many_websockets does not.
        // (After a death first, so that the backoff's own first retry at once is spent.)
        let quick = |cause: DisconnectCause| {
            let t = Instant::now();
            let mut state = slot(0, t);
            let at = open_when_due(&mut state);
            live(&mut state, 1, at);
            state.on(closed(1, dead()), at + secs(1.0));
            let at = open_when_due(&mut state);
            live(&mut state, 2, at);
            reopen_in(state.on(closed(2, cause), at + secs(1.0))) == Duration::ZERO
        };
        assert!(quick(DisconnectCause::CloseFrame {
            code: 1000,
            reason: String::new()
        }));
        assert!(quick(DisconnectCause::SlackDisconnect(
            nonstop_model::DisconnectReason::RefreshRequested
        )));
        assert!(DisconnectCause::Goodbye.is_closed_in_order_by_the_server());
        assert!(!DisconnectCause::SlackDisconnect(
            nonstop_model::DisconnectReason::TooManyWebsockets
        )
        .is_closed_in_order_by_the_server());
        assert!(!dead().is_closed_in_order_by_the_server());
    }

    #[test]
    fn retry_after_wins_over_the_backoff() {
        let t0 = Instant::now();
        let mut state = slot(0, t0);
        let now = open_when_due(&mut state);
        let actions = state.on(
            SlotInput::OpenFailed {
                connection: 1,
                cause: DisconnectCause::ConnectApi {
                    detail: "429".into(),
                },
                retry_after: Some(secs(30.0)),
            },
            now,
        );
        let [SlotAction::RetryIn { delay, .. }] = actions[..] else {
            panic!("{actions:?}")
        };
        // Not the immediate first retry: Slack's 30 s, plus at most 100 ms of jitter.
        assert!(delay >= secs(30.0) && delay <= secs(30.1), "{delay:?}");
        assert_eq!(state.next_wake(), Some(now + delay));
        assert!(state.on(SlotInput::Wake, now + secs(29.0)).is_empty());
    }

    #[test]
    fn a_replacement_is_made_before_the_old_connection_breaks() {
        let t0 = Instant::now();
        let mut state = slot(0, t0);
        let now = open_when_due(&mut state);
        live(&mut state, 1, now);
        // Slack's warning, or the planned refresh before approximate_connection_time.
        let now = now + secs(3600.0);
        let actions = state.on(
            SlotInput::WantsReplacement {
                connection: 1,
                why: "refresh before approximate_connection_time",
            },
            now,
        );
        assert_eq!(
            actions,
            vec![
                SlotAction::Refresh {
                    connection: 1,
                    why: "refresh before approximate_connection_time"
                },
                SlotAction::Open
            ]
        );
        assert_eq!(state.phase(), SlotPhase::Replacing);
        assert_eq!(state.current(), Some(1), "the old one receives meanwhile");
        // A second request while the replacement opens changes nothing.
        assert!(state
            .on(
                SlotInput::WantsReplacement {
                    connection: 1,
                    why: "warning"
                },
                now
            )
            .is_empty());
        let actions = live(&mut state, 2, now + secs(0.3));
        assert_eq!(
            actions,
            vec![SlotAction::Adopt {
                connection: 2,
                replacing: Some(1),
                slot_down_for: None,
                reconnect: true,
            }]
        );
        // The old one's close is planned and leaves the slot live, opening nothing.
        let actions = state.on(closed(1, DisconnectCause::Replaced), now + secs(0.4));
        assert!(matches!(
            actions[..],
            [SlotAction::Closed {
                next: AfterClose::OtherConnection,
                ..
            }]
        ));
        assert_eq!(state.phase(), SlotPhase::Live);
        assert_eq!(state.next_wake(), None);
    }

    #[test]
    fn the_old_connection_dying_while_its_replacement_opens_opens_nothing_more() {
        let t0 = Instant::now();
        let mut state = slot(0, t0);
        let now = open_when_due(&mut state);
        live(&mut state, 1, now);
        state.on(
            SlotInput::WantsReplacement {
                connection: 1,
                why: "warning",
            },
            now,
        );
        let actions = state.on(closed(1, DisconnectCause::EofWithoutClose), now + secs(1.0));
        assert!(matches!(
            actions[..],
            [SlotAction::Closed {
                next: AfterClose::ReplacementOpening,
                ..
            }]
        ));
        assert_eq!(state.phase(), SlotPhase::Opening { failures: 0 });
        let actions = live(&mut state, 2, now + secs(2.0));
        assert!(matches!(
            actions[..],
            [SlotAction::Adopt { replacing: None, slot_down_for: Some(d), .. }] if d == secs(1.0)
        ));
    }

    #[test]
    fn too_many_websockets_closes_first_then_opens() {
        let t0 = Instant::now();
        let mut state = slot(0, t0);
        // Connection `id`, live at `at`, refused `after` later: the wait it gets, and whether
        // the slot took that for the start of a spell at the app's limit.
        let refused = |state: &mut SlotState, id: u64, at: Instant, after: f64| {
            live(state, id, at);
            let reason = DisconnectReason::TooManyWebsockets;
            let actions = state.on(
                closed(id, DisconnectCause::SlackDisconnect(reason)),
                at + secs(after),
            );
            match actions[..] {
                [SlotAction::Closed {
                    next: AfterClose::ReconnectIn(wait),
                    limit_spell_began,
                    ..
                }] => (wait, limit_spell_began),
                _ => panic!("{actions:?}"),
            }
        };
        // The connection closes itself on this reason (Lifecycle); only then does the slot
        // open again: never a second connection beside it. Once may be Slack trimming: the
        // backoff's seconds.
        let now = open_when_due(&mut state);
        let (wait, began) = refused(&mut state, 1, now, 5.0);
        assert!(wait < TIMING.backoff_cap && !began, "{wait:?}");
        assert_eq!(state.current(), None);
        // Refused again right away: the app holds all its sockets; half a minute or more.
        let now = open_when_due(&mut state);
        let (wait, began) = refused(&mut state, 2, now, 0.1);
        let limit = TIMING.socket_limit_wait;
        assert!(
            wait >= limit && wait <= limit.mul_f64(1.5) && began,
            "{wait:?}"
        );
        // Refused again: still waiting, but the spell was said already.
        let now = open_when_due(&mut state);
        let (wait, began) = refused(&mut state, 3, now, 0.1);
        assert!(wait >= limit && !began, "{wait:?}");
        open_when_due(&mut state);
    }

    #[test]
    fn replacements_on_request_are_at_most_one_per_floor() {
        let t0 = Instant::now();
        let mut state = slot(0, t0);
        let mut now = open_when_due(&mut state);
        live(&mut state, 1, now);
        let ask = |state: &mut SlotState, connection, now| {
            state.on(
                SlotInput::WantsReplacement {
                    connection,
                    why: "refresh_requested",
                },
                now,
            )
        };
        // The first request is served at once.
        assert_eq!(ask(&mut state, 1, now).last(), Some(&SlotAction::Open));
        now += secs(0.1);
        live(&mut state, 2, now);
        // The replacement asks at once too: it waits for the floor, logged the first time.
        let actions = ask(&mut state, 2, now);
        let [SlotAction::StormDelayed {
            until,
            asked_so_far: 1,
            ..
        }] = actions[..]
        else {
            panic!("{actions:?}")
        };
        assert_eq!(until, now - secs(0.1) + REPLACEMENT_FLOOR);
        assert_eq!(state.phase(), SlotPhase::Replacing);
        // Asking again while it waits neither logs again nor pushes the replacement later.
        assert!(ask(&mut state, 2, now + secs(0.5)).is_empty());
        assert_eq!(state.next_wake(), Some(until));
        assert!(state.on(SlotInput::Wake, now + secs(1.0)).is_empty());
        assert_eq!(state.on(SlotInput::Wake, until), vec![SlotAction::Open]);
        // A server asking after every hello gets one connection per floor, no faster.
        let mut opens = vec![until];
        let mut connection = 3;
        let mut now = until;
        while now < t0 + secs(60.0) {
            now += secs(0.05);
            live(&mut state, connection, now);
            ask(&mut state, connection, now);
            let due = state.next_wake().expect("a replacement is due");
            assert_eq!(state.on(SlotInput::Wake, due), vec![SlotAction::Open]);
            opens.push(due);
            now = due;
            connection += 1;
        }
        for pair in opens.windows(2) {
            assert!(pair[1] - pair[0] >= REPLACEMENT_FLOOR, "{pair:?}");
        }
        assert!(opens.len() <= 13, "{} opens in a minute", opens.len());
    }

    #[test]
    fn fatal_errors_end_the_slot() {
        let t0 = Instant::now();
        let mut state = slot(0, t0);
        let now = open_when_due(&mut state);
        assert_eq!(
            state.on(SlotInput::OpenFatal { connection: 1 }, now),
            vec![SlotAction::GiveUp]
        );
        assert_eq!(state.phase(), SlotPhase::FatallyClosed);
        assert_eq!(state.next_wake(), None);
        assert!(state.on(SlotInput::Wake, now + secs(10.0)).is_empty());

        // Socket Mode switched off, said by Slack on a live connection.
        let mut state = slot(0, t0);
        let now = open_when_due(&mut state);
        live(&mut state, 1, now);
        let cause = DisconnectCause::SlackDisconnect(DisconnectReason::LinkDisabled);
        assert_eq!(state.on(closed(1, cause), now), vec![SlotAction::GiveUp]);
        assert_eq!(state.phase(), SlotPhase::FatallyClosed);

        let mut state = slot(0, t0);
        assert_eq!(state.on(SlotInput::Shutdown, t0), vec![SlotAction::Stop]);
        assert_eq!(state.phase(), SlotPhase::Stopped);
        assert_eq!(state.next_wake(), None);
    }

    #[test]
    fn closes_of_unknown_or_draining_connections_change_nothing_live() {
        let t0 = Instant::now();
        let mut state = slot(0, t0);
        let now = open_when_due(&mut state);
        live(&mut state, 1, now);
        let actions = state.on(closed(99, DisconnectCause::Reset), now);
        assert!(matches!(
            actions[..],
            [SlotAction::Closed {
                next: AfterClose::OtherConnection,
                ..
            }]
        ));
        assert_eq!(state.phase(), SlotPhase::Live);
        // A request from a connection that is not the current one is ignored.
        assert!(state
            .on(
                SlotInput::WantsReplacement {
                    connection: 99,
                    why: "warning"
                },
                now
            )
            .is_empty());
    }

    /// The slot's one promise, over many random lives: until it ends, it always has a live
    /// connection, one being opened, or a time at which it opens one. A slot with none of
    /// them would be deaf for good, silently.
    #[test]
    fn random_lives_are_never_without_a_connection_an_opening_or_a_timer() {
        for seed in 0..2_000u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let t0 = Instant::now();
            let mut now = t0;
            let mut state = slot((seed % 4) as usize, t0);
            let mut next_id = 1u64;
            // What the task would be doing: an opening in flight, connections running.
            let mut opening = false;
            let mut running: Vec<u64> = Vec::new();
            for step in 0..200 {
                now += Duration::from_millis(rng.random_range(0..3_000));
                let input = match rng.random_range(0..10) {
                    0..=2 => SlotInput::Wake,
                    3 | 4 if opening => {
                        opening = false;
                        next_id += 1;
                        match rng.random_range(0..8) {
                            0..=4 => SlotInput::Opened {
                                connection: next_id,
                            },
                            5 | 6 => SlotInput::OpenFailed {
                                connection: next_id,
                                cause: DisconnectCause::Reset,
                                retry_after: rng
                                    .random_bool(0.2)
                                    .then(|| Duration::from_secs(rng.random_range(0..60))),
                            },
                            _ => SlotInput::Shutdown,
                        }
                    }
                    5 | 6 if !running.is_empty() => {
                        let connection = running[rng.random_range(0..running.len())];
                        SlotInput::WantsReplacement {
                            connection,
                            why: "warning",
                        }
                    }
                    7 | 8 if !running.is_empty() => {
                        let at = rng.random_range(0..running.len());
                        let connection = running.remove(at);
                        let cause = match rng.random_range(0..4) {
                            0 => DisconnectCause::Replaced,
                            1 => DisconnectCause::EofWithoutClose,
                            2 => dead(),
                            _ => DisconnectCause::SlackDisconnect(DisconnectReason::Warning),
                        };
                        SlotInput::Closed {
                            connection,
                            cause,
                            lifetime: secs(1.0),
                        }
                    }
                    _ => SlotInput::Wake,
                };
                if input == SlotInput::Wake {
                    match state.next_wake() {
                        Some(at) if at > now => now = at,
                        _ => {}
                    }
                }
                for action in state.on(input.clone(), now) {
                    match action {
                        SlotAction::Open => {
                            assert!(!opening, "seed {seed} step {step}: two opens at once");
                            opening = true;
                        }
                        SlotAction::Adopt { connection, .. } => running.push(connection),
                        _ => {}
                    }
                }
                if state.phase().is_ended() {
                    break;
                }
                let has_current = state.current().is_some_and(|c| running.contains(&c));
                assert!(
                    has_current || opening || state.next_wake().is_some(),
                    "seed {seed} step {step}: after {input:?} the slot has no connection, no opening and no timer: {state:?}"
                );
                assert_eq!(
                    state.phase().is_live(),
                    has_current,
                    "seed {seed} step {step}: phase {:?}",
                    state.phase()
                );
            }
        }
    }
}
