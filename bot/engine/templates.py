"""Safe text templates for flow messages: ``Hi {{ customer.first_name }}, {{ order_number }}``.

Jinja2's sandbox renders them, so a flow file can never run code; variables are the
flow's slots plus ``customer``. :func:`template_problems` lets the validator reject
unknown variables before a customer ever sees a blank.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

CUSTOMER_FIELDS = frozenset({"first_name", "last_name", "name", "language"})

_env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


@lru_cache(maxsize=4096)
def _compile(source: str) -> Any:
    return _env.from_string(source)


def render(source: str, customer: Mapping[str, Any], slots: Mapping[str, Any]) -> str:
    """Fill a template; unknown or unset values render as empty text, never an error."""
    if "{" not in source:
        return source
    try:
        template = _compile(source)
        return str(template.render({**slots, "customer": dict(customer)})).strip()
    except Exception:  # a broken template must not break a conversation
        return source


def template_problems(source: str, known_slots: Iterable[str]) -> list[str]:
    """Problems with a template: syntax errors and unknown variables."""
    if "{" not in source:
        return []
    try:
        tree = _env.parse(source)
    except TemplateSyntaxError as exc:
        return [f"template syntax error: {exc.message}"]
    allowed = set(known_slots) | {"customer"}
    problems: list[str] = []
    for name in sorted({n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"}):
        if name not in allowed:
            problems.append(
                f"unknown template variable '{name}' "
                f"(known: customer, {', '.join(sorted(known_slots)) or 'no slots'})"
            )
    for attr in tree.find_all(nodes.Getattr):
        is_customer = isinstance(attr.node, nodes.Name) and attr.node.name == "customer"
        if is_customer and attr.attr not in CUSTOMER_FIELDS:
            problems.append(
                f"unknown customer field '{attr.attr}' "
                f"(known: {', '.join(sorted(CUSTOMER_FIELDS))})"
            )
    return problems
