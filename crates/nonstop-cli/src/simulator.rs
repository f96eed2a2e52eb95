//! `nonstop sim`: the Slack simulator on a port, with its tokens printed for a bot to use.

use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::Context as _;

/// Serves the simulator on 127.0.0.1:`port` until Ctrl-C or SIGTERM; with `rate`, also sends
/// `ping N` messages into channel C0DEMO at that rate; with `request_url`, envelopes are
/// POSTed there, signed, instead of going over sockets (a bot on `NONSTOP_TRANSPORT=http`).
pub(crate) async fn run(
    port: u16,
    rate: Option<f64>,
    request_url: Option<String>,
) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let sim = nonstop_sim::Sim::bind(addr, nonstop_sim::SimConfig::default())
        .await
        .with_context(|| format!("could not listen on {addr}"))?;
    let config = sim.config();
    // Whoever started us may stop reading stdout; that is no reason to stop serving.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Slack simulator on http://{}", sim.addr());
    let _ = writeln!(out, "  SLACK_API_URL={}", sim.api_url());
    let _ = writeln!(out, "  SLACK_APP_TOKEN={}", config.app_token);
    let _ = writeln!(out, "  SLACK_BOT_TOKEN={}", config.bot_token);
    let _ = writeln!(out, "  SLACK_SIGNING_SECRET={}", config.signing_secret);
    let _ = writeln!(
        out,
        "  SLACK_CLIENT_ID={} SLACK_CLIENT_SECRET={} (installs through OAuth)",
        config.client_id, config.client_secret
    );
    if let Some(url) = &request_url {
        sim.set_request_url(Some(url));
        let _ = writeln!(
            out,
            "  posting every envelope, signed, to {url} (a bot with NONSTOP_TRANSPORT=http)"
        );
    }
    let _ = writeln!(
        out,
        "  Socket Mode and RTM both: add NONSTOP_TRANSPORT=rtm for a classic bot (bot token only)"
    );
    let _ = writeln!(
        out,
        "  control: POST /_sim/fault {{\"kind\":\"drop\"}}, POST /_sim/send {{\"kind\":\"slash_command\",\"command\":\"/todo\"}}, GET /_sim/stats, /_sim/posted, /_sim/calls, /_sim/acks, /_sim/responses"
    );
    let _ = writeln!(
        out,
        "  or from a shell: nonstop sim send command /todo --text \"buy milk\" (nonstop sim send --help)"
    );
    let _ = out.flush();
    drop(out);
    nonstop_sim::serve_until(sim, rate, nonstop::shutdown_signal()).await;
    Ok(())
}
