"""Tables of mAP over seeds (mean ± sd), as text, Markdown, JSON and PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wtal_tf import io_utils


class MapRow:
    """Stored mAPs (fractions, one per tIoU) in :class:`DetectionResult`'s shape, for
    tables of numbers computed earlier (RefineLoc's per-iteration test mAP)."""

    def __init__(self, maps, tious=None):
        self.mAP = np.asarray(maps, float)
        self.average_mAP = float(np.mean(self.mAP))
        self.tious = None if tious is None else np.asarray(tious)


class SeedTable:
    """Collects one :class:`DetectionResult` per (row, seed)."""

    def __init__(self, tious):
        self.tious = np.asarray(tious, float)
        self.rows: dict[str, list[np.ndarray]] = {}

    def add(self, row: str, result) -> None:
        maps = np.append(result.mAP, result.average_mAP) * 100
        self.rows.setdefault(row, []).append(maps)

    def stats(self, row: str):
        arr = np.stack(self.rows[row])
        sd = arr.std(axis=0, ddof=1) if len(arr) > 1 else np.zeros(arr.shape[1])
        return arr.mean(axis=0), sd, len(arr)

    def column(self, tiou: float) -> int:
        return int(np.argmin(np.abs(self.tious - tiou)))

    def markdown(self, title: str = "") -> str:
        head = ["method"] + [f"{t:.2f}" for t in self.tious] + ["avg", "seeds"]
        lines = ([f"**{title}**", ""] if title else []) + [
            "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in self.rows:
            mean, sd, n = self.stats(row)
            cells = [f"{m:.1f} ± {s:.1f}" for m, s in zip(mean, sd)]
            lines.append(f"| {row} | " + " | ".join(cells) + f" | {n} |")
        return "\n".join(lines)

    def text(self) -> str:
        width = max([len(r) for r in self.rows] + [6])
        head = f"{'method':<{width}} " + " ".join(f"{t:>11.2f}" for t in self.tious) + \
            f" {'avg':>11}"
        lines = [head]
        for row in self.rows:
            mean, sd, _ = self.stats(row)
            lines.append(f"{row:<{width}} " + " ".join(f"{m:5.1f} ± {s:3.1f}"
                                                        for m, s in zip(mean, sd)))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        out = {"tious": self.tious.tolist(), "rows": {}}
        for row, vals in self.rows.items():
            mean, sd, n = self.stats(row)
            out["rows"][row] = {"per_seed": [v.tolist() for v in vals], "mean": mean.tolist(),
                                "sd": sd.tolist(), "seeds": n}
        return out

    def save(self, prefix, title: str) -> None:
        prefix = Path(prefix)
        io_utils.write_json(prefix.with_suffix(".json"), self.to_dict(), indent=1)
        io_utils.write_text(prefix.with_suffix(".md"), self.markdown(title) + "\n")
        self.plot(prefix.with_suffix(".png"), title)

    def plot(self, path, title: str) -> Path:
        from wtal_tf.viz.plots import pyplot, save_figure

        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for row in self.rows:
            mean, sd, _ = self.stats(row)
            ax.errorbar(self.tious, mean[:-1], yerr=sd[:-1], marker="o", capsize=3,
                        label=f"{row} (avg {mean[-1]:.1f})")
        ax.set_xlabel("tIoU threshold")
        ax.set_ylabel("mAP (%)")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        return save_figure(fig, path)
