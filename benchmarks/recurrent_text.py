"""Text reconstruction: the ``recurrent`` preset on tiny Shakespeare lines of at most 64 characters.

Protocol (the default; ``--quick`` shortens it):

- data: ``../shared/data/text/tinyshakespeare.txt`` (``--data``), split into lines by
  ``aekit.text.load_text_lines(max_len=64)`` (longer lines are wrapped into pieces of at most 64 characters);
  a seeded permutation gives ``--n-train`` training lines and the last ``--n-test`` lines as held-out lines,
  never seen in training. A character tokenizer fitted on the training lines; each row holds the characters,
  an end marker and padding.
- model: ``AutoEncoder("recurrent", latent_dim=256)``: bidirectional GRU encoder whose outputs at every
  position, 8 values each, make the features (the preset's ``latent="tokens"``; ``--options '{"latent":
  "final"}'`` reads the final states instead), GRU decoder whose step t reads its own slice of a linear map of
  the code, teacher forcing in training, cross-entropy over the non-pad positions. ``hidden_dim`` 256,
  embeddings 64, Adam with a one-cycle schedule, gradient clipping 1.0, batch 64, seed 0, a fixed epoch
  budget (no validation split, no early stopping).
- metric: on the held-out lines, greedy free-running decoding from the code alone (``reconstruct``): character
  accuracy over the non-pad positions (characters and end markers), the fraction of lines rebuilt exactly,
  and the unigram baseline (always the most frequent training character).
- target (issue 3): character accuracy >= 95% at latent 256.

    .venv/bin/python benchmarks/recurrent_text.py             # 10,000 training lines, 10 epochs
    .venv/bin/python benchmarks/recurrent_text.py --quick     # 4,000 lines, 4 epochs (smoke run)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, json_options, machine_info, markdown_table, now, set_threads, write_results

from aekit import AutoEncoder
from aekit.evaluation import token_metrics
from aekit.text import END_ID, PAD_ID, load_text_lines, make_tokenizer

MAX_LEN, LATENT_DIM, TARGET = 64, 256, 0.95
MODEL_OPTIONS = {"hidden_dim": 256, "embedding_dim": 64}  # 512 units train ~4x slower per line on a CPU
TRAINING = {"batch_size": 64, "lr": 3e-3, "schedule": "onecycle", "grad_clip": 1.0, "validation_fraction": 0.0,
            "early_stopping": False, "random_state": 0, "device": "cpu"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4,000 training lines, 4 epochs")
    parser.add_argument("--n-train", type=int, default=None, help="training lines (default 10000; quick 4000)")
    parser.add_argument("--n-test", type=int, default=1000, help="held-out lines")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default 10; quick 4)")
    parser.add_argument("--options", default="{}", metavar="JSON",
                        help='More model options, e.g. \'{"cell": "lstm"}\' (merged over the defaults).')
    parser.add_argument("--batch-size", type=int, default=TRAINING["batch_size"])
    parser.add_argument("--lr", type=float, default=TRAINING["lr"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: one per core)")
    parser.add_argument("--data", type=Path, default=None, help="folder holding text/ (default ../shared/data)")
    parser.add_argument("--out", default="recurrent_text", help="stem of the result files in benchmarks/results")
    args = parser.parse_args(argv)
    path = (args.data or DATA) / "text" / "tinyshakespeare.txt"
    if not path.is_file():
        print(f"recurrent_text: skipped. {path} is absent; put tiny Shakespeare there to run this benchmark.")
        return 0
    n_train = args.n_train or (4000 if args.quick else 10000)
    epochs = args.epochs or (4 if args.quick else 10)
    threads = set_threads(args.threads)
    model_options = {**MODEL_OPTIONS, **json_options(args.options)}
    training = {**TRAINING, "batch_size": args.batch_size, "lr": args.lr}
    info, started_at, started = machine_info(), now(), time.perf_counter()

    lines = load_text_lines(path, max_len=MAX_LEN)
    order = np.random.default_rng(0).permutation(len(lines))
    if n_train + args.n_test > len(lines):
        parser.error(f"--n-train + --n-test must be at most {len(lines)} (the lines in {path.name})")
    train = [lines[i] for i in order[:n_train]]
    held_out = [lines[i] for i in order[len(lines) - args.n_test:]]
    tokenizer = make_tokenizer("char").fit(train)
    X_train = tokenizer.encode(train, MAX_LEN).astype(np.float32)  # (n_train, 64) ids
    X_test = tokenizer.encode(held_out, MAX_LEN).astype(np.float32)  # (n_test, 64) ids

    estimator = AutoEncoder("recurrent", latent_dim=LATENT_DIM, max_epochs=epochs,
                            model_options={"num_classes": tokenizer.vocab_size, **model_options}, **training)
    fit_started = time.perf_counter()
    estimator.fit(X_train)
    fit_seconds = time.perf_counter() - fit_started
    reconstruction = estimator.reconstruct(X_test)  # greedy decoding from the code alone

    metrics = token_metrics(X_test, reconstruction, ignore_index=PAD_ID)  # characters and end markers
    accuracy, exact = metrics["token_accuracy"], metrics["exact_rows"]
    scored = X_test != PAD_ID
    chars = X_train[(X_train != PAD_ID) & (X_train != END_ID)].astype(np.int64)
    unigram = float((X_test[scored] == np.bincount(chars).argmax()).mean())
    examples = [{"line": held_out[i], "reconstruction": tokenizer.decode(reconstruction[i:i + 1])[0]}
                for i in range(5)]
    results = {
        "settings": {"n_train": n_train, "n_test": args.n_test, "epochs": epochs, "max_len": MAX_LEN,
                     "latent_dim": LATENT_DIM, "model_options": model_options, "training": training,
                     "vocab_size": tokenizer.vocab_size, "threads": threads, "quick": args.quick},
        "accuracy": round(accuracy, 4), "exact_lines": round(exact, 4), "unigram_accuracy": round(unigram, 4),
        "fit_seconds": round(fit_seconds, 1), "final_train_loss": estimator.history_[-1]["train_loss"],
        "examples": examples,
    }
    verdict = "ok" if accuracy >= TARGET else "MISSED"
    table = markdown_table(["held-out lines", "char accuracy", "exact lines", "unigram baseline", "fit (s)"],
                           [[args.n_test, f"**{accuracy:.3f}** ({verdict}, target >= {TARGET})", f"{exact:.3f}",
                             f"{unigram:.3f}", f"{fit_seconds:.0f}"]])
    shown = "\n".join(f"- `{e['line']}` -> `{e['reconstruction']}`" for e in examples)
    summary = (f"`recurrent` preset, latent {LATENT_DIM}, {model_options}, {n_train:,} training lines of at most "
               f"{MAX_LEN} characters, {epochs} epochs (batch {training['batch_size']}, lr {training['lr']:g} "
               f"{training['schedule']}). Greedy decoding of held-out lines from their codes. Protocol: "
               f"`benchmarks/recurrent_text.py` docstring.\n\n{table}\n\nFirst held-out lines:\n\n{shown}")
    json_path, md_path = write_results(args.out, results, summary, info=info, started=started_at,
                                       seconds=time.perf_counter() - started)
    print(f"recurrent_text: accuracy {accuracy:.3f} (unigram {unigram:.3f}); wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
