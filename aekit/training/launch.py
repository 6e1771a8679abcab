"""``aekit ... --devices N``: the command again in N processes under torchrun's launcher, which speaks for them.

Process 0 says what the command says (its progress, warnings and one-line errors); the others keep quiet. The
launcher's own notes (the OMP_NUM_THREADS banner, the rendezvous) and its multi-line report of a failed process
are left out: a command that fails in every process prints its one line once, as it does in one process.
"""

from __future__ import annotations

import logging
import os
import sys

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
    try:
        run(parse_args(argv))
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        if 0 not in exc.failures:  # process 0 says why it fails; when only others fail, say which
            print(f"error: process {rank} of the distributed run failed (exit status {failure.exitcode}). Rerun "
                  "with --devices 1 to see why.", file=sys.stderr)
        return failure.exitcode if failure.exitcode > 0 else 1
    except (KeyboardInterrupt, SignalException):
        return 130  # the processes got the interrupt too; process 0 said so
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
