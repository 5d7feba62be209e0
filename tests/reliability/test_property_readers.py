"""Property-based: random (often malformed) annotation and prediction files either read
and evaluate, or raise the project's own error -- never anything else."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wtal_tf.data import readers
from wtal_tf.data.detections import read_detections
from wtal_tf.errors import WtalError
from wtal_tf.evaluation import evaluate_detections

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 100),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
                    st.sampled_from(["1.5", "abc", "", "nan", "-3"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8)
segments = st.one_of(values, st.lists(st.one_of(st.floats(-10, 100), st.text(max_size=4)),
                                      min_size=2, max_size=2))
annotation = st.fixed_dictionaries({}, optional={"segment": segments,
                                                 "label": st.one_of(st.text(max_size=4),
                                                                    values)})
entry = st.fixed_dictionaries({}, optional={
    "subset": st.one_of(st.sampled_from(["training", "validation", "test", "bogus"]), values),
    "duration": st.one_of(st.floats(0, 200), values),
    "annotations": st.one_of(st.lists(annotation, max_size=3), values)})
ground_truth = st.one_of(values, st.fixed_dictionaries(
    {"database": st.one_of(st.dictionaries(st.text(min_size=1, max_size=5), entry,
                                           max_size=4), values)},
    optional={"classes": st.one_of(st.lists(st.text(max_size=4), max_size=3), values)}))
prediction = st.fixed_dictionaries({}, optional={
    "label": st.one_of(st.sampled_from(["a", "b"]), values), "score": scalars,
    "segment": segments})
predictions = st.one_of(
    values,
    st.dictionaries(st.text(min_size=1, max_size=5), st.one_of(st.lists(prediction,
                                                                        max_size=3), values),
                    max_size=3),
    st.fixed_dictionaries({"results": st.one_of(values, st.dictionaries(
        st.text(min_size=1, max_size=5), st.lists(prediction, max_size=3), max_size=3))}))


@SETTINGS
@given(data=ground_truth, preds=predictions)
def test_json_reader_and_evaluator_fail_only_with_wtal_error(tmp_path, data, preds):
    gt_path = tmp_path / "gt.json"
    pred_path = tmp_path / "pred.json"
    gt_path.write_text(json.dumps(data))
    pred_path.write_text(json.dumps(preds))
    try:
        gt = readers.read_activitynet_json(gt_path)
        dets = read_detections(pred_path)
        evaluate_detections(gt, dets, tious=[0.5], skip_unknown_labels=True)
    except WtalError:
        pass


cells = st.one_of(st.text(alphabet="abc019.,\n\"- ", max_size=6), st.integers(-3, 50).map(str),
                  st.floats(allow_nan=True).map(str))


@SETTINGS
@given(header=st.lists(st.sampled_from(["video-name", "t-start", "t-end", "label",
                                        "video-duration", "x"]), max_size=6),
       rows=st.lists(st.lists(cells, max_size=6), max_size=5))
def test_csv_reader_fails_only_with_wtal_error(tmp_path, header, rows):
    path = tmp_path / "gt.csv"
    path.write_text("\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n")
    try:
        readers.read_refineloc_csv(path, classes=("a", "b", "c"))
    except WtalError:
        pass
