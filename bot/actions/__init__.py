"""Custom actions: what a flow step ``action: NAME`` calls, and the ways of running it.

- :mod:`bot.actions.calls` is the seam — :class:`ActionCall`, the :class:`ActionRunner`
  protocol and :class:`LocalActionRunner` — which the manager, tests and benchmarks use;
- :mod:`bot.actions.rasa` runs rasa-sdk actions in-process or on a Rasa action server.

Only the seam is re-exported here: importing it must not pull in rasa-sdk and httpx
(import :mod:`bot.actions.rasa` where those are wanted). Nothing here imports the
conversation layer: the manager calls actions, never the other way round.
"""

from bot.actions.calls import ActionCall, ActionRunner, LocalActionRunner

__all__ = ["ActionCall", "ActionRunner", "LocalActionRunner"]
