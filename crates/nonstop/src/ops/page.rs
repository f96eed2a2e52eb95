//! The status page at `/`: one timeline per slot over the last hour (live, opening or down),
//! each disconnect marked with its cause, the counters, and the last 20 disconnects in words.
//! Plain HTML and SVG rendered on the server from [`Status`]; it reloads itself every 5 s.
//! Everything shown that came from outside (causes carry Slack's words) is escaped.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::status::{LifecycleChange, LifecycleRecord, Status, StatusSnapshot};

/// The span the timelines show at most: the last hour (since the start for a younger bot,
/// and at least 20 s, so a new bot's picture is readable).
const WINDOW: Duration = Duration::from_secs(3600);
const SHORTEST_WINDOW: Duration = Duration::from_secs(20);
/// Room for the slot names left of the timelines.
const LEFT: f64 = 60.0;
/// Labels of marks closer than this to the previous label of their row are left out (each
/// mark keeps its tooltip, and the list below names every cause).
const LABEL_ROOM: f64 = 110.0;
/// Width and height of one slot's timeline, in SVG units.
const WIDTH: f64 = 1000.0;
const ROW: f64 = 28.0;

use crate::html::escape;

/// A stretch of one slot's hour.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stretch {
    Live,
    Down,
}

/// One slot's timeline: stretches (from, to, kind) in seconds before now, and disconnect
/// marks (at, cause) likewise.
#[derive(Debug, Default)]
struct Timeline {
    stretches: Vec<(f64, f64, Stretch)>,
    marks: Vec<(f64, String, String)>,
}

/// Seconds before `now` (0 = now), clamped to the longest window.
fn ago(now: SystemTime, at: SystemTime) -> f64 {
    now.duration_since(at)
        .unwrap_or_default()
        .min(WINDOW)
        .as_secs_f64()
}

/// Builds each slot's timeline from the lifecycle records (oldest first). A slot is live from
/// a `Live` until the `Closed` of that connection, and down otherwise; a replacement's close
/// (planned) leaves the slot live.
fn timelines(
    records: &[LifecycleRecord],
    slots: usize,
    now: SystemTime,
    started: SystemTime,
) -> Vec<Timeline> {
    let mut out: Vec<Timeline> = (0..slots).map(|_| Timeline::default()).collect();
    // Per slot: live connections and since when the current stretch runs.
    let mut live: Vec<Vec<u64>> = vec![Vec::new(); slots];
    let mut since: Vec<SystemTime> = vec![started; slots];
    for record in records {
        let slot = record.slot;
        if slot >= slots {
            continue;
        }
        match &record.change {
            LifecycleChange::Live { .. } => {
                if live[slot].is_empty() {
                    out[slot].stretches.push((
                        ago(now, since[slot]),
                        ago(now, record.at),
                        Stretch::Down,
                    ));
                    since[slot] = record.at;
                }
                live[slot].push(record.connection);
            }
            LifecycleChange::Closed {
                cause,
                cause_kind,
                planned,
                ..
            } => {
                let was_live = live[slot].contains(&record.connection);
                live[slot].retain(|c| *c != record.connection);
                if was_live && live[slot].is_empty() {
                    out[slot].stretches.push((
                        ago(now, since[slot]),
                        ago(now, record.at),
                        Stretch::Live,
                    ));
                    since[slot] = record.at;
                }
                if !planned {
                    out[slot].marks.push((
                        ago(now, record.at),
                        (*cause_kind).to_owned(),
                        cause.clone(),
                    ));
                }
            }
            LifecycleChange::OpenFailed { cause, .. } => {
                let kind = cause.split('(').next().unwrap_or("open_failed").to_owned();
                out[slot]
                    .marks
                    .push((ago(now, record.at), kind, format!("open failed: {cause}")));
            }
        }
    }
    for slot in 0..slots {
        let kind = if live[slot].is_empty() {
            Stretch::Down
        } else {
            Stretch::Live
        };
        out[slot].stretches.push((ago(now, since[slot]), 0.0, kind));
    }
    out
}

/// x of a moment `secs` before now, in a timeline showing the last `window` seconds.
fn x(secs: f64, window: f64) -> f64 {
    LEFT + (WIDTH - LEFT) * (1.0 - secs.min(window) / window)
}

