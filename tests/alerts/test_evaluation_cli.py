"""``carewatch server evaluate`` end to end on a tiny cohort: the report and its plots are
written, the headline is printed, and the same seed gives the same report."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carewatch.console import app

TINY = ["server", "evaluate", "--patients", "12", "--days", "30", "--review-delay-hours", "12"]


def test_evaluate_writes_the_report_and_prints_the_headline(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [*TINY, "--out", str(tmp_path / "a"), "--sweep"])
    assert result.exit_code == 0, result.output
    assert "| cohort (seed 0) | engine |" in result.stdout
    assert "| cohort (seed 0) | naive |" in result.stdout
    report = (tmp_path / "a" / "README.md").read_text()
    for heading in (
        "## Headline",
        "## Per episode type",
        "## By rule",
        "## By condition",
        "## Threshold sweeps",
    ):
        assert heading in report
    assert "validation: not tuned on (seed 2)" in report
    assert "resolved 12 h after they open" in report
    for png in ("sensitivity_by_type.png", "sweeps.png"):
        assert (tmp_path / "a" / png).read_bytes().startswith(b"\x89PNG")
    assert "sweeps took" in result.stderr


def test_the_same_seed_gives_the_same_report_and_another_seed_another(tmp_path: Path) -> None:
    reports = {}
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        result = CliRunner().invoke(
            app, [*TINY, "--days", "20", "--seed", seed, "--out", str(tmp_path / name), "--no-sweep"]
        )
        assert result.exit_code == 0, result.output
        reports[name] = (tmp_path / name / "README.md").read_text()
    assert reports["a"] == reports["b"]
    assert reports["a"] != reports["c"]


def test_without_matplotlib_the_markdown_is_still_written_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    result = CliRunner().invoke(app, [*TINY, "--out", str(tmp_path), "--no-sweep", "--days", "20"])
    assert result.exit_code == 0, result.output
    assert "plots skipped: matplotlib is not installed" in result.stderr
    assert "plots skipped" in (tmp_path / "README.md").read_text()
    assert not list(tmp_path.glob("*.png"))
