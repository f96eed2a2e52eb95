//! Runs the example bot with the tokens in the environment (`SLACK_APP_TOKEN`,
//! `SLACK_BOT_TOKEN`, optionally `SLACK_API_URL`, e.g. a `nonstop sim`).

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter: Targets = std::env::var("NONSTOP_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing_subscriber::filter::LevelFilter::INFO));
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer())
        .with(filter)
        .init();
    let config = nonstop::Config::from_env()?;
    nonstop_example_tickets::app(config)
        .run(nonstop::shutdown_signal())
        .await?;
    Ok(())
}
