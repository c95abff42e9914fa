"""Old import path of :mod:`bot.diagnostics`, kept only for ``bot/cli.py`` until its
import line moves; new code imports ``bot.diagnostics``."""

from bot.diagnostics import Diagnostic, Severity

__all__ = ["Diagnostic", "Severity"]
