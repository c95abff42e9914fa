"""Checks on what a stand-in received: each message answered once, in order, on time."""

from __future__ import annotations

from collections.abc import Sequence

from tests.reliability.harness import echo_reply


def echo_script(chat: str, count: int) -> list[str]:
    """What customer ``chat`` says after "echo": ``count`` distinct messages."""
    return [f"m-{chat}-{n}" for n in range(count)]


def check_echoes(chat: str, received: Sequence[str], said: Sequence[str]) -> int:
    """``received`` (in delivery order) holds the greeting, "Say something." and one
    ``You said …`` per message of ``said``, in order, each exactly once. Returns how many
    messages were delivered in all."""
    echoes = [t for t in received if t.startswith("You said ")]
    expected = [echo_reply(t) for t in said]
    missing = [e for e in expected if e not in echoes]
    assert not missing, f"{chat}: {len(missing)} replies lost, e.g. {missing[:3]}"
    doubled = sorted({e for e in echoes if echoes.count(e) > 1})
    assert not doubled, f"{chat}: answered twice: {doubled[:5]}"
    assert echoes == expected, f"{chat}: out of order: {echoes[:20]}"
    assert received.count("Say something.") == 1, f"{chat}: {list(received)[:4]}"
    assert len(received) == len(expected) + 2, f"{chat}: extra messages: {list(received)[:5]}"
    return len(received)
