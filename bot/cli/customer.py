"""Operator commands for stored customer data: ``customer export``/``forget`` and
``transcript`` (one conversation, as stored).

Mounted by :mod:`bot.cli.main` (``supportbot customer …``, ``supportbot transcript``);
retention (``db vacuum``) is in :mod:`bot.cli.db`, with its group. Like every command, a
problem prints ``error: …`` on stderr and exits 1, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import fail, load_settings, run_async, with_store
from bot.messages import attachments_in
from storage.privacy import ForgetReport, export_customer, forget_customer

customer_app = typer.Typer(
    help="Customer data: export and forget (data-subject rights).", no_args_is_help=True
)

CustomerId = Annotated[
    str, typer.Argument(help='The customer id, "{channel}:{user id}" (e.g. telegram:42).')
]


@customer_app.command("export")
def export_command(
    customer_id: CustomerId,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")
    ] = None,
) -> None:
    """Print everything stored about a customer as JSON (profile, conversations, messages)."""
    data = with_store(lambda store: export_customer(store, customer_id))
    if data is None:
        fail(f"no customer {customer_id}")
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if output is None:
        typer.echo(text)
        return
    try:
        output.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    typer.echo(f"wrote {output}", err=True)


@customer_app.command("forget")
def forget_command(
    customer_id: CustomerId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a customer's personal data; anonymous statistics stay. Cannot be undone."""
    if with_store(lambda store: store.get_customer(customer_id)) is None:
        fail(f"no customer {customer_id}")
    if not yes:
        typer.confirm(
            f"Delete the messages, name and ids of {customer_id}? This cannot be undone.",
            abort=True,
        )
    report = with_store(lambda store: forget_customer(store, customer_id))
    if report is None:  # forgotten by someone else in between
        fail(f"no customer {customer_id}")
    typer.echo(_forget_summary(report))


def _forget_summary(report: ForgetReport) -> str:
    return "\n".join(
        [
            f"forgot {report.customer_id} (its statistics now belong to {report.pseudonym})",
            f"  transcript entries deleted:  {report.transcript_entries_deleted}",
            f"  outbox messages deleted:     {report.outbox_rows_deleted}",
            f"  inbound update ids deleted:  {report.inbound_updates_deleted}",
            f"  file references deleted:     {report.file_references_deleted}"
            " (files stay on their platform)",
            f"  conversations anonymised:    {report.conversations_anonymised}"
            f" ({report.conversations_closed} open ones closed)",
            "  name, language, profile, user id and conversation state removed;",
            "  persona and conversation status/outcome/flow/step kept for reports",
        ]
    )


def transcript(
    conversation_id: Annotated[int, typer.Argument(help="The conversation id.")],
) -> None:
    """Print one conversation's transcript."""
    from storage.sql import open_store

    settings = load_settings()

    async def main() -> None:
        store = await open_store(settings.database_url)
        try:
            conversation = await store.get_conversation(conversation_id)
            if conversation is None:
                typer.echo(f"error: no conversation {conversation_id}", err=True)
                raise typer.Exit(1)
            typer.echo(
                f"conversation {conversation.id} · {conversation.chat_key} · "
                f"{conversation.status} · started {conversation.started_at:%Y-%m-%d %H:%M}"
            )
            for entry in await store.transcript(conversation_id):
                when = f"{entry.created_at:%H:%M:%S}"
                if entry.direction == "event":
                    details = " ".join(f"{k}={v}" for k, v in entry.data.items())
                    typer.echo(f"{when}  ·· {entry.kind} {details}")
                else:
                    who = "customer" if entry.direction == "in" else "bot"
                    files = [f.reference() for f in attachments_in(entry.data)]
                    typer.echo(f"{when}  {who:>8}: {' '.join([*files, entry.text]).strip()}")
        finally:
            await store.close()

    run_async(main, settings.database_url)
