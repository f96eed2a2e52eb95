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

use crate::status::{MetricKind, Status, COUNTERS};

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
        for metric in COUNTERS {
            let value = (metric.read)(&s.counters);
            // Doc comments come line by line, each with its leading space.
            let help = metric.help.split_whitespace().collect::<Vec<_>>().join(" ");
            match metric.kind {
                MetricKind::counter => {
                    let counter = ConstCounter::new(value);
                    let family = encoder.encode_descriptor(
                        metric.name,
                        &help,
                        None,
                        counter.metric_type(),
                    )?;
                    counter.encode(family)?;
                }
                MetricKind::gauge => {
                    let gauge = ConstGauge::new(value as i64);
                    let family =
                        encoder.encode_descriptor(metric.name, &help, None, gauge.metric_type())?;
                    gauge.encode(family)?;
                }
            }
        }

        let gauges: [(&str, &str, i64); 3] = [
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

        encode_web_calls(&self.1, &mut encoder)
    }
}

/// Web API calls by method and outcome, and the time calls waited out rate limits.
fn encode_web_calls(
    web: &nonstop_web::WebClient,
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let methods = web.method_stats();
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
