//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`; not part of the API).
//! Each takes bytes that a peer or a file controls and runs them through the runtime's own
//! reading code, as far as it goes without a socket. None of it may panic, whatever the bytes.

use std::sync::Arc;

use nonstop_model::{
    BlockActions, EventCallback, MemberJoinedChannel, MessageEvent, OptionsRequest, ParsedFrame,
    ReactionEvent, Shortcut, SlashCommand, ViewPayload,
};
use rusqlite::params;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::delivery::{replayed_envelope, waiting_envelope};
use crate::envelope::Envelope;
use crate::journal::{JournalStore, OutboxStore, SqliteStore};
use crate::router::Request;

/// A text frame as a Socket Mode connection reads it: the head, the envelope, the request
/// listeners see, and each typed payload a listener can ask for.
pub fn socket_frame(data: &[u8]) {
    // WebSocket text frames are UTF-8 (tungstenite checks before we see them).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(frame) = ParsedFrame::parse(data) else {
        return;
    };
    if let Some(envelope) = Envelope::from_frame(frame, Arc::from(text), Instant::now(), 0) {
        listeners_view(envelope);
    }
}

/// What listeners and middleware read from an envelope.
fn listeners_view(envelope: Envelope) {
    let Ok(request) = Request::from_envelope(envelope) else {
        return;
    };
    let _ = request.message();
    let _ = request.meta();
    crate::router::heard_by("U0BOT", &request);
    let payload: &Value = &request.payload;
    let _ = EventCallback::deserialize(payload);
    let _ = SlashCommand::deserialize(payload);
    let _ = BlockActions::deserialize(payload);
    let _ = ViewPayload::deserialize(payload);
    let _ = Shortcut::deserialize(payload);
    let _ = OptionsRequest::deserialize(payload);
    if let Some(event) = request.event() {
        let _ = MessageEvent::deserialize(event);
        let _ = ReactionEvent::deserialize(event);
        let _ = MemberJoinedChannel::deserialize(event);
    }
}

/// A journal whose rows hold whatever a damaged or hand-edited file could: the fields of one
/// event row and one outbox row are cut from `data`, stored as they are (SQLite keeps any type
/// in any column), then read back as a restart would: unfinished events rebuilt into
/// envelopes for replay, answers to send, counts and listings.
pub fn journal_rows(data: &[u8]) {
    let Ok(store) = SqliteStore::open_in_memory() else {
        return;
    };
    let mut fields = data.split(|b| *b == 0xff);
    let mut next = || fields.next().unwrap_or_default();
    let (key, envelope_id, kind, raw) = (next(), next(), next(), next());
    let (received_at, state, attempts) = (number(next()), number(next()), number(next()));
    let (lane, method, args, result) = (next(), next(), next(), next());
    let (created_at, out_state, attempted_at) = (number(next()), number(next()), number(next()));
    // A text column given bytes that are not UTF-8 is stored as a blob: reading it must fail
    // cleanly.
    let value = |bytes: &[u8]| match std::str::from_utf8(bytes) {
        Ok(text) => rusqlite::types::Value::Text(text.to_owned()),
        Err(_) => rusqlite::types::Value::Blob(bytes.to_vec()),
    };
    {
        let conn = store.connection();
        let _ = conn.execute(
            "INSERT INTO events (key, envelope_id, kind, raw, received_at, state, attempts, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0)",
            params![value(key), value(envelope_id), value(kind), value(raw), received_at, state, attempts],
        );
        let _ = conn.execute(
            "INSERT INTO outbox (key, lane, method, args, created_at, state, attempts, attempted_at, result, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)",
            params![value(key), value(lane), value(method), value(args), created_at, out_state, attempts, attempted_at, value(result)],
        );
    }
    if let Ok(entries) = store.unfinished(16) {
        for entry in &entries {
            if let Some(envelope) = replayed_envelope(entry) {
                listeners_view(envelope);
            }
            let _ = waiting_envelope(entry);
        }
    }
    if let Ok(outputs) = store.outbox_unfinished(16) {
        for output in &outputs {
            // What the sender reads of an answer it is to send, and of one that went out.
            let _ = serde_json::from_str::<serde_json::Map<String, Value>>(&output.args);
            let delivered = crate::outbox::Delivered::from_result(output.result.as_deref());
            let _ = (delivered.ts(), delivered.channel());
        }
    }
    let _ = store.counts();
    let _ = store.recent(16, None);
    let _ = store.outbox_recent(16, None);
    let _ = store.outbox_counts();
}

/// Up to 8 bytes as a little-endian number: any i64, the extremes included.
fn number(bytes: &[u8]) -> i64 {
    let mut buffer = [0u8; 8];
    for (slot, byte) in buffer.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    i64::from_le_bytes(buffer)
}

#[cfg(test)]
mod tests {
    /// The committed corpus (`fuzz/corpus/`) goes through every entry point on the stable
    /// toolchain: `scripts/fuzz.sh` runs this before fuzzing.
    #[test]
    fn the_corpus_runs_without_a_panic() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
        let mut ran = 0;
        for (target, run) in [
            ("socket_frame", super::socket_frame as fn(&[u8])),
            ("journal_rows", super::journal_rows),
        ] {
            let Ok(files) = std::fs::read_dir(root.join(target)) else {
                continue;
            };
            for file in files.flatten() {
                if let Ok(data) = std::fs::read(file.path()) {
                    run(&data);
                    ran += 1;
                }
            }
        }
        assert!(ran > 0, "no corpus under {}", root.display());
        // The extremes by hand.
        super::journal_rows(&[]);
        super::journal_rows(&[0xff; 64]);
        super::socket_frame(b"");
    }
}
