"""An immutable snapshot of every flow and persona the bot serves.

A conversation records the flow version it started on; :meth:`Catalog.flow` finds that
version in ``archive`` after a hot reload changed the file, so a conversation already
in a flow finishes on the version it started with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from bot.engine.schema import Flow, Persona

if TYPE_CHECKING:
    from bot.engine.understanding.router import FlowRouter


@dataclass(frozen=True, slots=True)
class Catalog:
    flows: Mapping[str, Flow]
    """Current flows by id."""
    versions: Mapping[str, str]
    """Current version (content hash) of each flow."""
    personas: Mapping[str, Persona]
    archive: Mapping[tuple[str, str], Flow] = field(default_factory=lambda: MappingProxyType({}))
    """Every flow version loaded since start-up, by (id, version)."""
    _router: list[FlowRouter] = field(default_factory=list, init=False, compare=False, repr=False)
    """The fitted router, once :meth:`router` was called (a one-element cache)."""

    def router(self) -> FlowRouter:
        """The classifier for free text → flow, fitted on the flows' titles and triggers
        the first time it is needed (the registry fits it on load and reload, in the reload
        thread, so no customer's message waits for a fit)."""
        if not self._router:
            from bot.engine.understanding.router import FlowRouter

            examples = {f.id: (f.title, *f.triggers) for f in self.flows.values()}
            self._router.append(FlowRouter(examples))
        return self._router[0]

    def flow(self, flow_id: str, version: str | None = None) -> Flow | None:
        """The flow at ``version`` if still known, else its current version (or None)."""
        if version is not None:
            archived = self.archive.get((flow_id, version))
            if archived is not None:
                return archived
        return self.flows.get(flow_id)

    def menu_flows(self) -> list[Flow]:
        """Flows listed in the main menu, in menu order."""
        return sorted((f for f in self.flows.values() if f.menu), key=lambda f: (f.order, f.id))

    def personas_in_order(self) -> list[Persona]:
        return sorted(self.personas.values(), key=lambda p: (p.order, p.id))

    def default_persona(self) -> Persona | None:
        ordered = self.personas_in_order()
        for persona in ordered:
            if persona.default:
                return persona
        return ordered[0] if ordered else None
