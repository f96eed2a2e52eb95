"""The official Python slack-sdk's SocketModeClient against `nonstop sim`.

Proves the simulator speaks Slack's protocol as the official SDK expects: the client opens a
connection through apps.connections.open, receives events_api envelopes, acks them, and posts
replies through chat.postMessage, which the simulator records. When this disagrees with the
simulator, the simulator is what gets fixed.

Usage: python python_sdk_check.py http://127.0.0.1:PORT
"""

import json
import sys
import time
import urllib.request

from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web import WebClient

APP_TOKEN = "xapp-1-A0SIM-0000-simulatedapptoken"
BOT_TOKEN = "xoxb-0000-0000-simulatedbottoken"
MESSAGES = 5
DEADLINE_SECS = 30


def control(base, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path,
        data=data,
        headers={"content-type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def main(base):
    web = WebClient(token=BOT_TOKEN, base_url=base + "/api/")
    auth = web.auth_test()
    assert auth["ok"] and auth["user_id"], auth
    client = SocketModeClient(app_token=APP_TOKEN, web_client=web)
    events = []

    def on_request(client: SocketModeClient, req: SocketModeRequest):
        client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
        if req.type != "events_api":
            return
        event = req.payload.get("event", {})
        events.append(event)
        if event.get("bot_id") or event.get("user") == auth["user_id"]:
            return
        text = event.get("text", "")
        if text.startswith("ping"):
            client.web_client.chat_postMessage(
                channel=event["channel"], text="pong" + text[4:], thread_ts=event.get("thread_ts")
            )

    client.socket_mode_request_listeners.append(on_request)
    client.connect()
    deadline = time.time() + DEADLINE_SECS
    while control(base, "/_sim/stats")["live_sockets"] < 1:
        if time.time() > deadline:
            raise SystemExit("FAIL: the SDK client never said hello to the simulator")
        time.sleep(0.1)

    for i in range(MESSAGES):
        control(base, "/_sim/message", {"channel": "C1", "user": "U1", "text": f"ping sdk-{i}"})

    wanted = {f"pong sdk-{i}" for i in range(MESSAGES)}
    while True:
        posted = {p["text"] for p in control(base, "/_sim/posted")}
        stats = control(base, "/_sim/stats")
        if wanted <= posted and stats["pending"] == 0:
            break
        if time.time() > deadline:
            raise SystemExit(f"FAIL: missing replies {sorted(wanted - posted)}; stats {stats}")
        time.sleep(0.1)
    client.close()
    print(
        f"python slack-sdk SocketModeClient: {len(events)} events received, "
        f"{stats['acks']} acks, {len(wanted)} replies recorded, {stats['redeliveries']} redeliveries"
    )
    print(f"{MESSAGES} passed, 0 failed")


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"))
