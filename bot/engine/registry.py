"""The live catalog of flows and personas, reloaded when operators edit the files.

Operators edit flows while the bot runs. A good edit is swapped in atomically; a bad edit
is logged and ignored so the bot keeps serving the last good catalog. Flow versions stay
in the catalog's archive, so conversations already in a flow finish on their version.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import watchfiles

from bot.diagnostics import Diagnostic, Severity
from bot.engine.catalog import Catalog
from bot.engine.loader import YAML_SUFFIXES, load_catalog
from bot.errors import FlowFileError

logger = logging.getLogger("supportbot.flows")


class FlowRegistry:
    """Holds the current :class:`Catalog`; :meth:`reload` and :meth:`watch` replace it."""

    def __init__(self, flows_dir: Path, personas_dir: Path, catalog: Catalog) -> None:
        self.flows_dir = flows_dir
        self.personas_dir = personas_dir
        self._catalog = catalog
        self._reload_lock = threading.Lock()

    @classmethod
    def load(cls, flows_dir: Path, personas_dir: Path) -> FlowRegistry:
        """The registry for these directories; raises FlowFileError if any file is wrong.

        The bot refuses to start on bad files rather than serve half a catalog.
        """
        catalog, diagnostics = load_catalog(flows_dir, personas_dir)
        if catalog is None:
            raise FlowFileError(diagnostics)
        _log_warnings(diagnostics)
        catalog.router()  # fitted now, not on the first customer's message
        return cls(flows_dir, personas_dir, catalog)

    @property
    def catalog(self) -> Catalog:
        """The current snapshot; take it once per turn and use that snapshot throughout."""
        return self._catalog

    def reload(self) -> list[Diagnostic]:
        """Re-read the files; swap in the new catalog only if it has no errors.

        Returns every diagnostic found (warnings too). On errors the last good catalog
        stays and each diagnostic is logged as one warning line.
        """
        with self._reload_lock:
            old = self._catalog
            catalog, diagnostics = load_catalog(self.flows_dir, self.personas_dir, old)
            if catalog is None:
                for diagnostic in diagnostics:
                    logger.warning("flow files not reloaded, keeping previous: %s", diagnostic)
                return diagnostics
            catalog.router()  # re-fitted before the swap: the old one serves meanwhile
            self._catalog = catalog
        _log_warnings(diagnostics)
        logger.info("flows reloaded: %s", describe_changes(old, catalog))
        return diagnostics

    async def watch(self, stop: asyncio.Event | None = None) -> None:
        """Reload whenever a YAML file in either directory changes, until ``stop`` is set."""
        async for _changes in watchfiles.awatch(
            self.flows_dir, self.personas_dir, watch_filter=_is_yaml, stop_event=stop
        ):
            try:
                await asyncio.to_thread(self.reload)
            except Exception:  # keep watching: a reload bug must not stop hot reload
                logger.exception("flow reload failed; keeping the current catalog")


def _is_yaml(_change: watchfiles.Change, path: str) -> bool:
    return path.endswith(YAML_SUFFIXES) and not Path(path).name.startswith(".")


def _log_warnings(diagnostics: Sequence[Diagnostic]) -> None:
    for diagnostic in diagnostics:
        if diagnostic.severity is Severity.WARNING:
            logger.warning("%s", diagnostic)


def describe_changes(old: Catalog, new: Catalog) -> str:
    """Which flows and personas a reload added, changed or removed, for the log."""
    parts: list[str] = []
    for label, before, after in (
        ("flows", dict(old.versions), dict(new.versions)),
        ("personas", dict(old.personas), dict(new.personas)),
    ):
        added = sorted(after.keys() - before.keys())
        removed = sorted(before.keys() - after.keys())
        changed = sorted(k for k in after.keys() & before.keys() if after[k] != before[k])
        for verb, ids in (("added", added), ("changed", changed), ("removed", removed)):
            if ids:
                parts.append(f"{label} {verb}: {', '.join(ids)}")
    return "; ".join(parts) or "no changes"