/// `window` seconds in words: `45 s`, `12 min`, `60 min`.
fn span_words(window: f64) -> String {
    if window < 120.0 {
        format!("{window:.0} s")
    } else {
        format!("{:.0} min", window / 60.0)
    }
}

/// The page: a summary line, each slot's timeline, the counters, the last disconnects.
pub(super) fn render(status: &Status) -> String {
    let snapshot = status.snapshot();
    let now = SystemTime::now();
    let started = now.checked_sub(snapshot.uptime).unwrap_or(now);
    let records = status.history();
    let slots = snapshot.slots.len();
    let lines = timelines(&records, slots, now, started);
    let window = snapshot.uptime.clamp(SHORTEST_WINDOW, WINDOW).as_secs_f64();
    let mut page = head(status, &snapshot);
    timeline(&mut page, &lines, window);
    counters(&mut page, &snapshot);
    disconnects(&mut page, &records, now);
    let _ = write!(page, "</ol></body></html>");
    page
}

/// The document's head and the summary line.
fn head(status: &Status, snapshot: &StatusSnapshot) -> String {
    let slots = snapshot.slots.len();
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">\
         <title>nonstop status</title><style>\
         body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}\
         .live{{fill:#2e9d4c}}.down{{fill:#d9d9d9}}.disconnect{{stroke:#c0392b;stroke-width:3}}\
         .mark text{{font-size:11px;fill:#c0392b}}table{{border-collapse:collapse}}\
         td,th{{padding:2px 10px;text-align:left;border-bottom:1px solid #eee}}</style></head><body>\
         <h1>nonstop</h1><p id=\"summary\">up {} s, {} of {} sockets live{}</p>",
        snapshot.uptime.as_secs(),
        snapshot.live_connections,
        slots,
        match status.deaf_for() {
            Some(deaf) => format!(", deaf for {:.1} s", deaf.as_secs_f64()),
            None => String::new(),
        }
    );
    page
}

/// Each slot's line: live and down stretches, and a mark with its cause at each disconnect.
fn timeline(page: &mut String, lines: &[Timeline], window: f64) {
    let slots = lines.len();
    let height = ROW * slots.max(1) as f64 + 24.0;
    let _ = write!(
        page,
        "<h2>Each slot's socket, the last {}</h2><svg id=\"timeline\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" xmlns=\"http://www.w3.org/2000/svg\">",
        span_words(window)
    );
    for (slot, line) in lines.iter().enumerate() {
        slot_line(page, slot, line, window);
    }
    let _ = write!(
        page,
        "<text x=\"{LEFT}\" y=\"{:.1}\" font-size=\"11\">{} ago</text>\
         <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">now</text></svg>",
        height - 4.0,
        span_words(window),
        WIDTH - 24.0,
        height - 4.0
    );
}

fn slot_line(page: &mut String, slot: usize, line: &Timeline, window: f64) {
    let y = slot as f64 * ROW;
    let _ = write!(
        page,
        "<g class=\"slot\" data-slot=\"{slot}\"><text x=\"0\" y=\"{:.1}\" font-size=\"12\">slot {slot}</text>",
        y + 14.0
    );
    for (from, to, kind) in &line.stretches {
        let (x0, x1) = (x(*from, window), x(*to, window));
        if x1 - x0 <= 0.0 {
            continue;
        }
        let class = match kind {
            Stretch::Live => "live",
            Stretch::Down => "down",
        };
        let _ = write!(
            page,
            "<rect class=\"{class}\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>",
            x1 - x0,
            ROW - 8.0
        );
    }
    let mut last_label: Option<f64> = None;
    for (at, kind, cause) in &line.marks {
        let xm = x(*at, window);
        let label = if last_label.is_none_or(|l| (xm - l).abs() >= LABEL_ROOM) {
            last_label = Some(xm);
            format!(
                "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                (xm + 3.0).min(WIDTH - LABEL_ROOM),
                y + 11.0,
                escape(kind)
            )
        } else {
            String::new()
        };
        let _ = write!(
            page,
            "<g class=\"mark\" data-cause=\"{}\"><title>{}</title>\
             <line class=\"disconnect\" x1=\"{xm:.1}\" x2=\"{xm:.1}\" y1=\"{y:.1}\" y2=\"{:.1}\"/>{label}</g>",
            escape(kind),
            escape(cause),
            y + ROW - 8.0,
        );
    }
    let _ = write!(page, "</g>");
}

