"""What the benchmarks share: the dialogue they play, percentiles, memory, tables.

The dialogue is the shipped "where is my order" flow in the self-serve persona, ten
customer turns with four button taps and two order look-ups (the ``order_status``
action, i.e. two transactions in those turns), then the satisfaction rating:
"""

from __future__ import annotations

import atexit
import functools
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.actions import ActionRunner

ROOT = Path(__file__).resolve().parents[1]

SCRIPT: tuple[tuple[str, str, int, str], ...] = (
    # (action, text or button label, replies to wait for, a fragment of the last one)
    ("say", "hi", 2, "in your own words"),
    ("say", "where is my order", 1, "how do you like to be helped"),
    ("tap", "Quick answers", 2, "order number"),
    ("say", "WS-10001", 1, "shipped"),
    ("tap", "Thanks, that's all", 2, "How did we do"),
    ("tap", "😀 5", 1, "Anything we could do better"),
    ("say", "great service", 1, "helps us improve"),
    ("say", "where is my order", 2, "order number"),
    ("say", "WS-10002", 1, "delivered"),
    ("tap", "Thanks, that's all", 2, "How did we do"),
)
"""One customer's turns; supportbot answers them with 15 messages in all."""

REPLIES_PER_CONVERSATION = sum(step[2] for step in SCRIPT)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """Median, p95, p99 and max, in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "p50": statistics.median(ms) if ms else 0.0,
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "max": max(ms) if ms else 0.0,
    }


def rss_mib(pid: int | str = "self") -> tuple[float, float]:
    """(current, peak) resident set size of a process in MiB (Linux ``/proc``)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU seconds a process used so far (all its threads)."""
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(parts[11]) + int(parts[12])) / ticks


def machine() -> str:
    """One line naming what the numbers were measured on."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs, {platform.platform()}, load average {load}"
    )


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def add_root_to_path() -> None:
    """Scripts run as ``python benchmarks/x.py``: make bot, storage and tests importable."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def ensure_shop_database() -> str:
    """The example shop's sample orders (WS-10001 …) for the order look-up action.

    ``$SHOP_DATABASE_URL`` if set; else a seeded throw-away SQLite file, exported so the
    bot processes a benchmark starts use it too (removed when the benchmark exits).
    """
    url = os.environ.get("SHOP_DATABASE_URL", "").strip()
    if url:
        return url
    from examples.actions import seed_demo_data

    folder = tempfile.mkdtemp(prefix="supportbot-bench-shop-")
    atexit.register(shutil.rmtree, folder, True)
    url = f"sqlite:///{folder}/shop.db"
    seed_demo_data(url)
    os.environ["SHOP_DATABASE_URL"] = url
    return url


@functools.cache
def shipped_actions() -> ActionRunner:
    """The custom actions ``supportbot run`` uses (``bot.app.load_actions``), one per process."""
    ensure_shop_database()
    from bot.app import load_actions
    from bot.settings import Settings

    return load_actions(Settings())
