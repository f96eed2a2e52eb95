//! `/metrics`: the bot's counters in the OpenMetrics text format (which Prometheus reads),
//! through `prometheus-client`. Each scrape reads [`Status`] as it stands; nothing is kept
//! here between scrapes.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::status::Status;

/// Slot states every scrape lists, at 0 when no slot is in them, so a graph has a line for
/// each from the start.
const PHASES: [&str; 6] = [
    "waiting",
    "opening",
    "live",
    "replacing",
    "stopped",
    "fatally_closed",
];

#[derive(Debug)]
struct StatusCollector(Arc<Status>, nonstop_web::WebClient, usize);

impl Collector for StatusCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let status = &self.0;
        let s = status.snapshot();
        let counters: [(&str, &str, u64); 18] = [
            (
                "nonstop_sockets_opened",
                "Sockets that said hello.",
                s.sockets_opened,
            ),
            (
                "nonstop_reconnects",
                "Sockets opened after one closed.",
                s.reconnects,
            ),
            (
                "nonstop_events_received",
                "Fresh envelopes taken for dispatch.",
                s.envelopes,
            ),
            (
                "nonstop_events_deduplicated",
                "Envelopes acked but dropped: their event was taken already.",
                s.duplicates,
            ),
            (
                "nonstop_events_refused",
                "Envelopes not acked: the journal's queue was full (Slack redelivers them).",
                s.refused,
            ),
            (
                "nonstop_events_handled",
                "Events handled without error.",
                s.handled,
            ),
            (
                "nonstop_events_failed",
                "Events whose handler returned an error.",
                s.failed,
            ),
            (
                "nonstop_events_panicked",
                "Events whose handler panicked.",
                s.panicked,
            ),
            (
                "nonstop_events_timed_out",
                "Events whose handler ran past handler_timeout.",
                s.timed_out,
            ),
            (
                "nonstop_events_replayed",
                "Events journaled but not finished before a stop, handled again at start.",
                s.replayed,
            ),
            (
                "nonstop_events_caught_up",
                "Messages found in history after downtime that the journal did not have.",
                s.caught_up,
            ),
            (
                "nonstop_own_messages",
                "The bot's own messages, dropped at receipt.",
                s.own_messages,
            ),
            (
                "nonstop_bad_frames",
                "Frames dropped as malformed, binary, oversized or unknown.",
                s.bad_frames,
            ),
            (
                "nonstop_answers_sent",
                "Answers Slack took.",
                s.answers_sent,
            ),
            (
                "nonstop_answers_failed",
                "Answers Slack refused for good.",
                s.answers_failed,
            ),
            (
                "nonstop_answers_over_rtm",
                "Answers sent over an RTM socket.",
                s.answers_over_rtm,
            ),
            (
                "nonstop_answers_handed_over",
                "Answers let go to the replica that took them over while this one was paused past its lease.",
                s.answers_handed_over,
            ),
            (
                "nonstop_events_held_back",
                "Envelopes left unacked while the outbox was at its bound.",
                s.held_back,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }

        let gauges: [(&str, &str, i64); 4] = [
            (
                "nonstop_journal_backlog",
                "Operations waiting for the journal's writer (envelopes, outcomes, answers).",
                self.2 as i64,
            ),
            (
                "nonstop_live_connections",
                "Sockets live now.",
                s.live_connections as i64,
            ),
            (
                "nonstop_answers_waiting",
                "Answers in the outbox not delivered yet.",
                s.answers_waiting as i64,
            ),
            (
                "nonstop_journal_failing",
                "1 while journal writes fail (nothing is acked).",
                i64::from(status.journal_failing()),
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        let uptime = ConstGauge::new(s.uptime.as_secs_f64());
        let metric = encoder.encode_descriptor(
            "nonstop_uptime_seconds",
            "Seconds since the bot started.",
            None,
            uptime.metric_type(),
        )?;
        uptime.encode(metric)?;

        let mut slots = encoder.encode_descriptor(
            "nonstop_slots",
            "Connection slots by state.",
            None,
            MetricType::Gauge,
        )?;
        for phase in PHASES {
            let n = s.slots.iter().filter(|p| p.name() == phase).count();
            let labels = [("state", phase)];
            ConstGauge::new(n as i64).encode(slots.encode_family(&labels)?)?;
        }

        let (acks, handlers) = status.histograms();
        let metric = encoder.encode_descriptor(
            "nonstop_ack_latency_seconds",
            "From an envelope's receipt to its ack handed to the socket (plain acks).",
            None,
            acks.metric_type(),
        )?;
        acks.encode(metric)?;
        let metric = encoder.encode_descriptor(
            "nonstop_handler_duration_seconds",
            "How long handlers ran (waits for deliveries included).",
            None,
            handlers.metric_type(),
        )?;
        handlers.encode(metric)?;

        let mut closes = encoder.encode_descriptor(
            "nonstop_disconnects",
            "Sockets closed, by cause kind (replaced: closed on purpose after a replacement was live).",
            None,
            MetricType::Counter,
        )?;
        for (cause, n) in status.closes_by_cause() {
            let labels = [("cause", cause)];
            ConstCounter::new(n).encode(closes.encode_family(&labels)?)?;
        }

        let methods = self.1.method_stats();
        let mut calls = encoder.encode_descriptor(
            "nonstop_web_calls",
            "Web API calls by method and outcome (ok, refused: ok:false, rate_limited: 429, failed: no answer Slack meant).",
            None,
            MetricType::Counter,
        )?;
        for (method, stats) in &methods {
            for (outcome, n) in [
                ("ok", stats.ok),
                ("refused", stats.refused),
                ("rate_limited", stats.rate_limited),
                ("failed", stats.failed),
            ] {
                let labels = [("method", method.as_str()), ("outcome", outcome)];
                ConstCounter::new(n).encode(calls.encode_family(&labels)?)?;
            }
        }
        let mut waited = encoder.encode_descriptor(
            "nonstop_web_rate_limit_wait_seconds",
            "Time calls waited before they were made because Slack had rate-limited the method.",
            None,
            MetricType::Counter,
        )?;
        for (method, stats) in &methods {
            let labels = [("method", method.as_str())];
            ConstCounter::new(stats.waited.as_secs_f64()).encode(waited.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// The metrics as text, as a scrape gets them.
pub(super) fn render(
    status: &Arc<Status>,
    web: &nonstop_web::WebClient,
    backlog: usize,
) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(StatusCollector(
        Arc::clone(status),
        web.clone(),
        backlog,
    )));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}
