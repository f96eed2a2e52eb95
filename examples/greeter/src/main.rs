//! The example bot as an operator runs it (`nonstop::cli`): `greeter` or `greeter run` runs it with
//! the tokens in the environment (`SLACK_APP_TOKEN`, `SLACK_BOT_TOKEN`, optionally
//! `SLACK_API_URL`, e.g. a `nonstop sim`); `greeter doctor` checks its setup and the scopes its
//! listeners need; `greeter journal` and `greeter health` as for `nonstop`.

fn main() -> std::process::ExitCode {
    nonstop::cli::run(nonstop_example_greeter::app)
}
