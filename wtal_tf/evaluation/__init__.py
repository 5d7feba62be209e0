"""The one evaluation module: tIoU, detection mAP, THUMOS'14 protocol, diagnosis.

Used alike by training, the CLI and the benchmarks.  Written from the
published algorithms (ActivityNet's ``eval_detection.py`` convention, the
THUMOS'14 ``TH14evalDet`` protocol, DETAD's false-positive analysis).
"""

from wtal_tf.evaluation.detection import (  # noqa: F401
    ACTIVITYNET_TIOUS, THUMOS_TIOUS, DetectionResult, evaluate_detections,
    interpolated_average_precision, segment_iou)
