//! The example agent as an operator runs it (`nonstop::cli`): `agent` or `agent run` with the
//! Slack tokens and the model's settings in the environment (`AGENT_API_URL`, e.g.
//! `https://api.openai.com/v1`, `AGENT_MODEL`, `AGENT_API_KEY`); `agent doctor`,
//! `agent manifest` and the other operator commands as for every nonstop bot.

fn main() -> std::process::ExitCode {
    nonstop::cli::run(nonstop_example_agent::app)
}
