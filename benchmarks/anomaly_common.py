"""Shared bits of the anomaly benchmarks, on top of ``common.py``: data paths, result files, the machine note."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT.parent / "shared" / "data"
RESULTS = HERE / "results"
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from common import command_line, machine_info, now

__all__ = ["DATA", "RESULTS", "command_line", "machine_info", "machine_markdown", "write_results"]


def machine_markdown(info: dict[str, Any], command: str) -> str:
    """The machine, a warning that it is shared, the date and the command that reproduces the run."""
    from common import machine_markdown as describe

    return (f"{describe(info)} The machine is shared with other work: timings are indicative, quality figures "
            f"are not affected. Date: {now()}.\n\nReproduce: `{command}`\n")


def write_results(stem: str, payload: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """``benchmarks/results/<stem>.json`` and ``.md``, each written atomically."""
    from aekit.io import atomic_path, write_json

    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path, md_path = RESULTS / f"{stem}.json", RESULTS / f"{stem}.md"
    write_json(json_path, payload)
    with atomic_path(md_path) as tmp:
        tmp.write_text(markdown, encoding="utf-8")
    return json_path, md_path
