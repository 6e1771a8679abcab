"""What IsolationForest on NAB windows measures: mostly how unusual a window's level is.

For each NAB series (same windows of 32 steps and label windows as benchmarks/anomaly_nab.py), the ROC-AUC of:
- iforest-windows: IsolationForest on the raw windows, point scores by overlap averaging (the baseline there);
- iforest-rotated: the same forest on the same windows rotated onto their principal components (all 32 kept,
  so no information is lost; only the axes change);
- level: |centred rolling mean over the window - the series median|, no model at all.

In raw coordinates every one of a window's 32 values carries its level, so most of the forest's random splits
cut on the level; rotated, the splits spread over shape components. Where the rotated forest falls far below
the raw one and the level score matches it, the series' anomalies are level anomalies, and a detector that
scores codes (which mix level and shape, like the rotated axes) needs more than a better autoencoder to pass it.

    .venv/bin/python benchmarks/anomaly_nab_level.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anomaly_common import DATA, command_line, machine_info, machine_markdown, write_results
from anomaly_nab import SERIES, WINDOW, iforest_windows, load


def rotated_iforest(values: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest

    from aekit.data.windows import make_windows, spread_window_values

    windows, starts = make_windows(values, WINDOW, 1)
    rotated = PCA(random_state=seed).fit_transform(windows.reshape(len(windows), -1))
    scores = -IsolationForest(random_state=seed).fit(rotated).score_samples(rotated)
    return spread_window_values(scores, starts, WINDOW, len(values))


def level(values: np.ndarray) -> np.ndarray:
    rolling = pd.Series(values).rolling(WINDOW, center=True, min_periods=1).mean().to_numpy()
    return np.abs(rolling - np.median(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 seed")
    args = parser.parse_args()
    if not (DATA / "nab").is_dir():
        sys.exit(f"The NAB data is absent ({DATA / 'nab'}); nothing to run.")
    from aekit.anomaly.metrics import roc_auc

    seeds = 1 if args.quick else args.seeds
    methods = ("iforest-windows", "iforest-rotated", "level")
    rows = []
    for name in SERIES:
        series, labels = load(name)
        values = series.to_numpy()
        figures = {"iforest-windows": np.mean([roc_auc(labels, iforest_windows(values, s)) for s in range(seeds)]),
                   "iforest-rotated": np.mean([roc_auc(labels, rotated_iforest(values, s)) for s in range(seeds)]),
                   "level": roc_auc(labels, level(values))}
        rows.append({"series": name, **{m: float(v) for m, v in figures.items()}})
        print(rows[-1], flush=True)
    lines = ["# NAB: what IsolationForest on windows measures\n", __doc__.split("\n\n")[1] + "\n",
             machine_markdown(machine_info(), command_line()),
             f"ROC-AUC; the forests are averaged over {seeds} seed(s).\n",
             "| series | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    lines += [f"| {r['series']} | " + " | ".join(f"{r[m]:.3f}" for m in methods) + " |" for r in rows]
    lines.append("| **mean** | " + " | ".join(f"**{np.mean([r[m] for r in rows]):.3f}**" for m in methods) + " |\n")
    stem = "anomaly_nab_level_quick" if args.quick else "anomaly_nab_level"
    paths = write_results(stem, {"command": command_line(), "seeds": seeds, "rows": rows}, "\n".join(lines))
    print("\n".join(lines))
    print(f"Wrote {paths[0]} and {paths[1]}")


if __name__ == "__main__":
    main()
