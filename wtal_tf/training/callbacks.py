"""Keras callbacks of the CAS task: holdout video mAP, CAS images for TensorBoard."""

from __future__ import annotations

import io
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from wtal_tf.evaluation.detection import interpolated_average_precision
from wtal_tf.viz import plots


def video_classification_map(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean over classes (with positives) of the AP of ranking videos by ŷ_k."""
    aps = []
    for k in range(labels.shape[1]):
        npos = int(labels[:, k].sum())
        if npos == 0:
            continue
        order = np.argsort(-scores[:, k], kind="stable")
        tp = labels[order, k] > 0
        aps.append(interpolated_average_precision(tp[None], ~tp[None], npos)[0])
    return float(np.mean(aps)) if aps else float("nan")


class HoldoutVideoMap(keras.callbacks.Callback):
    """Adds ``val_video_mAP`` (holdout video classification mAP) to the epoch logs."""

    def __init__(self, batches: tf.data.Dataset):
        super().__init__()
        self.batches = batches
        self._scores = None

    def on_train_begin(self, logs=None):
        # one traced forward pass (not op-by-op eager calls per batch shape)
        self._scores = tf.function(lambda x: self.model(x, training=False)["video_scores"],
                                   reduce_retracing=True)

    def on_epoch_end(self, epoch, logs=None):
        if self._scores is None:
            self.on_train_begin()
        scores, labels = [], []
        for x, y in self.batches:
            scores.append(self._scores(x).numpy())
            labels.append(y.numpy())
        if scores and logs is not None:
            logs["val_video_mAP"] = video_classification_map(np.concatenate(scores),
                                                             np.concatenate(labels))


def _figure_png(cas: np.ndarray, p_fg: np.ndarray, title: str) -> bytes:
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(6, 2))
    top = np.argsort(-cas.max(axis=0))[:3]
    for k in top:
        ax.plot(cas[:, k], lw=1, label=f"class {k}")
    ax.plot(p_fg, "k--", lw=1, label="p_fg")
    ax.set_ylim(0, 1.05)
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=6, loc="upper right")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


class CasImages(keras.callbacks.Callback):
    """Writes CAS and attention plots of a few holdout videos to TensorBoard."""

    def __init__(self, elements: list[dict], log_dir, every: int = 5):
        super().__init__()
        self.elements = elements
        self.every = every
        self.writer = tf.summary.create_file_writer(str(Path(log_dir) / "images"))

    def on_epoch_end(self, epoch, logs=None):
        if epoch % self.every and epoch != self.params.get("epochs", 0) - 1:
            return
        with self.writer.as_default():
            for e in self.elements:
                out = self.model({"features": e["features"][None]}, training=False)
                cas = tf.nn.softmax(out["cas_logits"][0], axis=-1).numpy()
                png = _figure_png(cas, out["p_fg"][0].numpy(),
                                  e["video_id"].numpy().decode())
                image = tf.image.decode_png(png, channels=4)[None]
                tf.summary.image(f"cas/{e['video_id'].numpy().decode()}", image, step=epoch)
        self.writer.flush()
