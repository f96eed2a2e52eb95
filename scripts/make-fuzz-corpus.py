#!/usr/bin/env python3
"""Writes the fuzz corpus (fuzz/corpus/) from the captured payload fixtures: each payload
wrapped in the Socket Mode envelope it arrives in, plus control frames; and journal rows cut
the way fuzz/fuzz_targets/journal_rows.rs reads them (fields split at 0xff). Run it again
when fixtures are added; the corpus is committed."""
import json
import pathlib
import struct

root = pathlib.Path(__file__).resolve().parent.parent
fixtures = root / "crates/nonstop/tests/fixtures"
frames = root / "fuzz/corpus/socket_frame"
rows = root / "fuzz/corpus/journal_rows"
frames.mkdir(parents=True, exist_ok=True)
rows.mkdir(parents=True, exist_ok=True)


def kind_of(path):
    text = str(path)
    if "/events/" in text:
        return "events_api"
    if "slash" in text:
        return "slash_commands"
    return "interactive"


def number(n):
    return struct.pack("<q", n)


count = 0
for path in sorted(fixtures.rglob("*.json")):
    try:
        payload = json.loads(path.read_text())
    except ValueError:
        continue
    count += 1
    frame = {
        "envelope_id": f"fz-{count}",
        "type": kind_of(path),
        "accepts_response_payload": kind_of(path) != "events_api",
        "retry_attempt": 0,
        "retry_reason": "",
        "payload": payload,
    }
    raw = json.dumps(frame, separators=(",", ":")).encode()
    (frames / f"{count:03}-{path.stem}.json").write_bytes(raw)
    if count % 4 == 0:
        fields = [
            f"Ev{count}".encode(), f"fz-{count}".encode(), frame["type"].encode(), raw,
            number(1_700_000_000_000), number(count % 4), number(count % 3),
            b"C1", b"chat.postMessage", b'{"channel":"C1","text":"pong"}',
            b'{"ok":true,"channel":"C1","ts":"1700000000.000100"}',
            number(1_700_000_000_000), number(count % 3), number(0),
        ]
        (rows / f"{count:03}-{path.stem}").write_bytes(b"\xff".join(fields))

controls = {
    "hello": {"type": "hello", "num_connections": 1, "debug_info": {"host": "applink-1", "approximate_connection_time": 18060}},
    "hello-extreme": {"type": "hello", "debug_info": {"approximate_connection_time": 18446744073709551615}},
    "disconnect": {"type": "disconnect", "reason": "refresh_requested"},
    "disconnect-odd": {"type": "disconnect", "reason": "x\n\u001b[31m"},
    "unreadable": {"envelope_id": "u1", "type": "events_api", "retry_attempt": -1, "payload": "text"},
    "unknown": {"envelope_id": "k1", "type": "workflow_step", "payload": {}},
}
for name, frame in controls.items():
    (frames / f"control-{name}.json").write_bytes(json.dumps(frame).encode())
print(f"{count} payloads, {len(controls)} control frames")
