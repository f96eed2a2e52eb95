//! The decisions of one live connection, whatever its transport, as a pure function of what
//! happened and when. The I/O task (`transport::ws::run`) feeds it inputs and carries out its
//! actions, so every rule here is unit-tested without a socket. A transport turns its own
//! control frames (Socket Mode's `disconnect`, RTM's `goodbye`) into the inputs
//! [`Input::ReplacementAsked`] and [`Input::CloseFirst`].

use std::time::Duration;

use tokio::time::Instant;

use crate::cause::DisconnectCause;

/// Where a connection is in its life. Opening (the connect call, the upgrade, `hello`) happens
/// before a `Lifecycle` exists; it starts `Live`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Receiving envelopes.
    Live,
    /// Slack or our schedule asked for a replacement; still receiving until it is live.
    Refreshing,
    /// Being closed; no new work.
    Closing,
}

impl ConnectionState {
    #[cfg(test)]
    pub fn is_receiving(self) -> bool {
        matches!(self, Self::Live | Self::Refreshing)
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Any frame at all: text, binary, ping, pong.
    Frame,
    /// The liveness timer fired.
    Tick,
    /// The server says this connection will end (Socket Mode's `disconnect` with `warning`,
    /// `refresh_requested` or a reason we don't know; RTM's `goodbye`): open a replacement and
    /// keep this one until it is live.
    ReplacementAsked(&'static str),
    /// The server says this connection must close before another can open (Socket Mode's
    /// `too_many_websockets`), or that reconnecting cannot help (`link_disabled`).
    CloseFirst(DisconnectCause),
    /// The slot's replacement for this socket said `hello`.
    ReplacementLive,
    Shutdown,
}

/// What to do about it.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    SendPing,
    /// The timer fired this late: the process did not run (SIGSTOP, a paused VM, a starved
    /// runtime), so the silence it slept through is not held against the socket. Logged.
    ProcessStalled {
        late_by: Duration,
    },
    /// Ask the slot to open a replacement now, keeping this socket until it is live.
    RequestReplacement(&'static str),
    /// Close this socket with this cause.
    Close(DisconnectCause),
}

/// Timing rules for one connection.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub ping_interval: Duration,
    pub dead_after: Duration,
    /// When to replace the socket on our own, from Slack's `approximate_connection_time`.
    pub refresh_at: Option<Instant>,
}

#[derive(Debug, Clone)]
pub struct Lifecycle {
    state: ConnectionState,
    timing: Timing,
    last_inbound: Instant,
    last_ping: Instant,
    /// When a stall of the process last restarted the silence clock. It is restarted again only
    /// after a frame proved the socket alive, so a runtime that is always late still finds a
    /// dead socket.
    forgiven_at: Option<Instant>,
}

impl Lifecycle {
    pub fn new(now: Instant, timing: Timing) -> Self {
        Self {
            state: ConnectionState::Live,
            timing,
            last_inbound: now,
            last_ping: now,
            forgiven_at: None,
        }
    }

    #[cfg(test)]
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// When the next `Tick` is due: the earliest of the next ping, the dead line and the
    /// planned refresh.
    pub fn next_deadline(&self) -> Instant {
        let mut next = (self.last_ping + self.timing.ping_interval)
            .min(self.last_inbound + self.timing.dead_after);
        if self.state == ConnectionState::Live {
            if let Some(refresh_at) = self.timing.refresh_at {
                next = next.min(refresh_at);
            }
        }
        next
    }

    pub fn on(&mut self, input: Input, now: Instant) -> Vec<Action> {
        if self.state == ConnectionState::Closing {
            return Vec::new();
        }
        match input {
            Input::Frame => {
                self.last_inbound = now;
                Vec::new()
            }
            Input::Tick => self.on_tick(now),
            Input::ReplacementAsked(why) => self.on_replacement_asked(why),
            Input::CloseFirst(cause) => self.close(cause),
            Input::ReplacementLive => self.close(DisconnectCause::Replaced),
            Input::Shutdown => self.close(DisconnectCause::Shutdown),
        }
    }

    fn on_tick(&mut self, now: Instant) -> Vec<Action> {
        // A tick due long ago means this process slept, not that the socket was silent: frames
        // sent meanwhile wait in the socket's buffer. Give it one ping round trip from now.
        let late_by = now.saturating_duration_since(self.next_deadline());
        let may_forgive = self.forgiven_at.is_none_or(|at| self.last_inbound > at);
        if late_by >= self.timing.ping_interval && may_forgive {
            self.forgiven_at = Some(now);
            self.last_inbound = now;
            self.last_ping = now;
            return vec![Action::ProcessStalled { late_by }, Action::SendPing];
        }
        let silent_for = now.saturating_duration_since(self.last_inbound);
        if silent_for >= self.timing.dead_after {
            return self.close(DisconnectCause::Dead { silent_for });
        }
        let mut actions = Vec::new();
        if now.saturating_duration_since(self.last_ping) >= self.timing.ping_interval {
            self.last_ping = now;
            actions.push(Action::SendPing);
        }
        if self.state == ConnectionState::Live && self.timing.refresh_at.is_some_and(|at| now >= at)
        {
            self.state = ConnectionState::Refreshing;
            actions.push(Action::RequestReplacement(
                "approximate_connection_time reached",
            ));
        }
        actions
    }

