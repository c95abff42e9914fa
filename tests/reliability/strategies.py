"""Hypothesis strategies for hostile platform input: Telegram updates, Slack payloads, YAML.

Each strategy starts from the documented shape (so examples get past the first checks
and reach the conversation) and then breaks it: odd unicode (lone surrogates, control
and bidi characters, template syntax), huge texts, unknown fields, wrong types, missing
keys.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

from hypothesis import strategies as st

from bot.channels.slack_blocks import ACTION_PREFIX
from bot.handoff.telegram_desk import CALLBACK_PREFIX

NASTY = [
    "",
    " ",
    "\x00",
    "\ud800",  # a lone surrogate: not encodable as UTF-8
    "a\udfffb",
    "\u202eevil\u202c",  # right-to-left override
    "\u200b\u200d\ufeff",
    "Z\u0351\u0353\u0326a\u035bl\u0315go\u0336",
    "{{ 7*7 }}",
    "{% for x in range(3) %}x{% endfor %}",
    "{{ ''.__class__.__mro__ }}",
    "${7*7} #{7*7} <%= 7*7 %>",
    "<b>bold</b> *bold* _it_ <@U1> <!channel> &amp;",
    "/start",
    "/start order_WS-10001",
    "/start@shop_bot " + "x" * 300,
    "/help extra",
    "menu",
    "human",
    "echo",
    "WS-10001",
    "\r\n\t",
    "👍🏽👨‍👩‍👧‍👦🇺🇳",
    "null",
    "[]",
    "{}",
]

surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=())
any_char = st.characters(exclude_categories=()) | surrogates

hostile_text = st.one_of(
    st.sampled_from(NASTY),
    st.text(any_char, max_size=40),
    st.lists(st.sampled_from(NASTY), min_size=1, max_size=4).map(" ".join),
    st.builds(
        lambda unit, n: unit * n,
        st.sampled_from(["a", "é ", "😀", "\u200b", "\n\n", "word ", "{{ x }}", "\ud83d"]),
        st.integers(1000, 30_000),
    ),
)
"""Texts a customer (or a broken client) might send."""

huge_text = st.builds(
    lambda unit, n: unit * n, st.sampled_from(["a", "ab ", "😀", "\n"]), st.integers(4097, 110_000)
)

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
json_any = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
"""Any JSON value: what a field holds when its type is wrong."""

big_int = st.integers(-(2**63), 2**63)


@st.composite
def mutated(draw: st.DrawFn, value: dict[str, Any], max_mutations: int = 3) -> dict[str, Any]:
    """``value`` with some keys (at any depth) replaced, deleted, or unknown ones added."""
    for _ in range(draw(st.integers(0, max_mutations))):
        target = value
        dicts = [value]
        while True:  # pick a nested dict to change
            inner = [v for v in target.values() if isinstance(v, dict)]
            if not inner or draw(st.booleans()):
                break
            target = draw(st.sampled_from(inner))
            dicts.append(target)
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "add" or not target:
            target[draw(st.text(max_size=12))] = draw(json_any)
        else:
            key = draw(st.sampled_from(sorted(target)))
            if action == "delete":
                del target[key]
            else:
                target[key] = draw(json_any)
    return value


# ---- Telegram --------------------------------------------------------------------------


@st.composite
def telegram_update(draw: st.DrawFn) -> Any:
    """A Bot API update as JSON: mostly well-formed, often broken."""
    user_id = draw(st.integers(1, 40) | big_int)
    user: dict[str, Any] = {"id": user_id, "is_bot": draw(st.booleans()), "first_name": ""}
    user["first_name"] = draw(hostile_text)
    if draw(st.booleans()):
        user["last_name"] = draw(hostile_text)
    if draw(st.booleans()):
        user["language_code"] = draw(st.sampled_from(["en", "de", "", "xx-YY", "\ud800"]))
    chat_type = draw(st.sampled_from(["private"] * 5 + ["group", "supergroup", "channel", "??"]))
    chat_id = user_id if chat_type == "private" and draw(st.booleans()) else draw(big_int)
    chat = {"id": chat_id, "type": chat_type, "first_name": user["first_name"]}
    message: dict[str, Any] = {
        "message_id": draw(st.integers(1, 2**31)),
        "from": user,
        "chat": chat,
        "date": draw(st.integers(0, 2**32)),
    }
    kind = draw(
        st.sampled_from(["text", "command", "huge", "photo", "sticker", "empty", "callback"])
    )
    update: dict[str, Any] = {"update_id": draw(st.integers(1, 2**40))}
    if kind == "callback":
        data = draw(
            st.sampled_from(["m:where_is_my_order", "g:menu", "g:person", "b:1:0", "k:2:s"])
            | st.text(any_char, max_size=70)
            | st.just(f"{CALLBACK_PREFIX}take:1")
        )
        on = {**message, "from": {"id": 123456789, "is_bot": True, "first_name": "Shop Bot"}}
        update["callback_query"] = {
            "id": str(draw(st.integers(0, 2**63))),
            "from": user,
            "message": on,
            "chat_instance": "-1",
            "data": data,
        }
    else:
        if kind in ("text", "command"):
            message["text"] = draw(hostile_text)
        if kind == "command":
            message["text"] = "/" + message["text"]
            message["entities"] = [
                {
                    "type": "bot_command",
                    "offset": draw(st.integers(-3, 5)),
                    "length": draw(st.integers(-3, 400)),
                }
            ]
        if kind == "huge":
            message["text"] = draw(huge_text)
        if kind == "photo":
            message["photo"] = [{"file_id": "x", "file_unique_id": "y", "width": 1, "height": 1}]
            message["caption"] = draw(hostile_text)
        if kind == "sticker":
            message["sticker"] = draw(json_any)
        field = draw(st.sampled_from(["message"] * 4 + ["edited_message", "channel_post"]))
        update[field] = message
    return draw(mutated(update))


# ---- Slack -----------------------------------------------------------------------------

SLACK_CHANNELS = ["D1", "D2", "D3", "C1", "CDESK", ""]
SLACK_USERS = ["U1", "U2", "U3", "UBOT", ""]


def slack_envelope(event: Any, event_id: Any) -> dict[str, Any]:
    return {
        "token": "verification-token",
        "team_id": "T0001",
        "api_app_id": "A0001",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
    }


@st.composite
def slack_event_body(draw: st.DrawFn) -> tuple[bytes, str]:
    ts = f"{draw(st.integers(1_600_000_000, 1_800_000_000))}.{draw(st.integers(0, 999999)):06d}"
    event: dict[str, Any] = {
        "type": draw(st.sampled_from(["message", "message", "app_mention", "reaction_added"])),
        "channel": draw(st.sampled_from(SLACK_CHANNELS) | hostile_text),
        "user": draw(st.sampled_from(SLACK_USERS) | hostile_text),
        "text": draw(hostile_text | huge_text),
        "ts": ts,
        "event_ts": ts,
        "channel_type": draw(st.sampled_from(["im", "im", "channel", "group", "mpim", "x"])),
    }
    if draw(st.booleans()):
        event["thread_ts"] = draw(st.sampled_from([ts, "1.000001"]) | hostile_text)
    if draw(st.integers(0, 4)) == 0:
        event["subtype"] = draw(
            st.sampled_from(["file_share", "bot_message", "message_changed", "thread_broadcast"])
        )
    if draw(st.integers(0, 4)) == 0:
        event["files"] = draw(st.lists(json_any, max_size=2) | json_any)
    if draw(st.integers(0, 6)) == 0:
        event["bot_id"] = "B1"
    event_id = draw(st.text(st.characters(codec="ascii"), min_size=1, max_size=20) | json_any)
    body = draw(mutated(slack_envelope(draw(mutated(event)), event_id)))
    return json.dumps(body).encode(), "application/json"


@st.composite
def slack_action_body(draw: st.DrawFn) -> tuple[bytes, str]:
    channel = draw(st.sampled_from(SLACK_CHANNELS) | hostile_text)
    action_id = draw(
        st.sampled_from([f"{ACTION_PREFIX}0", "supportdesk_take", "supportdesk_close", "other"])
        | hostile_text
    )
    payload: dict[str, Any] = {
        "type": draw(st.sampled_from(["block_actions", "block_actions", "view_submission", "x"])),
        "user": {"id": draw(st.sampled_from(SLACK_USERS) | hostile_text), "username": "u"},
        "api_app_id": "A0001",
        "token": "verification-token",
        "container": {"type": "message", "message_ts": "1.1", "channel_id": channel},
        "trigger_id": "t",
        "team": {"id": "T0001", "domain": "example"},
        "channel": {"id": channel, "name": "x"},
        "message": {"type": "message", "ts": "1.1", "text": draw(hostile_text), "blocks": []},
        "actions": [
            {
                "action_id": action_id,
                "block_id": "b",
                "text": {"type": "plain_text", "text": draw(hostile_text)},
                "value": draw(
                    st.sampled_from(["g:menu", "m:echo", "b:1:0", "1", "999999"]) | hostile_text
                ),
                "type": "button",
                "action_ts": "2.2",
            }
        ],
    }
    payload = draw(mutated(payload))
    raw = json.dumps(payload) if draw(st.integers(0, 5)) else draw(hostile_text)
    body = urllib.parse.urlencode({"payload": raw.encode("utf-8", "surrogatepass")}).encode()
    return body, "application/x-www-form-urlencoded"


garbage_body = st.tuples(
    st.binary(max_size=300)
    | st.sampled_from([b"", b"{", b"[]", b"null", b'{"type": "event_callback"}', b"payload="]),
    st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain", ""]),
)

slack_body = st.one_of(slack_event_body(), slack_event_body(), slack_action_body(), garbage_body)
"""(body, content type) of a request to ``/slack/events`` — the signature is added later."""


# ---- flow and persona files ------------------------------------------------------------

NASTY_YAML = [
    "",
    "---\n...\n",
    "id: [unclosed\n",
    "\t- tab indented\n",
    "id: a\nid: b\n",
    "!!python/object/apply:os.system ['echo pwned']\n",
    "id: !!binary aGVsbG8=\n",
    "a: &a [1]\nb: *a\nc: *undefined\n",
    "<<: *nothing\n",
    "[" * 2000 + "]" * 2000,
    "id: x\nvariants: " + "{a: " * 300 + "1" + "}" * 300 + "\n",
    "\ufeffid: bom\n",
    "id: \ud800\n",
    "\x00\x01\x02",
    "id: echo\ntitle: T\nvariants:\n  default:\n    start: s\n    steps:\n"
    "      s: {say: '{{ }}'}\n",
    "id: e\ntitle: T\nvariants:\n  default:\n    start: s\n    steps:\n"
    "      s: {ask: '{% for %}', slot: x, next: s}\n",
    "id: e\ntitle: T\nvariants: {default: {start: s, steps: {s: {branch: "
    "[{when: {slot: x, matches: '(a+)+$['}, goto: s}], otherwise: s}}}}\n",
]
