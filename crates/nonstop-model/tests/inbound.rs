//! Every inbound kind builds into the payload Slack sends, as the model's own types read it;
//! the JSON form (the simulator's control API) reads back to the same description.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nonstop_model::inbound::{self, Built, Inbound, Picked, Stamp};
use nonstop_model::{
    BlockActions, ElementKind, MessageEvent, OptionsRequest, ReactionEvent, Shortcut, SlashCommand,
    ViewPayload,
};
use serde_json::{json, Value};

const STAMP: Stamp<'static> = Stamp {
    team_id: "T1",
    app_id: "A1",
    bot_user_id: "UBOT",
    n: 7,
    ts: "1700000000.000007",
    response_url: "http://127.0.0.1:9/respond/7",
};

fn event(inbound: impl Into<Inbound>) -> Value {
    match inbound.into().build(&STAMP) {
        Built::Event(event) => event,
        other => panic!("not an event: {other:?}"),
    }
}

fn envelope(inbound: impl Into<Inbound>, expected_type: &str) -> Value {
    match inbound.into().build(&STAMP) {
        Built::Envelope {
            envelope_type,
            payload,
            accepts_response_payload,
        } => {
            assert_eq!(envelope_type, expected_type);
            assert!(
                accepts_response_payload,
                "Slack takes an answer in this ack"
            );
            payload
        }
        other => panic!("not an envelope: {other:?}"),
    }
}

#[test]
fn messages_and_mentions_read_as_message_events() {
    let m: MessageEvent = serde_json::from_value(event(
        inbound::message("hello")
            .channel("C9")
            .user("U9")
            .in_thread("5.0"),
    ))
    .unwrap();
    assert_eq!(
        (m.channel.as_deref(), m.user.as_deref(), m.text.as_deref()),
        (Some("C9"), Some("U9"), Some("hello"))
    );
    assert_eq!(m.thread_ts.as_deref(), Some("5.0"));
    assert_eq!(
        m.ts.as_deref(),
        Some(STAMP.ts),
        "a fresh ts when none is named"
    );
    let dm = event(inbound::message("psst").direct());
    assert_eq!(dm["channel_type"], "im");

    let mention = event(inbound::app_mention("deploy"));
    assert_eq!(mention["type"], "app_mention");
    assert_eq!(
        mention["text"], "<@UBOT> deploy",
        "the bot's mention in front"
    );
    let already = event(inbound::message("hey <@UBOT>").mention());
    assert_eq!(already["text"], "hey <@UBOT>", "not mentioned twice");
}

#[test]
fn reactions_read_as_reaction_events() {
    let added = event(
        inbound::reaction_added("white_check_mark")
            .user("U2")
            .on_message("C1", "100.0"),
    );
    assert_eq!(added["type"], "reaction_added");
    let r: ReactionEvent = serde_json::from_value(added).unwrap();
    assert_eq!(
        (r.user.as_str(), r.reaction.as_str(), r.item.ts.as_deref()),
        ("U2", "white_check_mark", Some("100.0"))
    );
    assert_eq!(
        event(inbound::reaction_removed("x"))["type"],
        "reaction_removed"
    );
}

#[test]
fn a_slash_command_reads_with_its_response_url() {
    let payload = envelope(
        inbound::slash_command("todo")
            .text("buy milk")
            .channel("C3")
            .user("U3"),
        "slash_commands",
    );
    let c: SlashCommand = serde_json::from_value(payload).unwrap();
    assert_eq!(c.command, "/todo", "the slash is added");
    assert_eq!(
        (c.text.as_str(), c.channel_id.as_str(), c.user_id.as_str()),
        ("buy milk", "C3", "U3")
    );
    assert_eq!(c.response_url.as_deref(), Some(STAMP.response_url));
    assert!(c.trigger_id.is_some());
}

#[test]
fn block_actions_read_with_their_element_and_what_was_picked() {
    let click = envelope(
        inbound::button("approve")
            .value("42")
            .user("U2")
            .channel("C1")
            .message_ts("100.0"),
        "interactive",
    );
    let body: BlockActions = serde_json::from_value(click).unwrap();
    let action = &body.actions[0];
    assert_eq!(action.element(), ElementKind::Button);
    assert_eq!(action.selected(), vec!["42"]);
    assert_eq!(
        (body.channel_id(), body.message_ts(), body.user.id.as_str()),
        (Some("C1"), Some("100.0"), "U2")
    );

    let cases = [
        (
            Picked::Option("high".into()),
            ElementKind::StaticSelect,
            vec!["high"],
        ),
        (
            Picked::Options(vec!["a".into(), "b".into()]),
            ElementKind::MultiStaticSelect,
            vec!["a", "b"],
        ),
        (
            Picked::Checkboxes(vec!["c".into()]),
            ElementKind::Checkboxes,
            vec!["c"],
        ),
        (
            Picked::Radio("r".into()),
            ElementKind::RadioButtons,
            vec!["r"],
        ),
        (
            Picked::Overflow("o".into()),
            ElementKind::Overflow,
            vec!["o"],
        ),
        (
            Picked::User("U5".into()),
            ElementKind::UsersSelect,
            vec!["U5"],
        ),
        (
            Picked::Users(vec!["U5".into(), "U6".into()]),
            ElementKind::MultiUsersSelect,
            vec!["U5", "U6"],
        ),
        (
            Picked::Conversation("C5".into()),
            ElementKind::ConversationsSelect,
            vec!["C5"],
        ),
        (
            Picked::Channel("C6".into()),
            ElementKind::ChannelsSelect,
            vec!["C6"],
        ),
        (
            Picked::Date("2026-12-24".into()),
            ElementKind::DatePicker,
            vec!["2026-12-24"],
        ),
        (
            Picked::Time("09:30".into()),
            ElementKind::TimePicker,
            vec!["09:30"],
        ),
        (
            Picked::Text("typed".into()),
            ElementKind::PlainTextInput,
            vec!["typed"],
        ),
    ];
    for (picked, kind, selected) in cases {
        let payload = envelope(inbound::block_action("pick", picked.clone()), "interactive");
        let body: BlockActions = serde_json::from_value(payload).unwrap();
        assert_eq!(body.actions[0].element(), kind, "{picked:?}");
        assert_eq!(body.actions[0].selected(), selected, "{picked:?}");
    }

    let in_home = envelope(
        inbound::button("refresh").in_view("V1", "home"),
        "interactive",
    );
    let body: BlockActions = serde_json::from_value(in_home).unwrap();
    assert_eq!(body.view.as_ref().map(|v| v.id.as_str()), Some("V1"));
    assert_eq!(body.channel_id(), None);
}

