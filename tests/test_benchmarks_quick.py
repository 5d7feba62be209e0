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


def test_flop_counts_by_hand():
    """The FLOP counts behind the efficiency ratios, from the layer shapes by hand."""
    import tensorflow as tf

    from benchmarks.bench_autoloc import autoloc_step_flops
    from benchmarks.bench_cas import dense_flops
    from wtal_tf.configs import get_config
    from wtal_tf.models.autoloc import build_autoloc
    from wtal_tf.models.cas_model import CasModel

    # CAS model, D = 8, hidden 4, K = 3, 1-way attention: fwd 2*(8*4 + 4*3 + 8*4 + 4*1) = 160,
    # wgrad 160, igrad only for the second layers 2*(4*3 + 4*1) = 32
    assert dense_flops([(8, 4), (4, 3), (8, 4), (4, 1)], [False, True, False, True]) == 352
    cas_model = CasModel(20)
    cas_model({"features": tf.zeros((1, 2, 2048))})
    model = build_autoloc(get_config("thumos14_autoloc"), cas_model, 2048)
    cas_fwd = 2 * (2048 * 1024 + 1024 * 20 + 2048 * 1024 + 1024 * 2)
    convs = [2 * 3 * 2048 * 128, 2 * 3 * 128 * 128, 2 * 3 * 128 * 128, 2 * 3 * 128 * 12]
    assert autoloc_step_flops(cas_model, model.localizer) == (
        cas_fwd + 2 * sum(convs) + sum(convs[1:])) == 12196864


def test_sections_are_written_and_rerun_apart(tmp_path, monkeypatch):
    """``--only scale`` rewrites its own section and keeps the main table, and back."""
    import types

    from benchmarks import run as bench
    from benchmarks.common import Row

    values = {"evaluation": 1.0, "scale": 2.0}
    for name in values:
        fake = types.SimpleNamespace(run=lambda quick, n=name: [Row(n, "q", values[n])])
        monkeypatch.setitem(sys.modules, f"benchmarks.bench_{name}", fake)
    out = tmp_path / "B.md"
    assert bench.main(["--only", "evaluation", "--out", str(out)]) == 0
    assert bench.main(["--only", "scale", "--out", str(out), "--note", "shared"]) == 0
    values.update(evaluation=3.0, scale=4.0)
    assert bench.main(["--only", "scale", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Benchmarks")
    assert "| evaluation | q | 1 " in text and "| scale | q | 4 " in text
    assert text.count("| scale | q |") == 1 and text.count("# Benchmarks") == 1
    assert "`python -m benchmarks.run --only scale`" in text
    assert "note: shared" not in text  # the rerun's header replaced the first
    assert bench.main(["--only", "evaluation", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| evaluation | q | 3 " in text and "| scale | q | 4 " in text
    assert text.index("| evaluation |") < text.index("<!-- section: scale -->")


@pytest.mark.slow
def test_scale_phases_in_process(tmp_path, shared_data, monkeypatch):
    """The scale benchmark's code path on a tiny cached root (two THUMOS'14 classes,
    D = 64), every phase in this process; the benchmark itself runs each in its own."""
    from benchmarks import bench_scale
    from benchmarks.common import RssMonitor

    monkeypatch.setenv(bench_scale.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("WTAL_TIMELINE_DIR", str(shared_data))
    (name, (spec, cas_cfg, refine_cfg, autoloc_cfg, protocol)), = bench_scale.specs(
        quick=True).items()
    root = bench_scale.ensure_root(name, spec)
    assert root.parent == tmp_path / "cache" and bench_scale.ensure_root(name, spec) == root
    assert bench_scale.features_bytes(root) > 0
    with RssMonitor() as mem:
        cas = bench_scale.phase_cas(root, cas_cfg, videos=8, epochs=2, run_dir=tmp_path / "cas")
    assert cas["videos"] == 8 and len(cas["epoch_s"]) == 2 and cas["read_s"] > 0
    peaks = mem.peaks()
    assert peaks["VmHWM"] >= peaks["RssAnon"] > 0 and peaks["RssFile"] > 0
    from wtal_tf.data import pipeline
    for name in ("UNPOOLED_READS", "RELEASE_HEAP_EVERY"):  # heap=True sets them
        monkeypatch.setattr(pipeline, name, getattr(pipeline, name))
    for heap in (False, True):
        assert bench_scale.phase_read(root, videos=8, heap=heap)["videos"] == 8
    assert not pipeline.UNPOOLED_READS
    pseudo = bench_scale.phase_pseudo(root, refine_cfg, tmp_path / "cas")
    assert pseudo["videos"] == 20
    al = bench_scale.phase_autoloc(root, autoloc_cfg, tmp_path / "cas", tmp_path / "al")
    assert al["steps"] > 0 and al["fit_s"] > 0
    infer = bench_scale.phase_infer(root, tmp_path / "cas", tmp_path / "dets.json")
    ev = bench_scale.phase_eval(root, tmp_path / "dets.json", protocol)
    assert ev["detections"] == infer["detections"] and 0 <= ev["average_mAP"] <= 1


def test_scale_selection_rejects_unknown_names(monkeypatch):
    from benchmarks import bench_scale

    monkeypatch.setenv(bench_scale.PHASES_ENV, "cas,cass")
    with pytest.raises(SystemExit, match="unknown cass; expected names from cas, read"):
        bench_scale.selection(bench_scale.PHASES_ENV, bench_scale.PHASE_GROUPS)
    monkeypatch.setenv(bench_scale.PHASES_ENV, "read,cas")
    assert bench_scale.selection(bench_scale.PHASES_ENV, bench_scale.PHASE_GROUPS) == ["read", "cas"]
    monkeypatch.delenv(bench_scale.PHASES_ENV)
    assert bench_scale.selection(bench_scale.PHASES_ENV, ("a", "b")) == ["a", "b"]