    fn on_replacement_asked(&mut self, why: &'static str) -> Vec<Action> {
        if self.state == ConnectionState::Refreshing {
            return Vec::new();
        }
        self.state = ConnectionState::Refreshing;
        vec![Action::RequestReplacement(why)]
    }

    fn close(&mut self, cause: DisconnectCause) -> Vec<Action> {
        self.state = ConnectionState::Closing;
        vec![Action::Close(cause)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> Timing {
        Timing {
            ping_interval: Duration::from_secs(2),
            dead_after: Duration::from_secs(6),
            refresh_at: None,
        }
    }

    #[test]
    fn pings_on_schedule_and_dies_after_silence() {
        let t0 = Instant::now();
        let mut life = Lifecycle::new(t0, timing());
        assert_eq!(life.next_deadline(), t0 + Duration::from_secs(2));
        assert_eq!(
            life.on(Input::Tick, t0 + Duration::from_secs(2)),
            vec![Action::SendPing]
        );
        assert_eq!(
            life.on(Input::Tick, t0 + Duration::from_secs(4)),
            vec![Action::SendPing]
        );
        assert_eq!(life.next_deadline(), t0 + Duration::from_secs(6));
        let actions = life.on(Input::Tick, t0 + Duration::from_secs(6));
        assert_eq!(
            actions,
            vec![Action::Close(DisconnectCause::Dead {
                silent_for: Duration::from_secs(6)
            })]
        );
        assert_eq!(life.state(), ConnectionState::Closing);
        assert!(life.on(Input::Tick, t0 + Duration::from_secs(9)).is_empty());
    }

    #[test]
    fn a_stalled_process_gives_the_socket_one_ping_round_trip() {
        let t0 = Instant::now();
        let mut life = Lifecycle::new(t0, timing());
        // The tick due at 2 s runs at 12 s: the process was stopped for 10 s.
        let woke = t0 + Duration::from_secs(12);
        assert_eq!(
            life.on(Input::Tick, woke),
            vec![
                Action::ProcessStalled {
                    late_by: Duration::from_secs(10)
                },
                Action::SendPing
            ]
        );
        assert!(life.state().is_receiving());
        // The pong (or any frame) keeps it; without one it dies a full dead_after later.
        assert_eq!(life.next_deadline(), woke + Duration::from_secs(2));
        assert_eq!(
            life.on(Input::Tick, woke + Duration::from_secs(4)),
            vec![Action::SendPing]
        );
        assert_eq!(
            life.on(Input::Tick, woke + Duration::from_secs(6)),
            vec![Action::Close(DisconnectCause::Dead {
                silent_for: Duration::from_secs(6)
            })]
        );
    }

    #[test]
    fn an_always_late_runtime_still_finds_a_dead_socket() {
        let t0 = Instant::now();
        let mut life = Lifecycle::new(t0, timing());
        let mut stalls = 0;
        let dead_at = loop {
            // Every tick runs 3 s after it was due.
            let now = life.next_deadline() + Duration::from_secs(3);
            let actions = life.on(Input::Tick, now);
            stalls += actions
                .iter()
                .filter(|a| matches!(a, Action::ProcessStalled { .. }))
                .count();
            if actions.iter().any(|a| matches!(a, Action::Close(_))) {
                break now;
            }
            assert!(now < t0 + Duration::from_secs(60), "never declared dead");
        };
        assert!(stalls <= 1, "{stalls} stalls forgiven");
        assert!(
            dead_at <= t0 + Duration::from_secs(20),
            "dead only at {dead_at:?}"
        );
    }

    #[test]
    fn any_frame_keeps_it_alive() {
        let t0 = Instant::now();
        let mut life = Lifecycle::new(t0, timing());
        for s in 1..30 {
            let now = t0 + Duration::from_secs(s);
            life.on(Input::Frame, now);
            let actions = life.on(Input::Tick, now);
            assert!(
                !actions.iter().any(|a| matches!(a, Action::Close(_))),
                "{actions:?}"
            );
        }
    }

    #[test]
    fn a_server_notice_makes_before_break() {
        let t0 = Instant::now();
        let mut life = Lifecycle::new(t0, timing());
        assert_eq!(
            life.on(Input::ReplacementAsked("goodbye"), t0),
            vec![Action::RequestReplacement("goodbye")]
        );
        assert_eq!(life.state(), ConnectionState::Refreshing);
        // A second notice (refresh after warning) asks for nothing new.
        assert!(life.on(Input::ReplacementAsked("goodbye"), t0).is_empty());
        assert_eq!(
            life.on(Input::ReplacementLive, t0),
            vec![Action::Close(DisconnectCause::Replaced)]
        );
    }

    #[test]
    fn close_first_closes_at_once_even_while_refreshing() {
        let t0 = Instant::now();
        let mut life = Lifecycle::new(t0, timing());
        life.on(Input::ReplacementAsked("goodbye"), t0);
        let cause = DisconnectCause::Protocol {
            detail: "told to".into(),
        };
        assert_eq!(
            life.on(Input::CloseFirst(cause.clone()), t0),
            vec![Action::Close(cause)]
        );
        assert!(life
            .on(Input::Tick, t0 + Duration::from_secs(60))
            .is_empty());
    }

    #[test]
    fn planned_refresh_before_slack_does_it() {
        let t0 = Instant::now();
        let mut timing = timing();
        timing.refresh_at = Some(t0 + Duration::from_secs(3));
        let mut life = Lifecycle::new(t0, timing);
        life.on(Input::Frame, t0 + Duration::from_secs(3));
        let actions = life.on(Input::Tick, t0 + Duration::from_secs(3));
        assert_eq!(
            actions,
            vec![
                Action::SendPing,
                Action::RequestReplacement("approximate_connection_time reached")
            ]
        );
        assert!(life.state().is_receiving());
    }

    /// Random lives, many of them: whatever arrives and however late the ticks run, a
    /// lifecycle closes at most once and then does nothing, asks for one replacement at most,
    /// never lets its timer sleep past the dead line, and, when frames stop while ticks come
    /// on time, is declared dead within `dead_after` and a ping interval of the last frame (or
    /// of the last stall of the process).
    #[test]
    fn random_lives_keep_the_rules() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let rules = timing();
        for seed in 0..2_000u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let t0 = Instant::now();
            let mut timing = rules;
            timing.refresh_at = rng
                .random_bool(0.3)
                .then(|| t0 + Duration::from_millis(rng.random_range(0..60_000)));
            let mut life = Lifecycle::new(t0, timing);
            let mut now = t0;
            let (mut closes, mut requests) = (0, 0);
            // The last frame, or the last stall of the process: silence counts from there.
            let mut last_excuse = t0;
            // After a while frames stop and ticks run on time: the socket went half-open.
            let frames_stop = t0 + Duration::from_millis(rng.random_range(0..120_000));
            for _ in 0..400 {
                let quiet = now >= frames_stop;
                let input = match rng.random_range(0..100) {
                    0..=44 if !quiet => Input::Frame,
                    45..=47 if !quiet => Input::ReplacementAsked("refresh"),
                    48 if !quiet => Input::CloseFirst(DisconnectCause::Shutdown),
                    49 if !quiet => Input::ReplacementLive,
                    50 => Input::Shutdown,
                    _ => Input::Tick,
                };
                if input == Input::Tick {
                    let late = if quiet {
                        Duration::from_millis(rng.random_range(0..50))
                    } else if rng.random_bool(0.02) {
                        Duration::from_secs(rng.random_range(2..30)) // a stall
                    } else {
                        Duration::from_millis(rng.random_range(0..500))
                    };
                    now = now.max(life.next_deadline()) + late;
                } else {
                    now += Duration::from_millis(rng.random_range(0..700));
                }
                if input == Input::Frame {
                    last_excuse = now;
                }
                let was_closing = life.state() == ConnectionState::Closing;
                let actions = life.on(input, now);
                if was_closing {
                    assert!(actions.is_empty(), "seed {seed}: acted after closing");
                }
                closes += actions
                    .iter()
                    .filter(|a| matches!(a, Action::Close(_)))
                    .count();
                requests += actions
                    .iter()
                    .filter(|a| matches!(a, Action::RequestReplacement(_)))
                    .count();
                if actions
                    .iter()
                    .any(|a| matches!(a, Action::ProcessStalled { .. }))
                {
                    last_excuse = now;
                }
                assert!(closes <= 1, "seed {seed}: closed twice");
                assert!(requests <= 1, "seed {seed}: asked for two replacements");
                if life.state() != ConnectionState::Closing {
                    assert!(
                        life.next_deadline() <= life.last_inbound + rules.dead_after,
                        "seed {seed}: the timer sleeps past the dead line"
                    );
                }
                if closes == 1 {
                    break;
                }
                if quiet {
                    let limit = last_excuse + rules.dead_after + rules.ping_interval;
                    assert!(
                        now <= limit,
                        "seed {seed}: a silent socket still live at {now:?}"
                    );
                }
            }
        }
    }
}
