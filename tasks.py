#!/usr/bin/env python3
"""Developer entry point that needs nothing but Python 3.11+.

    python3 tasks.py chat [options]      chat with the bot in this terminal
    python3 tasks.py test [pytest args]  lint (ruff), type-check (mypy), run all tests
    python3 tasks.py supportbot ARGS     any `supportbot` command

Each creates ``.venv`` on first use and re-installs the project whenever
``pyproject.toml`` changes, so a fresh clone works with one command.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("SUPPORTBOT_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def ensure_environment() -> None:
    """Create the virtual environment and install the project (with dev tools) if stale."""
    if sys.version_info < (3, 11):  # noqa: UP036 - tasks.py may run on an older python3
        sys.exit(f"supportbot needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    stamp_value = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    stamp = VENV / ".supportbot-installed"
    if stamp.exists() and stamp.read_text() == stamp_value:
        return
    if not (BIN / "python").exists():
        print(f"creating virtual environment in {VENV} ...", flush=True)
        venv.create(VENV, with_pip=True)
    print("installing supportbot and its development tools ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-e", f"{ROOT}[dev]"], check=True)
    stamp.write_text(stamp_value)


def run(*command: str) -> int:
    print("$", " ".join(command), flush=True)
    return subprocess.run([str(BIN / command[0]), *command[1:]], cwd=ROOT).returncode


def test(pytest_args: list[str]) -> int:
    steps = [
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        ("mypy",),
        ("pytest", *pytest_args),
    ]
    for step in steps:
        code = run(*step)
        if code != 0:
            print(f"FAILED: {' '.join(step)} (exit {code})", file=sys.stderr)
            return code
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("chat", "test", "supportbot"):
        print(__doc__)
        return 2
    ensure_environment()
    task, rest = argv[0], argv[1:]
    if task == "test":
        return test(rest)
    if task == "chat":
        return run("supportbot", "chat", *rest)
    return run("supportbot", *rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
