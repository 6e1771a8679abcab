"""Run the benchmarks: `make bench` (all), or `python benchmarks/run.py --only throughput --quick`.

Each benchmark is a script in this folder that writes benchmarks/results/<name>.json and .md with the machine,
the versions and the command that reproduces it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["throughput", "quality", "vae_nll", "denoising", "sparse_tradeoff", "anomaly_odds", "anomaly_nab",
              "anomaly_timing"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="run just this one (repeatable)")
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    args = parser.parse_args()
    failed = []
    for name in args.only or BENCHMARKS:
        script = HERE / f"{name}.py"
        if not script.is_file():
            print(f"skip {name}: {script.name} is missing", flush=True)
            continue
        command = [sys.executable, script.name, *(["--quick"] if args.quick else [])]
        print(f"== {name}: {' '.join(command)}", flush=True)
        if subprocess.call(command, cwd=HERE) != 0:
            failed.append(name)
    print(f"Results in {HERE / 'results'}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
