//! `doctor`: the setup walked step by step for this bot, with its listeners' scopes.

use super::error::CliError;
use crate::{App, Config};

/// `doctor`: each step's verdict as it comes, and the exit status.
pub(crate) async fn doctor(
    build: impl FnOnce(Config) -> App,
    post_to: Option<String>,
) -> Result<(), CliError> {
    use crate::doctor::{DoctorOptions, Verdict};
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            println!("FAIL settings: {e}");
            return Err(CliError::DoctorFailed {
                why: "the settings are incomplete; nothing else was checked".to_owned(),
            });
        }
    };
    let mut options = DoctorOptions::default();
    if let Some(installed) = crate::doctor::InstalledApp::from_env() {
        options = options.installed_app(installed);
    }
    if let Some(channel) = post_to {
        options = options.post_to(channel);
    }
    // This bot, as `run` would start it: its own listeners' scopes are checked too.
    let app = build(config);
    let findings = app
        .doctor(&options, |finding| {
            let step = finding.step.name();
            let line = match &finding.verdict {
                Verdict::Pass(seen) => format!("ok   {step}: {seen}"),
                Verdict::Fail { problem, fix } => {
                    format!("FAIL {step}: {problem}\n     fix: {fix}")
                }
                Verdict::Skipped(why) => format!("skip {step}: {why}"),
            };
            println!("{}", nonstop_web::redact(&line));
        })
        .await;
    let failed = findings
        .iter()
        .filter(|f| matches!(f.verdict, Verdict::Fail { .. }))
        .count();
    if failed > 0 {
        return Err(CliError::DoctorFailed {
            why: format!("{failed} step(s) failed; see the fixes above"),
        });
    }
    println!("all steps passed: the bot can connect");
    Ok(())
}
