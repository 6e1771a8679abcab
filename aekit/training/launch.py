"""``aekit ... --devices N``: the command again in N processes under torchrun's launcher, which speaks for them.

Process 0 says what the command says (its progress and warnings); the others keep quiet. A process that fails
writes its one-line error to a folder of the launcher's (``AEKIT_ERROR_DIR``) instead of stderr, and the
launcher prints one: process 0's, else the first process's that wrote one. (The first process to fail stops the
others, so process 0 may not get to say it.) The launcher's own notes (the OMP_NUM_THREADS banner, the
rendezvous) and its multi-line report of a failed process are left out: a command that fails in every process
prints its one line once, as it does in one process.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run torchrun with ``argv`` (its own arguments, then the program's); the exit status of the processes."""
    # the level of torch.distributed.elastic's loggers, read as each is made: before the imports that make them
    os.environ["LOGLEVEL"] = "CRITICAL"
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # torchrun's default, set here so it does not announce it
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    logging.getLogger("torch.distributed").setLevel(logging.CRITICAL)
    errors = Path(tempfile.mkdtemp(prefix="aekit-errors-"))
    os.environ["AEKIT_ERROR_DIR"] = str(errors)  # the processes inherit it
    try:
        run(parse_args(argv))
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        said = sorted(errors.glob("*.txt"), key=lambda p: int(p.stem) if p.stem.isdigit() else 1 << 30)
        if said:
            print(said[0].read_text(encoding="utf-8"), end="", file=sys.stderr)
        else:  # a process that died without a word (killed, out of memory)
            print(f"error: process {rank} of the distributed run failed (exit status {failure.exitcode}). Rerun "
                  "with --devices 1 to see why.", file=sys.stderr)
        return failure.exitcode if failure.exitcode > 0 else 1
    except (KeyboardInterrupt, SignalException):
        return 130  # the processes got the interrupt too; process 0 said so
    finally:
        shutil.rmtree(errors, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
