"""The ``supportbot`` command line: one module per command group, assembled in
:mod:`bot.cli.main`; what the commands share is :mod:`bot.cli.common`.

``app`` is re-exported for the ``supportbot = "bot.cli:app"`` entry point and
``python -m bot``.
"""

from bot.cli.main import app

__all__ = ["app"]
