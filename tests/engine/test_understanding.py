"""Routing free text by meaning: the offline model, the fitted router, the decision rules.

Accuracy is measured on labelled messages in tests/test_routing_eval.py; here the
behaviour a customer or operator notices on single messages, and the decision rules on
hand-made rankings.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.engine.catalog import Catalog
from bot.engine.understanding.decision import RoutingThresholds, decide, understand
from bot.engine.understanding.router import FlowRouter, FlowScore

ROOT = Path(__file__).resolve().parents[2]


def test_the_model_loads_from_the_package_with_the_network_cut_off(tmp_path: Path) -> None:
    """A fresh process with every socket refused and an empty home folder still embeds:
    nothing is downloaded, and wordllama's own cache folder is never created."""
    script = textwrap.dedent(
        """
        import socket

        def refuse(*args, **kwargs):
            raise AssertionError("the network was touched")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        from bot.engine.understanding.embedding import embed
        vectors = embed(["where is my parcel", "refund please"])
        assert vectors.shape == (2, 256), vectors.shape
        print("similarity", float(vectors[0] @ vectors[1]))
        """
    )
    env = {**os.environ, "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": ""}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "similarity" in result.stdout
    assert not (tmp_path / ".cache").exists()


@pytest.fixture(scope="module")
def router(shipped_catalog: Catalog) -> FlowRouter:
    return shipped_catalog.router()


@pytest.mark.parametrize(
    ("text", "flow"),
    [
        ("money back for my order pls", "return_refund"),  # meaning, not spelling
        ("my pasword doesnt wrk anymore", "reset_password"),  # typos
        ("I ordered last Monday. Why is nothing here yet?", "where_is_my_order"),  # two sentences
        ("the vase was in pieces when i opened the box", "delivery_problem"),
        ("my bank shows the same payment two times", "charged_twice"),
    ],
)
def test_messages_as_customers_write_them_rank_the_right_flow_first(
    router: FlowRouter, text: str, flow: str
) -> None:
    assert router.rank(text)[0].flow_id == flow


@pytest.mark.parametrize(("text", "kind"), [("hello!!", "_greeting"), ("thx bye", "_thanks")])
def test_small_talk_is_recognised_as_small_talk(router: FlowRouter, text: str, kind: str) -> None:
    assert router.rank(text)[0].flow_id == kind


def test_a_greeting_before_the_request_does_not_dilute_it(router: FlowRouter) -> None:
    request = router.rank("my parcel came smashed")
    greeted = router.rank("Hello there, my parcel came smashed")
    assert greeted == request
    assert router.rank("hello there")[0].flow_id == "_greeting"


def test_an_empty_message_ranks_nothing(router: FlowRouter) -> None:
    assert router.rank("  ?! ") == []


def test_understand_starts_a_clear_request_and_declines_chatter(shipped_catalog: Catalog) -> None:
    assert understand("i want my money back", shipped_catalog).flow_id == "return_refund"
    hello = understand("hello there!", shipped_catalog)
    assert (hello.flow_id, hello.candidates, hello.small_talk) == (None, (), "_greeting")


def test_a_new_trigger_teaches_the_router_without_any_training_step() -> None:
    """Operators only write examples: a phrase the router gets wrong for lack of one is
    right as soon as the flow file has it."""
    base = {"gift_cards": ("gift card balance",), "returns": ("return an item",)}
    text = "is there any money left on my voucher"
    taught = FlowRouter({**base, "gift_cards": (*base["gift_cards"], "how much is on my voucher")})
    assert taught.rank(text)[0].flow_id == "gift_cards"


def test_the_forms_of_a_word_count_as_one() -> None:
    """Ten triggers seldom use every form of a word: "charging" and "charges" count
    where the triggers say "charged"."""
    from bot.engine.understanding.tfidf import stems_and_pairs

    assert list(stems_and_pairs("charging twice")) == list(stems_and_pairs("charged twice"))
    assert list(stems_and_pairs("my cards")) == list(stems_and_pairs("my card"))


CATALOG = Catalog({"a": None, "b": None, "c": None}, {}, {})  # type: ignore[dict-item]
STRICT = RoutingThresholds(confident=0.6, gap=0.2, similarity=0.3, possible=0.2)


def scores(*items: tuple[str, float, float]) -> list[FlowScore]:
    return [FlowScore(label, probability, similarity) for label, probability, similarity in items]


def test_decide_starts_a_flow_that_is_probable_ahead_and_near_an_example() -> None:
    ranking = scores(("a", 0.8, 0.5), ("b", 0.1, 0.2))
    assert decide(ranking, CATALOG, STRICT).flow_id == "a"


def test_decide_offers_two_close_flows_instead_of_guessing() -> None:
    ranking = scores(("a", 0.5, 0.6), ("b", 0.4, 0.6), ("c", 0.05, 0.1))
    understood = decide(ranking, CATALOG, STRICT)
    assert (understood.flow_id, understood.candidates) == (None, ("a", "b"))


def test_decide_does_not_start_a_flow_far_from_every_example() -> None:
    ranking = scores(("a", 0.9, 0.1), ("b", 0.05, 0.1))
    assert decide(ranking, CATALOG, STRICT).candidates == ("a",)


def test_decide_names_small_talk_when_no_flow_is_plausible() -> None:
    ranking = scores(("_thanks", 0.9, 0.9), ("a", 0.05, 0.2))
    assert decide(ranking, CATALOG, STRICT).small_talk == "_thanks"
    assert decide(scores(("a", 0.1, 0.2)), CATALOG, STRICT).small_talk is None


def test_a_misspelt_word_is_read_as_the_examples_word_it_is_one_edit_from() -> None:
    """ "passwrd" and "acount" are in no example; the word TF-IDF would ignore them and the
    embedding would see unrelated pieces. Common words in their own right stay as typed."""
    from bot.engine.understanding.embedding import is_whole_token
    from bot.engine.understanding.spelling import Speller

    speller = Speller(["i forgot my password", "my account is locked"], is_whole_token)
    assert speller.correct("passwrd lost acount") == "password lost account"
    assert speller.correct("acount blocked") == "account blocked"  # "blocked" is a word
    assert speller.correct("ws10001 pw") == "ws10001 pw"  # codes and short words untouched


@pytest.mark.parametrize(
    ("text", "flow"),
    [("passwrd lost, need a new one", "reset_password"), ("refnud for the shoes", "return_refund")],
)
def test_a_misspelt_request_starts_its_flow(shipped_catalog: Catalog, text: str, flow: str) -> None:
    assert understand(text, shipped_catalog).flow_id == flow
