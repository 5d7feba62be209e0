"""AutoLoc's OIC layer as a Keras layer over ``wtal_tf.ops.oic_select``."""

from __future__ import annotations

import keras
import tensorflow as tf

from wtal_tf.ops import oic, oic_select


@keras.saving.register_keras_serializable(package="wtal_tf")
class OICLayer(keras.layers.Layer):
    """Decodes anchors, scores every segment by OIC, selects and NMSes (AutoLoc §4.3).

    Args:
        anchors: anchor widths in snippets.
        inflation: outer inflation ratio alpha (AutoLoc: 0.25).
        min_outer: minimum outer side in snippets (official code: 1).
        cas_threshold: discard positions whose CAS < this (AutoLoc: 0.1).
        oic_threshold: drop segments with OIC > this (AutoLoc: -0.3).
        nms_iou: class-wise NMS IoU (AutoLoc: 0.4).
        loss: ``"oic"`` or ``"inner_only"`` (AutoLoc §5.4 Q2).
        **kwargs: standard layer arguments.

    Call arguments:
        cas: ``(time, classes)`` gated CAS of one video.
        t_x, t_w: ``(time, anchors)`` regressions from the localization network.
        classes: ``(C,)`` int class indices to consider.

    Returns:
        An :class:`~wtal_tf.ops.oic_select.Selection` of kept segments.
    """

    def __init__(self, anchors, inflation: float = 0.25, min_outer: float = 1.0,
                 cas_threshold: float = 0.1, oic_threshold: float = -0.3,
                 nms_iou: float = 0.4, loss: str = "oic", **kwargs):
        super().__init__(**kwargs)
        self.anchors = [int(a) for a in anchors]
        self.inflation = inflation
        self.min_outer = min_outer
        self.cas_threshold = cas_threshold
        self.oic_threshold = oic_threshold
        self.nms_iou = nms_iou
        self.loss = loss

    def boundaries(self, t_x, t_w):
        return oic.decode_boundaries(t_x, t_w, tf.constant(self.anchors, tf.float32),
                                     inflation=self.inflation, min_outer=self.min_outer)

    def call(self, cas, t_x, t_w, classes, max_per_class=None):
        return oic_select.select(cas, self.boundaries(t_x, t_w), classes,
                                 cas_threshold=self.cas_threshold,
                                 oic_threshold=self.oic_threshold, nms_iou=self.nms_iou,
                                 max_per_class=max_per_class, loss=self.loss)

    def get_config(self):
        config = super().get_config()
        config.update({"anchors": self.anchors, "inflation": self.inflation,
                       "min_outer": self.min_outer, "cas_threshold": self.cas_threshold,
                       "oic_threshold": self.oic_threshold, "nms_iou": self.nms_iou,
                       "loss": self.loss})
        return config
