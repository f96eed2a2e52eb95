//! `journal`: what the bot's journal holds, read without disturbing a bot running on it.

use std::io::Write as _;

use super::error::CliError;
use crate::journal::Store;

/// A journal opened to read, how to name it, and lines on the replicas that share it.
type Readable = (Box<dyn Store>, String, Vec<String>);

/// The journal the bot's settings name, opened to read while bots run on it: the Redis of
/// `REDIS_URL` (as no replica), else the SQLite file of `NONSTOP_DB`. Returns it, how to
/// name it, and with Redis, lines on the replicas that share it.
fn journal_to_read() -> Result<Readable, CliError> {
    if let Some(url) = std::env::var(crate::config::ENV_REDIS_URL)
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        let prefix =
            std::env::var(crate::config::ENV_REDIS_PREFIX).unwrap_or_else(|_| "nonstop".to_owned());
        let ca = std::env::var(crate::config::ENV_REDIS_CA)
            .ok()
            .filter(|p| !p.trim().is_empty())
            .map(|p| std::path::PathBuf::from(p.trim()));
        let options = crate::journal::RedisOptions {
            prefix: prefix.trim().to_owned(),
            ..crate::journal::RedisOptions::default()
        }
        .with_ca_file(ca.as_deref())?;
        let store = crate::journal::RedisStore::open_read_only(url.trim(), options)?;
        let name = format!("{} prefix {}", store.url(), prefix.trim());
        let replicas = store
            .replicas()?
            .into_iter()
            .map(|r| {
                let lease = match r.lease_left {
                    Some(left) => format!("lease {:.0} s left", left.as_secs_f64()),
                    None => "gone (lease ran out or given up)".to_owned(),
                };
                format!(
                    "  {} {lease}, {} sockets, {} events unfinished, {} answers waiting",
                    r.id, r.sockets, r.unfinished, r.answers_waiting
                )
            })
            .collect();
        return Ok((Box::new(store), name, replicas));
    }
    let path = std::env::var(crate::config::ENV_DB)
        .unwrap_or_else(|_| crate::config::DEFAULT_DB.to_owned());
    if !std::path::Path::new(&path).exists() {
        return Err(CliError::NoJournal { path });
    }
    // Read only: a bot may be running on it, and looking must never create or change a file.
    Ok((
        Box::new(crate::journal::SqliteStore::open_read_only(&path)?),
        path,
        Vec::new(),
    ))
}

pub(crate) fn journal(limit: usize) -> Result<(), CliError> {
    use crate::journal::EntryState;
    let (store, path, replicas) = journal_to_read()?;
    let store = store.as_ref();
    let mut out = std::io::stdout().lock();
    let counts = store.counts()?;
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let serving = match store.bot()? {
        Some(bot) => format!(", serving bot {bot}"),
        None => String::new(),
    };
    writeln!(out, "journal {path}: {total} events{serving}")?;
    for (state, n) in &counts {
        writeln!(out, "  {:<10} {n}", state.as_str())?;
    }
    if !replicas.is_empty() {
        writeln!(out, "\nreplicas (longest lease first):")?;
        for line in replicas {
            writeln!(out, "{line}")?;
        }
    }
    let when = |e: &crate::journal::Entry| {
        e.received_at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    writeln!(
        out,
        "\nrecent (newest first): seq, received (unix s), state, attempts, key, type"
    )?;
    for e in store.recent(limit, None)? {
        writeln!(
            out,
            "  {:>8} {} {:<10} {} {} {}",
            e.seq,
            when(&e),
            e.state.as_str(),
            e.attempts,
            e.key,
            e.kind
        )?;
    }
    let failed = store.recent(limit, Some(EntryState::Failed))?;
    if !failed.is_empty() {
        writeln!(out, "\nfailures (newest first):")?;
        for e in failed {
            writeln!(
                out,
                "  {:>8} {} {}: {}",
                e.seq,
                when(&e),
                e.key,
                nonstop_web::redact(e.error.as_deref().unwrap_or("?"))
            )?;
        }
    }
    // A journal from before the outbox (schema 1, opened read only) has none.
    if let Err(e) = outbox(&mut out, store, limit) {
        writeln!(out, "\noutbox: not readable ({e})")?;
    }
    Ok(())
}

/// The outbox part of `nonstop journal`: answers by state, those not delivered yet, and
/// those Slack refused.
fn outbox(out: &mut impl std::io::Write, store: &dyn Store, limit: usize) -> Result<(), CliError> {
    use crate::journal::OutputState;
    let counts = store.outbox_counts()?;
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    writeln!(out, "\noutbox: {total} answers")?;
    for (state, n) in &counts {
        writeln!(out, "  {:<10} {n}", state.as_str())?;
    }
    let written = |o: &crate::journal::Output| {
        o.created_at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    // Every process's, newest first (`outbox_unfinished` would be this process's own: with
    // Redis, none).
    let waiting = store.outbox_recent(limit, Some(OutputState::Pending))?;
    if !waiting.is_empty() {
        writeln!(
            out,
            "\nnot delivered yet (newest first): id, written (unix s), calls made, key, method, lane"
        )?;
        for o in waiting {
            writeln!(
                out,
                "  {:>8} {} {} {} {} {}",
                o.id,
                written(&o),
                o.attempts,
                o.key,
                o.method,
                o.lane
            )?;
        }
    }
    let refused = store.outbox_recent(limit, Some(OutputState::Failed))?;
    if !refused.is_empty() {
        writeln!(out, "\nanswers Slack refused (newest first):")?;
        for o in refused {
            writeln!(
                out,
                "  {:>8} {} {}: {}: {}",
                o.id,
                written(&o),
                o.key,
                o.method,
                nonstop_web::redact(o.error.as_deref().unwrap_or("?"))
            )?;
        }
    }
    Ok(())
}
