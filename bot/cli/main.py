"""The ``supportbot`` command (also ``python -m bot``), assembled from its groups.

Operator mistakes (bad flow files, a wrong path) print a clear message and exit 1 —
never a traceback. Each command group is a module of its own (:mod:`bot.cli.flows`,
:mod:`bot.cli.serve`, :mod:`bot.cli.db`, :mod:`bot.cli.customer`, :mod:`bot.cli.report`,
:mod:`bot.cli.demo`) that knows nothing of the others; only this module puts them
together, in the order ``supportbot --help`` lists them.
"""

from __future__ import annotations

import typer

from bot.cli.customer import customer_app, transcript
from bot.cli.db import db_app
from bot.cli.demo import demo_app
from bot.cli.flows import flows_app
from bot.cli.report import report_command
from bot.cli.serve import chat, desk, run

app = typer.Typer(
    help="supportbot: a customer-support bot run on operator-written flows.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(flows_app, name="flows")
app.add_typer(db_app, name="db")
app.add_typer(customer_app, name="customer")
app.command("report")(report_command)
app.add_typer(demo_app, name="demo")
app.command()(chat)
app.command()(run)
app.command()(desk)
app.command()(transcript)
