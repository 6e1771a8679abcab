"""Run the benchmarks (``make bench``): each script in its own process, results in ``benchmarks/results/``.

    .venv/bin/python benchmarks/run.py                        # every benchmark, full protocols
    .venv/bin/python benchmarks/run.py --quick                # every benchmark, shortened (smoke run)
    .venv/bin/python benchmarks/run.py --only throughput      # one (repeat --only, or comma-separate, for more)
    .venv/bin/python benchmarks/run.py --list

A benchmark is any ``benchmarks/<name>.py`` with a ``__main__`` block that accepts ``--quick``; helpers
(``common.py``, ``*_common.py``) and this file are not. Each runs as ``.venv/bin/python benchmarks/<name>.py
[--quick]`` (the interpreter running this file), one after the other, so one benchmark's threads never compete
with another's and a crash in one does not stop the rest.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
FIRST = ("throughput", "quality")  # the core benchmarks run first; the others follow in name order
NOT_BENCHMARKS = {"run", "common"}


def discover() -> list[str]:
    names = []
    for path in sorted(HERE.glob("*.py")):
        name = path.stem
        if name in NOT_BENCHMARKS or name.endswith("_common") or name.startswith("_"):
            continue
        if 'if __name__ == "__main__"' in path.read_text(encoding="utf-8"):
            names.append(name)
    return sorted(names, key=lambda n: (FIRST.index(n) if n in FIRST else len(FIRST), n))


def main(argv: list[str] | None = None) -> int:
    available = discover()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=None, metavar="NAME",
                        help=f"run only these (repeatable or comma-separated): {', '.join(available)}")
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(available))
        return 0
    chosen = available
    if args.only:
        chosen = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
        unknown = [n for n in chosen if n not in available]
        if unknown:
            parser.error(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}")
    failed: list[str] = []
    timings: list[tuple[str, float, int]] = []
    for name in chosen:
        command = [sys.executable, str(Path("benchmarks") / f"{name}.py"), *(["--quick"] if args.quick else [])]
        print(f"== {name}: {' '.join(command)}", flush=True)
        started = time.perf_counter()
        code = subprocess.call(command, cwd=ROOT)
        seconds = time.perf_counter() - started
        timings.append((name, seconds, code))
        if code != 0:
            failed.append(name)
        print(f"== {name}: {'ok' if code == 0 else f'FAILED (exit {code})'} in {seconds / 60:.1f} min", flush=True)
    print(f"\nResults in {RESULTS} (<name>.json with every figure, <name>.md summaries):")
    for name, seconds, code in timings:
        files = sorted(p.name for p in RESULTS.glob(f"{name}*.md")) if RESULTS.is_dir() else []
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"  {name:<18} {status:<16} {seconds / 60:5.1f} min  {', '.join(files) or '(no results written)'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
