//! The example bot as an operator runs it (`nonstop::cli`): `tickets` or `tickets run` runs it with
//! the tokens in the environment (`SLACK_APP_TOKEN`, `SLACK_BOT_TOKEN`, optionally
//! `SLACK_API_URL`, e.g. a `nonstop sim`); `tickets doctor` checks its setup and the scopes its
//! listeners need; `tickets journal` and `tickets health` as for `nonstop`.

fn main() -> std::process::ExitCode {
    nonstop::cli::run(nonstop_example_tickets::app)
}
