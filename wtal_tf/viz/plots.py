"""PNG plots of results people look at: FP profiles, timelines, tables of mAP."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from wtal_tf import io_utils


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display).

    Imported on first use: matplotlib adds about a second to every command's
    start-up, and most commands draw nothing.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path) -> Path:
    """Writes ``fig`` as a PNG atomically and closes it."""
    plt = pyplot()
    with io_utils.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return Path(path)


def plot_fp_profile(diagnosis, path, title: str | None = None) -> Path:
    """Stacked bars of TP and each error type among the top-kG predictions."""
    from wtal_tf.evaluation.diagnosis import CATEGORIES

    plt = pyplot()
    frac = diagnosis.fractions * 100
    fig, ax = plt.subplots(figsize=(7, 4))
    colors = ["#2ca02c", "#9467bd", "#d62728", "#ff7f0e", "#8c564b", "#7f7f7f"]
    bottom = np.zeros(len(diagnosis.multiples))
    for k, (name, color) in enumerate(zip(CATEGORIES, colors)):
        ax.bar([f"{m}G" for m in diagnosis.multiples], frac[:, k], bottom=bottom,
               color=color, label=name)
        bottom += frac[:, k]
    ax.set_ylabel("share of predictions (%)")
    ax.set_xlabel(f"top-kG predictions by score (G = {diagnosis.num_ground_truth})")
    ax.set_ylim(0, 100)
    ax.set_title(title or f"false-positive profile at tIoU {diagnosis.alpha}")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    return save_figure(fig, path)


def plot_timeline(path, *, video_id: str, duration: float,
                  ground_truth: Sequence[tuple[float, float, str]] = (),
                  detections: Sequence[tuple[float, float, float, str]] = (),
                  cas: np.ndarray | None = None, cas_labels: Sequence[str] = (),
                  foreground: np.ndarray | None = None, max_detections: int = 30) -> Path:
    """One video: CAS of the top classes and p_fg (if given), GT, detections."""
    plt = pyplot()
    rows = 2 + (cas is not None or foreground is not None)
    fig, axes = plt.subplots(rows, 1, figsize=(10, 1.3 * rows + 1), sharex=True,
                             squeeze=False)
    axes = axes[:, 0]
    i = 0
    if cas is not None or foreground is not None:
        ax = axes[0]
        t = None
        if cas is not None:
            cas = np.atleast_2d(np.asarray(cas))
            t = (np.arange(cas.shape[0]) + 0.5) * duration / cas.shape[0]
            for k in range(cas.shape[1]):
                ax.plot(t, cas[:, k], lw=1.2,
                        label=f"CAS {cas_labels[k] if k < len(cas_labels) else k}")
        if foreground is not None:
            fg = np.asarray(foreground)
            t = (np.arange(len(fg)) + 0.5) * duration / len(fg)
            ax.plot(t, fg, "k--", lw=1, label="p(foreground)")
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=7, loc="upper right")
        i = 1
    labels = sorted({g[2] for g in ground_truth} | {d[3] for d in detections})
    cmap = plt.get_cmap("tab10")
    color = {lab: cmap(k % 10) for k, lab in enumerate(labels)}
    ax = axes[i]
    for s, e, lab in ground_truth:
        ax.axvspan(s, e, color=color[lab], alpha=0.6)
    ax.set_yticks([])
    ax.set_ylabel("ground\ntruth", rotation=0, ha="right", va="center")
    ax = axes[i + 1]
    dets = sorted(detections, key=lambda d: -d[2])[:max_detections]
    for row, (s, e, score, lab) in enumerate(dets):
        ax.barh(row, e - s, left=s, height=0.8, color=color[lab],
                alpha=0.3 + 0.7 * float(np.clip(score / max(d[2] for d in dets), 0, 1)))
    ax.set_yticks([])
    ax.set_ylabel(f"top {len(dets)}\ndetections", rotation=0, ha="right", va="center")
    ax.invert_yaxis()
    ax.set_xlim(0, duration)
    ax.set_xlabel("time (s)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=color[lab]) for lab in labels]
    if handles:
        axes[-1].legend(handles, labels, fontsize=7, loc="upper center",
                        bbox_to_anchor=(0.5, -0.45), ncol=min(len(labels), 5))
    fig.suptitle(video_id)
    return save_figure(fig, path)

