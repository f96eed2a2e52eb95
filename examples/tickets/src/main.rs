//! Runs the example bot with the tokens in the environment (`SLACK_APP_TOKEN`,
//! `SLACK_BOT_TOKEN`, optionally `SLACK_API_URL`, e.g. a `nonstop sim`).

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = EnvFilter::try_from_env("NONSTOP_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let config = nonstop::Config::from_env()?;
    nonstop_example_tickets::app(config)
        .run(nonstop::shutdown_signal())
        .await?;
    Ok(())
}
