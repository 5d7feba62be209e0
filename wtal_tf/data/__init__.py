"""Video records, readers of the field's formats, the interchange root, validation."""

from wtal_tf.data.video import (  # noqa: F401
    AnnotationSet,
    Segment,
    VideoAnnotation,
    Video,
    seconds_per_snippet,
    snippet_span_to_seconds,
    seconds_to_snippet_span,
)
