//! Tests that need what a machine may lack (Chromium, root and mount namespaces) say so when
//! they skip, where it is seen: a line in the test command's summary, not output the test
//! harness swallows. Where every test must run (CI sets `NONSTOP_NO_SKIPS=1`), a skip fails.

use std::io::Write;

/// Set (to anything) where no test may skip: a skip is then a failure naming what is missing.
pub const NO_SKIPS: &str = "NONSTOP_NO_SKIPS";
/// Where skips are written, one line each, for `scripts/test.sh` to print at the end.
pub const SKIP_LOG: &str = "NONSTOP_SKIP_LOG";

/// True when the test may go on: `available`. Otherwise records the skip of `test` with why
/// and what to install (in the file `NONSTOP_SKIP_LOG` names, and on stderr), and returns
/// false for the test to return; panics instead where `NONSTOP_NO_SKIPS` is set.
pub fn unless_missing(available: bool, test: &str, missing: &str) -> bool {
    if available {
        return true;
    }
    let line = format!("SKIPPED {test}: {missing}");
    assert!(
        std::env::var_os(NO_SKIPS).is_none(),
        "{line} ({NO_SKIPS} is set: every test must run here)"
    );
    if let Some(path) = std::env::var_os(SKIP_LOG) {
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{line}");
        }
    }
    eprintln!("{line}");
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one test of this crate's binary that touches the environment, so nothing runs
    /// beside it that reads these variables.
    #[test]
    fn a_skip_is_written_down_and_refused_where_every_test_must_run() {
        let log = std::env::temp_dir().join(format!("nonstop-skips-{}", std::process::id()));
        let _ = std::fs::remove_file(&log);
        std::env::set_var(SKIP_LOG, &log);
        std::env::remove_var(NO_SKIPS);
        assert!(unless_missing(true, "present", "nothing"));
        assert!(!unless_missing(
            false,
            "absent",
            "chromium is not installed"
        ));
        let written = std::fs::read_to_string(&log).unwrap_or_default();
        assert_eq!(written, "SKIPPED absent: chromium is not installed\n");

        std::env::set_var(NO_SKIPS, "1");
        let refused = std::panic::catch_unwind(|| unless_missing(false, "absent", "no root"));
        std::env::remove_var(NO_SKIPS);
        assert!(refused.is_err(), "a skip where none is allowed fails");
        let _ = std::fs::remove_file(&log);
    }
}
