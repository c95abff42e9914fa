"""``supportbot flows eval`` and ``flows explain``: how free text is routed, measured and
explained. Registered on the ``flows`` group by :mod:`bot.cli.flows`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.app import routing_thresholds
from bot.cli.common import FlowsDir, PersonasDir, catalog_or_exit, fail, settings_with_dirs
from bot.engine.understanding.decision import RoutingThresholds, decide
from bot.engine.understanding.small_talk import is_small_talk
from bot.errors import ConfigError
from bot.scripted.routing_eval import PERSON, Results, evaluate, load_cases, outcome_of


def flows_eval(
    file: Annotated[Path, typer.Argument(help='JSON Lines: {"text": …, "expect": flow id|none}.')],
    min_accuracy: Annotated[
        float | None, typer.Option(help="Exit 1 if fewer in-scope messages start their flow.")
    ] = None,
    max_wrong: Annotated[
        float | None, typer.Option(help="Exit 1 if more messages start a wrong flow.")
    ] = None,
    min_declined: Annotated[
        float | None, typer.Option(help="Exit 1 if fewer out-of-scope messages start no flow.")
    ] = None,
    person_flow: Annotated[
        str, typer.Option(help='The flow that the "talk to a person" command counts as.')
    ] = "talk_to_person",
    examples: Annotated[int, typer.Option(help="Example messages shown per confusion.")] = 2,
    flows_dir: FlowsDir = None,
    personas_dir: PersonasDir = None,
) -> None:
    """Route labelled opening messages as the bot would, and print how it did."""
    settings = settings_with_dirs(flows_dir, personas_dir)
    catalog = catalog_or_exit(settings)
    try:
        cases = load_cases(file, catalog)
    except ConfigError as exc:
        fail(str(exc))
    results = evaluate(cases, catalog, routing_thresholds(settings), person_flow)
    _print_results(results, examples)
    failures = []
    if min_accuracy is not None and results.accuracy < min_accuracy:
        failures.append(
            f"accuracy {results.accuracy:.1%} is below --min-accuracy {min_accuracy:.1%}"
        )
    if max_wrong is not None and results.wrong_rate > max_wrong:
        failures.append(
            f"wrong routes {results.wrong_rate:.1%} is above --max-wrong {max_wrong:.1%}"
        )
    if min_declined is not None and results.declined_rate < min_declined:
        failures.append(
            f"out of scope declined {results.declined_rate:.1%} is below "
            f"--min-declined {min_declined:.1%}"
        )
    for failure in failures:
        typer.echo(f"FAILED: {failure}", err=True)
    if failures:
        raise typer.Exit(1)


def _print_results(results: Results, examples: int) -> None:
    def share(part: int, whole: int) -> str:
        return f"{part / whole:6.1%}  ({part}/{whole})" if whole else "     –"

    typer.echo(
        f"{results.cases} messages: {results.in_scope} for a flow, {results.out_of_scope} for none"
    )
    typer.echo(f"  started the right flow   {share(results.right, results.in_scope)}")
    typer.echo(f"  started a wrong flow     {share(results.wrong, results.cases)}")
    typer.echo(
        f'  "Did you mean …?"        {share(results.did_you_mean, results.cases)}'
        f"  — the right flow among the offered in {results.did_you_mean_right}"
    )
    typer.echo(f"  out of scope declined    {share(results.declined, results.out_of_scope)}")
    if not results.confusions:
        return
    typer.echo("confusions (expected → what the customer got):")
    for (expected, got), count in results.confusions.most_common():
        shown = "; ".join(f'"{text}"' for text in results.examples[(expected, got)][:examples])
        typer.echo(f"  {count:3d}  {expected} → {got}    e.g. {shown}")


def flows_explain(
    text: Annotated[str, typer.Argument(help="A message as a customer would write it.")],
    top: Annotated[int, typer.Option(help="How many candidates to list.")] = 5,
    flows_dir: FlowsDir = None,
    personas_dir: PersonasDir = None,
) -> None:
    """Show what an opening message would do, and the top candidates with their scores."""
    settings = settings_with_dirs(flows_dir, personas_dir)
    catalog = catalog_or_exit(settings)
    thresholds = routing_thresholds(settings)
    outcome = outcome_of(text, catalog, thresholds)
    if outcome.started == PERSON:
        decision = "hand off to a person (the global command)"
    elif outcome.started:
        decision = f"start {outcome.started}"
    elif outcome.offered:
        decision = f'ask "Did you mean …?" with {", ".join(outcome.offered)}'
    ranking = catalog.router().rank(text) if catalog.flows else []
    if not outcome.started and not outcome.offered:
        chatter = decide(ranking, catalog, thresholds).small_talk
        decision = {
            "_greeting": "start no flow: a greeting (the bot greets and shows the menu)",
            "_thanks": "start no flow: thanks or goodbye (the bot says you're welcome)",
        }.get(chatter or "", "start no flow: the menu, and the offer of a person")
    typer.echo(f"decision: {decision}")
    typer.echo(_thresholds_line(thresholds))
    if not ranking:
        return
    typer.echo(f"  {'candidate':<28} {'probability':>11} {'similarity':>10}")
    for score in ranking[:top]:
        label = f"{score.flow_id} (small talk)" if is_small_talk(score.flow_id) else score.flow_id
        typer.echo(f"  {label:<28} {score.probability:11.2f} {score.similarity:10.2f}")


def _thresholds_line(t: RoutingThresholds) -> str:
    return (
        f"a flow starts at probability ≥ {t.confident:.2f}, ahead of the next by ≥ {t.gap:.2f}, "
        f"similarity ≥ {t.similarity:.2f}; offered at ≥ {t.possible:.2f}"
    )
