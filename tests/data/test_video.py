import numpy as np
import pytest

from wtal_tf.data.video import (
    Segment, VideoAnnotation, seconds_per_snippet, seconds_to_snippet_span,
    segments_to_mask, snippet_span_to_seconds)
from wtal_tf.errors import WtalError


def test_stride_prefers_the_videos_own_value():
    ann = VideoAnnotation("v", duration=10.0, seconds_per_snippet=0.5)
    assert seconds_per_snippet(ann, 7) == 0.5
    assert seconds_per_snippet(VideoAnnotation("v", duration=10.0), 4) == 2.5


def test_stride_without_duration_is_an_error_naming_the_video():
    with pytest.raises(WtalError, match="'v7'"):
        seconds_per_snippet(VideoAnnotation("v7"), 4)


def test_snippet_span_covers_whole_snippets():
    # Snippets 2..4 at 0.5 s cover [1.0, 2.5).
    assert snippet_span_to_seconds(2, 4, 0.5) == (1.0, 2.5)
    # One snippet: [t, t+1) * s.
    assert snippet_span_to_seconds(0, 0, 2.0) == (0.0, 2.0)
    s, e = seconds_to_snippet_span(*snippet_span_to_seconds(1.25, 3.5, 0.4), 0.4)
    assert np.isclose(s, 1.25) and np.isclose(e, 3.5)


def test_segments_to_mask_uses_snippet_centres():
    segs = [Segment(1.0, 2.0, "a"), Segment(3.6, 4.0, "b")]
    # stride 1: centres 0.5, 1.5, ..., 4.5
    np.testing.assert_array_equal(segments_to_mask(segs, 5, 1.0),
                                  [False, True, False, False, False])
    # stride 0.5: centres 0.25, 0.75, ...; 'a' holds 1.25, 1.75; 'b' holds 3.75.
    m = segments_to_mask(segs, 10, 0.5, classes=("a", "b"))
    assert m[:, 0].nonzero()[0].tolist() == [2, 3]
    assert m[:, 1].nonzero()[0].tolist() == [7]


def test_multi_hot_and_unknown_label():
    ann = VideoAnnotation("v", segments=[Segment(0, 1, "b"), Segment(2, 3, "a")])
    np.testing.assert_array_equal(ann.multi_hot(("a", "b", "c")), [1, 1, 0])
    with pytest.raises(WtalError, match="not in the class list"):
        ann.multi_hot(("a",))
