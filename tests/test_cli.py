"""The ``supportbot`` command as an operator runs it: real subprocesses, real files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def supportbot(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_flows_check_passes_on_shipped_files() -> None:
    result = supportbot("flows", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: 6 flows, 2 personas" in result.stdout


def test_flows_check_reports_a_seeded_error_at_its_line(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", flows)
    path = flows / "reset_password.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip() == "next: done")
    lines[index] = lines[index].replace("next: done", "nxt: done")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = supportbot(
        "flows", "check", "--flows-dir", str(flows), "--personas-dir", str(ROOT / "personas")
    )
    assert result.returncode == 1
    column = lines[index].index("nxt") + 1
    expected = f"{path}:{index + 1}:{column}: unknown key 'nxt'"
    assert expected in result.stdout, result.stdout
    assert "did you mean 'next'" in result.stdout
    assert "reset_password" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_bot_refuses_to_start_on_invalid_files_naming_them(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "broken.yaml").write_text("id: broken\ntitle: [unclosed\n", encoding="utf-8")
    result = supportbot(
        "chat",
        env={
            "SUPPORTBOT_FLOWS_DIR": str(flows),
            "SUPPORTBOT_PERSONAS_DIR": str(ROOT / "personas"),
            "SUPPORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        },
    )
    assert result.returncode == 1
    assert "broken.yaml:" in result.stderr
    assert "Traceback" not in result.stderr


def test_flows_schema_is_json_schema_for_flows_and_personas() -> None:
    result = supportbot("flows", "schema")
    schema = json.loads(result.stdout)
    assert schema["title"] == "supportbot flow file"
    assert "variants" in schema["properties"]
    persona = json.loads(supportbot("flows", "schema", "--kind", "persona").stdout)
    assert "switch_phrases" in persona["properties"]


def test_flows_graph_prints_mermaid() -> None:
    result = supportbot("flows", "graph", "where_is_my_order")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("flowchart")
    assert "order_status" in result.stdout
    missing = supportbot("flows", "graph", "nope")
    assert missing.returncode == 1
    assert "known flows:" in missing.stderr


def test_flows_test_runs_the_shipped_conversation_tests() -> None:
    result = supportbot("flows", "test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 failed" in result.stdout


def test_flows_test_reports_a_failing_case(tmp_path: Path) -> None:
    case = tmp_path / "bad.yaml"
    case.write_text(
        "- name: wrong expectation\n"
        "  persona: self_serve\n"
        "  turns:\n"
        "    - say: where is my order\n"
        "      expect: the moon\n",
        encoding="utf-8",
    )
    result = supportbot("flows", "test", str(case))
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "the moon" in result.stdout
    assert "0 passed, 1 failed" in result.stdout


@pytest.mark.parametrize("args", [["--help"], ["flows", "--help"]])
def test_help_works(args: list[str]) -> None:
    assert supportbot(*args).returncode == 0


def test_demo_seed_then_report_prints_every_section(tmp_path: Path) -> None:
    env = {"SUPPORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"}
    seeded = supportbot("demo", "seed", "--conversations", "40", env=env)
    assert seeded.returncode == 0, seeded.stderr
    assert "seeded 40 demo conversations" in seeded.stdout
    again = supportbot("demo", "seed", env=env)
    assert again.returncode == 1 and "already has conversations" in again.stderr

    report = supportbot("report", "--by", "channel", "--html", str(tmp_path / "r.html"), env=env)
    assert report.returncode == 0, report.stderr
    for title in ("All conversations", "By channel", "Why customers asked for a person",
                  "Where are the problems", "Latest low-score comments"):  # fmt: skip
        assert title in report.stdout
    assert "telegram" in report.stdout and (tmp_path / "r.html").stat().st_size > 100_000

    as_json = json.loads(supportbot("report", "--format", "json", env=env).stdout)
    assert as_json["summary"][0]["conversations"] == 40
    assert sum(row["reached"] for row in as_json["dropoff"]) > 0
    csv_rows = supportbot("report", "--format", "csv", "--section", "dropoff", env=env).stdout
    assert (
        csv_rows.splitlines()[0] == "flow,variant,step,reached,abandoned,asked_for_person,low_score"
    )


def test_report_refuses_bad_options_clearly(tmp_path: Path) -> None:
    env = {"SUPPORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"}
    bad_by = supportbot("report", "--by", "colour", env=env)
    assert bad_by.returncode == 1 and "choose one of flow, persona" in bad_by.stderr
    bad_date = supportbot("report", "--since", "last tuesday", env=env)
    assert bad_date.returncode == 1 and "is not a date" in bad_date.stderr
    assert "Traceback" not in bad_by.stderr + bad_date.stderr


def test_flows_check_names_a_step_whose_action_the_package_lacks(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", flows)
    path = flows / "where_is_my_order.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip() == "action: order_status")
    lines[index] = lines[index].replace("order_status", "order_stats")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = supportbot(
        "flows", "check", "--flows-dir", str(flows), "--personas-dir", str(ROOT / "personas")
    )

    assert result.returncode == 1
    column = lines[index].index("order_stats") + 1
    assert (
        f"{path}:{index + 1}:{column}: package examples.actions has no action 'order_stats'"
        " — did you mean 'order_status'? (flow where_is_my_order, step lookup)"
    ) in result.stdout


def test_flows_check_says_when_the_action_server_is_unreachable(tmp_path: Path) -> None:
    from tests.standins import free_port

    env = {"SUPPORTBOT_ACTION_ENDPOINT": f"http://127.0.0.1:{free_port()}/webhook"}
    result = supportbot("flows", "check", env=env)
    assert result.returncode == 1
    assert "cannot list the actions of action server http://127.0.0.1:" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
