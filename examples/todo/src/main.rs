//! Runs the example bot with the tokens in the environment (`SLACK_APP_TOKEN`,
//! `SLACK_BOT_TOKEN`, optionally `SLACK_API_URL`, e.g. a `nonstop sim`).

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .init();
    let config = nonstop::Config::from_env()?;
    nonstop_example_todo::app(config)
        .run(nonstop::shutdown_signal())
        .await?;
    Ok(())
}
