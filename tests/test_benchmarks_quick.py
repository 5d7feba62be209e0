"""CI exercises the benchmark runner's --quick mode (no timing is asserted)."""

import sys

import pytest


@pytest.mark.slow
def test_quick_benchmarks_run_and_write_a_report(tmp_path, shared_data, monkeypatch):
    from benchmarks import run as bench

    out = tmp_path / "BENCHMARKS.md"
    monkeypatch.setattr(sys, "argv", ["run"])
    assert bench.main(["--quick", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| benchmark | quantity | value | target |" in text
    for name in bench.BENCHMARKS:
        assert f"| {name} |" in text
    assert "python -m benchmarks.run --quick" in text
