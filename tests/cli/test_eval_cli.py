import json

from wtal_tf.cli.main import main


def test_evaluate_and_diagnose_on_real_files(shared_data, tmp_path, capsys):
    gt = shared_data / "activitynet12" / "activitynet_v1-2_valid_groundtruth.csv"
    pred = shared_data / "activitynet12" / "refineloc_i3d_predictions_iteration3.json"
    assert main(["evaluate", str(gt), str(pred), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "38.65" in out and "23.22" in out
    r = json.loads((tmp_path / "r.json").read_text())
    assert abs(100 * r["average_mAP"] - 23.222) < 0.01
    assert main(["diagnose", str(gt), str(pred), "--out", str(tmp_path / "d")]) == 0
    png = (tmp_path / "d.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "d.json").read_text())["num_ground_truth"] == 3459


def test_thumos_protocol_cli_with_ambiguous(shared_data, tmp_path, capsys):
    t = shared_data / "thumos14"
    # The ground truth itself as predictions (score 1): every class at AP 1.
    from wtal_tf.data import readers
    gt = readers.read_activitynet_json(t / "thumos14_gt_basnet.json")
    results = {v.video_id: [{"label": s.label, "score": 1.0, "segment": [s.start, s.end]}
                            for s in v.segments]
               for v in gt.videos.values() if v.subset == "testing"}
    (tmp_path / "p.json").write_text(json.dumps(results))  # a bare {vid: [...]} file
    assert main(["evaluate", str(t / "thumos14_gt_basnet.json"), str(tmp_path / "p.json"),
                 "--protocol", "thumos14", "--ambiguous", str(t / "Ambiguous_test.txt"),
                 "--json", str(tmp_path / "r.json")]) == 0
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["mAP"] == [1.0] * 7 and len(r["per_class_AP"]) == 20


def test_prediction_file_of_the_wrong_shape(tmp_path, shared_data, capsys):
    (tmp_path / "p.json").write_text(json.dumps({"results": [1, 2]}))
    gt = shared_data / "thumos14" / "thumos14_gt_basnet.json"
    assert main(["evaluate", str(gt), str(tmp_path / "p.json")]) == 2
    assert "expected {'results'" in capsys.readouterr().err
