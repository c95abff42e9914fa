"""A real rasa-sdk action server as a subprocess on a free port, for tests."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.standins import free_port

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 60


@contextmanager
def action_server(package: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``python -m rasa_sdk --actions PACKAGE`` on 127.0.0.1; yields its webhook URL."""
    port = free_port()
    # A file, not a pipe: a pipe nobody reads would fill up and block the server.
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "rasa_sdk", "--actions", package, "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"action server exited: {log.read()[-2000:]}")
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("action server did not start in time")
                time.sleep(0.2)
            yield f"{base}/webhook"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
