"""``supportbot demo seed``: fill a database with realistic demo traffic for the reports.

Mounted by :mod:`bot.cli.main`. Refuses a database that already holds conversations unless
``--force`` (demo customers in a production database would skew its reports). The
seeding itself is :mod:`bot.scripted.demo`; this module reads the options and the cases.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Annotated

import typer

from bot.actions.rasa import ActionServer
from bot.app import load_actions
from bot.cli.common import fail, load_settings, run_async
from bot.engine.loader import load_catalog
from bot.scripted.demo import seed_demo
from bot.scripted.flowtest import CaseSpec, discover, load_cases
from storage.backdating import conversation_ids
from storage.sql import open_store
from storage.urls import mask_url

demo_app = typer.Typer(help="Demo data for trying the reports.", no_args_is_help=True)


def seed_example_data(package: str | None) -> int | None:
    """Call the actions package's ``seed_demo_data()`` hook, if it has one (the shipped
    example shop does: it resets its sample orders, refunds and accounts)."""
    if not package:
        return None
    try:
        module = importlib.import_module(package)
    except ImportError:
        return None
    hook = getattr(module, "seed_demo_data", None)
    return int(hook()) if callable(hook) else None


@demo_app.command("seed")
def seed_command(
    conversations: Annotated[int, typer.Option(min=1, help="How many demo customers.")] = 150,
    days: Annotated[int, typer.Option(min=1, help="Spread them over this many days.")] = 14,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 7,
    force: Annotated[
        bool, typer.Option("--force", help="Seed even if the database has conversations.")
    ] = False,
) -> None:
    """Play the flows' conversation tests as demo customers, rate, hand off, backdate."""
    settings = load_settings()
    catalog, diagnostics = load_catalog(settings.flows_dir, settings.personas_dir)
    if catalog is None:
        fail("; ".join(map(str, diagnostics[:3])))
    cases: list[CaseSpec] = []
    for file in discover([settings.flows_dir / "tests"]):
        try:
            cases.extend(load_cases(file))
        except ValueError as exc:
            fail(str(exc))
    if not cases:
        fail(f"no conversation tests in {settings.flows_dir / 'tests'} to play as demo customers")

    async def main() -> None:
        store = await open_store(settings.database_url)
        try:
            if await conversation_ids(store) and not force:
                fail(
                    f"database {mask_url(settings.database_url)} already has conversations; "
                    "use an empty one (SUPPORTBOT_DATABASE_URL) or pass --force"
                )
            orders = await asyncio.to_thread(seed_example_data, settings.actions_package)
            actions = load_actions(settings)
            try:
                summary = await seed_demo(
                    store, catalog, cases, actions, conversations=conversations, days=days,
                    seed=seed,
                )  # fmt: skip
            finally:
                if isinstance(actions, ActionServer):
                    await actions.close()
        finally:
            await store.close()
        if orders is not None:
            typer.echo(f"seeded the actions package's sample data ({orders} orders)")
        typer.echo(
            f"seeded {summary.conversations} demo conversations over {days} days: "
            f"{summary.ratings} ratings, {summary.handoffs} handed to a person, "
            f"{summary.abandoned} abandoned. Try: supportbot report"
        )

    run_async(main, settings.database_url)