fn counters(page: &mut String, snapshot: &StatusSnapshot) {
    let counters = [
        ("events received", snapshot.envelopes),
        ("handled", snapshot.handled),
        (
            "failed",
            snapshot.failed + snapshot.panicked + snapshot.timed_out,
        ),
        ("duplicates dropped", snapshot.duplicates),
        ("replayed after a restart", snapshot.replayed),
        ("caught up from history", snapshot.caught_up),
        ("answers sent", snapshot.answers_sent),
        ("answers waiting", snapshot.answers_waiting),
        ("reconnects", snapshot.reconnects),
        ("bad frames dropped", snapshot.bad_frames),
    ];
    let _ = write!(page, "<h2>Counters</h2><table id=\"counters\">");
    for (name, value) in counters {
        let _ = write!(page, "<tr><th>{name}</th><td>{value}</td></tr>");
    }
    let _ = write!(page, "</table>");
}

/// The last 20 unplanned closes, newest first, each with its cause in words.
fn disconnects(page: &mut String, records: &[LifecycleRecord], now: SystemTime) {
    let _ = write!(page, "<h2>Last disconnects</h2><ol id=\"disconnects\">");
    let closes: Vec<&LifecycleRecord> = records
        .iter()
        .rev()
        .filter(|r| matches!(r.change, LifecycleChange::Closed { planned: false, .. }))
        .take(20)
        .collect();
    if closes.is_empty() {
        let _ = write!(page, "<li>none since the start</li>");
    }
    for record in closes {
        if let LifecycleChange::Closed {
            cause, lifetime, ..
        } = &record.change
        {
            let secs_ago = now.duration_since(record.at).unwrap_or_default().as_secs();
            let _ = write!(
                page,
                "<li>{secs_ago} s ago: slot {} connection {} after {:.1} s: {}</li>",
                record.slot,
                record.connection,
                lifetime.as_secs_f64(),
                escape(cause)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        secs_ago: u64,
        slot: usize,
        connection: u64,
        change: LifecycleChange,
    ) -> LifecycleRecord {
        LifecycleRecord {
            at: SystemTime::now() - Duration::from_secs(secs_ago),
            slot,
            connection,
            change,
        }
    }

    fn closed(kind: &'static str, planned: bool) -> LifecycleChange {
        LifecycleChange::Closed {
            cause: format!("{kind} <b>"),
            cause_kind: kind,
            planned,
            lifetime: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_slot_is_live_between_hello_and_close_and_replacements_leave_no_gap() {
        let now = SystemTime::now();
        let started = now - Duration::from_secs(600);
        let records = [
            record(
                590,
                0,
                1,
                LifecycleChange::Live {
                    slot_down_for: None,
                },
            ),
            // Replaced: the new one live before the old one closes.
            record(
                400,
                0,
                2,
                LifecycleChange::Live {
                    slot_down_for: None,
                },
            ),
            record(399, 0, 1, closed("replaced", true)),
            record(300, 0, 2, closed("eof_without_close", false)),
            record(
                290,
                0,
                3,
                LifecycleChange::Live {
                    slot_down_for: None,
                },
            ),
        ];
        let lines = timelines(&records, 1, now, started);
        let kinds: Vec<Stretch> = lines[0].stretches.iter().map(|s| s.2).collect();
        assert_eq!(
            kinds,
            vec![Stretch::Down, Stretch::Live, Stretch::Down, Stretch::Live]
        );
        // Live from 590 s ago to 300 s ago, unbroken by the replacement.
        let live = lines[0].stretches[1];
        assert!(
            (live.0 - 590.0).abs() < 1.0 && (live.1 - 300.0).abs() < 1.0,
            "{live:?}"
        );
        // Only the unplanned close is marked.
        assert_eq!(lines[0].marks.len(), 1);
        assert_eq!(lines[0].marks[0].1, "eof_without_close");
    }

    #[test]
    fn what_slack_said_is_escaped() {
        assert_eq!(
            escape("<script>\"x\" & 'y'"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;"
        );
    }
}