#[test]
fn views_submitted_and_closed_read_with_their_values() {
    let submitted = envelope(
        inbound::view_submission("new-ticket")
            .text("title", "title", "printer on fire")
            .input("priority", "priority", Picked::Option("high".into()))
            .input("who", "who", Picked::Users(vec!["U1".into(), "U2".into()]))
            .private_metadata("C42")
            .user("U4"),
        "interactive",
    );
    let p: ViewPayload = serde_json::from_value(submitted).unwrap();
    assert_eq!(p.kind, "view_submission");
    assert_eq!(p.view.callback_id, "new-ticket");
    assert_eq!(p.view.input("title", "title"), Some("printer on fire"));
    assert_eq!(p.view.input("priority", "priority"), Some("high"));
    assert_eq!(p.view.selected("who", "who"), vec!["U1", "U2"]);
    assert_eq!(p.view.private_metadata.as_deref(), Some("C42"));
    assert_eq!(p.user.id, "U4");

    let closed = envelope(inbound::view_closed("new-ticket"), "interactive");
    let p: ViewPayload = serde_json::from_value(closed).unwrap();
    assert_eq!(p.kind, "view_closed");
    assert_eq!(p.is_cleared, Some(false));
}

#[test]
fn shortcuts_and_options_loads_read() {
    let global = envelope(
        inbound::global_shortcut("new-ticket").user("U7"),
        "interactive",
    );
    let s: Shortcut = serde_json::from_value(global).unwrap();
    assert_eq!(
        (s.kind.as_str(), s.callback_id.as_str()),
        ("shortcut", "new-ticket")
    );
    assert!(s.message.is_none());

    let on_message = envelope(
        inbound::message_shortcut("quote").on_message("C1", "100.0", "wise words"),
        "interactive",
    );
    let s: Shortcut = serde_json::from_value(on_message).unwrap();
    assert_eq!(s.kind, "message_action");
    assert_eq!(s.channel.as_ref().map(|c| c.id.as_str()), Some("C1"));
    assert_eq!(s.message.as_ref().unwrap()["text"], "wise words");

    let load = envelope(
        inbound::options_load("pick-user").query("ad"),
        "interactive",
    );
    let o: OptionsRequest = serde_json::from_value(load).unwrap();
    assert_eq!(
        (o.action_id.as_str(), o.value.as_str()),
        ("pick-user", "ad")
    );
}

#[test]
fn the_json_form_names_the_kind_and_defaults_the_rest() {
    let described: Inbound = serde_json::from_value(json!({
        "kind": "slash_command", "command": "/todo", "text": "buy milk"
    }))
    .unwrap();
    assert_eq!(
        described,
        inbound::slash_command("/todo").text("buy milk").into()
    );
    let click: Inbound = serde_json::from_value(json!({
        "kind": "block_action", "action_id": "pick", "picked": {"option": "high"},
        "container": {"message": {"channel": "C1", "ts": "100.0"}}
    }))
    .unwrap();
    assert_eq!(
        click,
        inbound::block_action("pick", Picked::Option("high".into()))
            .channel("C1")
            .message_ts("100.0")
            .into()
    );
    // Every kind written out reads back the same.
    let all: Vec<Inbound> = vec![
        inbound::message("hi").into(),
        inbound::app_mention("hi"),
        inbound::reaction_added("tada").into(),
        inbound::event(json!({"type": "team_join"})),
        inbound::slash_command("/x").into(),
        inbound::button("b").value("v").into(),
        inbound::view_submission("cb").text("b", "a", "t").into(),
        inbound::view_closed("cb"),
        inbound::global_shortcut("g").into(),
        inbound::message_shortcut("m").into(),
        inbound::options_load("o").into(),
    ];
    for inbound in all {
        let text = serde_json::to_string(&inbound).unwrap();
        let back: Inbound = serde_json::from_str(&text).unwrap();
        assert_eq!(back, inbound, "{text}");
    }
    let unknown = serde_json::from_value::<Inbound>(json!({"kind": "telepathy"}));
    assert!(unknown.unwrap_err().to_string().contains("telepathy"));
}
