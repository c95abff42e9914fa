"""Hot reload: good edits swap in, bad edits are logged and ignored, old versions stay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from pathlib import Path

import pytest

from bot.engine.registry import FlowRegistry
from bot.engine.schema import DEFAULT_VARIANT
from bot.errors import FlowFileError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
OLD_TEXT = "Reset it here: https://shop.example/reset"
NEW_TEXT = "Reset it on https://shop.example/new-reset"

NEW_FLOW = """\
id: opening_hours
title: Opening hours
triggers: [when are you open]
variants:
  default:
    start: hours
    steps:
      hours:
        resolve: We are open 9 to 5.
"""


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    flows, personas = tmp_path / "flows", tmp_path / "personas"
    shutil.copytree(FIXTURES / "valid" / "flows", flows)
    shutil.copytree(FIXTURES / "valid" / "personas", personas)
    return flows, personas


@pytest.fixture
def registry(dirs: tuple[Path, Path]) -> FlowRegistry:
    return FlowRegistry.load(*dirs)


def say_text(registry: FlowRegistry) -> str | None:
    flow = registry.catalog.flows["reset_password"]
    return flow.variants[DEFAULT_VARIANT].steps["link"].say


def edit_say(flows: Path) -> None:
    path = flows / "reset_password.yaml"
    path.write_text(path.read_text().replace(OLD_TEXT, NEW_TEXT))


def test_load_refuses_broken_files(tmp_path: Path) -> None:
    broken = FIXTURES / "broken" / "unknown_key" / "flows"
    with pytest.raises(FlowFileError) as caught:
        FlowRegistry.load(broken, FIXTURES / "valid" / "personas")
    assert len(caught.value.diagnostics) == 1
    assert "unknown key 'nxt'" in str(caught.value)


def test_edit_swaps_in_new_text_and_keeps_old_version(
    registry: FlowRegistry, dirs: tuple[Path, Path]
) -> None:
    old = registry.catalog
    old_version = old.versions["reset_password"]
    edit_say(dirs[0])

    assert registry.reload() == []

    assert say_text(registry) == NEW_TEXT
    assert registry.catalog.versions["reset_password"] != old_version
    archived = registry.catalog.flow("reset_password", old_version)
    assert archived is not None
    assert archived.variants[DEFAULT_VARIANT].steps["link"].say == OLD_TEXT
    assert old.flows["reset_password"].variants[DEFAULT_VARIANT].steps["link"].say == OLD_TEXT


def test_added_file_adds_a_flow(
    registry: FlowRegistry, dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    (dirs[0] / "opening_hours.yml").write_text(NEW_FLOW)

    with caplog.at_level(logging.INFO, logger="supportbot.flows"):
        registry.reload()

    assert "opening_hours" in registry.catalog.flows
    assert "flows added: opening_hours" in caplog.text


def test_deleted_file_removes_the_flow_but_archive_keeps_it(
    registry: FlowRegistry, dirs: tuple[Path, Path]
) -> None:
    version = registry.catalog.versions["reset_password"]
    # where_is_my_order's guided variant jumps into reset_password: remove that link too
    (dirs[0] / "where_is_my_order.yaml").unlink()
    (dirs[0] / "reset_password.yaml").unlink()

    assert registry.reload() == []

    assert "reset_password" not in registry.catalog.flows
    assert registry.catalog.flow("reset_password", version) is not None


def test_broken_edit_keeps_last_good_catalog_and_logs(
    registry: FlowRegistry, dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    before = registry.catalog
    path = dirs[0] / "reset_password.yaml"
    path.write_text(path.read_text().replace("goto: done", "goto: dne"))

    with caplog.at_level(logging.INFO, logger="supportbot.flows"):
        diagnostics = registry.reload()

    assert [(d.line, d.column) for d in diagnostics] == [(12, 19), (15, 7)]
    assert "unknown step 'dne' — did you mean 'done'?" in diagnostics[0].message
    assert "unreachable" in diagnostics[1].message
    assert registry.catalog is before
    assert say_text(registry) == OLD_TEXT
    records = [r for r in caplog.records if r.name == "supportbot.flows"]
    assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING]
    assert "reset_password.yaml:12:19: unknown step 'dne'" in records[0].getMessage()


async def wait_for_new_text(registry: FlowRegistry, flows: Path) -> bool:
    """Poll the catalog for up to ~10 s; rewrite the file each second in case the
    watcher was not yet listening when it first changed."""
    for _second in range(10):
        edit_say(flows)
        for _tick in range(20):
            if say_text(registry) == NEW_TEXT:
                return True
            await asyncio.sleep(0.05)
    return False


async def test_watch_picks_up_a_change(registry: FlowRegistry, dirs: tuple[Path, Path]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(registry.watch(stop))
    try:
        await asyncio.sleep(0.2)  # let the watcher start
        assert await wait_for_new_text(registry, dirs[0])
    finally:
        stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task, timeout=5)
    assert task.done()
