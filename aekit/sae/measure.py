"""How good a sparse autoencoder is: sparsity and reconstruction on held-out activations, and what splicing its
reconstruction into the model does to the model's output.

Reconstruction metrics, over held-out tokens x (n, d) with reconstructions x_hat and codes z:

- ``l0``: mean number of non-zero latents per token.
- ``fvu``: fraction of variance unexplained, sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 (0 is perfect, 1 is
  no better than the mean). None when the held-out rows have no variance (one row, or all alike): FVU is then
  undefined, and reporting it as None beats refusing after training (``nmse`` still measures the SAE).
  :func:`~aekit.sae.train_sae` refuses training activations that are constant up front.
- ``nmse``: normalised MSE, sum ||x - x_hat||^2 / sum ||x||^2 (against predicting zero).
- ``cosine``: mean cosine similarity of x and x_hat.
- ``dead_fraction``: latents that never fire on the held-out tokens; ``dense_fraction``: latents that fire on
  more than ``dense_threshold`` (10%) of them, usually a sign of features that absorbed the mean. When the
  held-out tokens give fewer than 5 firings per latent (tokens x L0 < 5 x latents), ``dead_fraction_note`` says
  the figure is unreliable: live but rare latents go unseen.

The downstream check (:func:`downstream_check`) runs the model on held-out texts four times: clean; with the
site's activations replaced by the SAE's reconstruction (``splice``); by zeros (``zero_ablation``); by the data
mean (``mean_ablation``). It reports the mean cosine similarity of each run's sentence embedding (the
attention-masked mean of the last hidden state, as sentence-transformers pools MiniLM) with the clean one, and
``recovered``: how much of the damage that mean-ablation does the splice avoids, (cos_splice - cos_mean) /
(1 - cos_mean), 1 being perfect.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from aekit.errors import DataError, check_int
from aekit.sae.activations import (
    ActivationStore,
    TensorActivations,
    hooked,
    iter_texts,
    kept_tokens,
    load_model,
    model_inputs,
    site_module,
    tokenize,
)
from aekit.sae.model import SparseAutoencoder

__all__ = ["DENSE_THRESHOLD", "corpus_path", "downstream_check", "held_out_text_ids", "reconstruction_metrics"]

logger = logging.getLogger(__name__)

DENSE_THRESHOLD = 0.1  # a latent firing on more than 10% of tokens is "dense" (Gao et al. 2024 use 10% too)
# Below this many firings per latent on the measured tokens (at the mean rate), a latent that is alive but rare
# misses them often (Poisson: e^-5 < 1% for one at the mean rate, far more for rarer ones): dead_fraction is noted
# as unreliable.
_RELIABLE_FIRINGS = 5.0


@torch.no_grad()
def reconstruction_metrics(sae: SparseAutoencoder, source: ActivationStore | TensorActivations, start: int,
                           stop: int, *, batch_size: int = 4096) -> tuple[dict[str, Any], Tensor]:
    """Metrics (see the module docstring) over rows ``start:stop`` of ``source``, and the number of tokens each
    latent fired on (latent_dim,) int64."""
    if stop <= start:
        raise DataError(f"No held-out activations to measure on (rows {start}:{stop}). Harvest more tokens or "
                        "raise the holdout fraction.")
    sae.eval()
    device = sae.W_dec.device
    fires = torch.zeros(sae.config.latent_dim, dtype=torch.int64, device=device)
    residual = energy = cosine = l0 = 0.0
    # the variance is summed around a shift, the first row: sum ||x - mean||^2 = sum ||x - s||^2 - n ||mean - s||^2
    # cancels little when s is one of the rows, where the plain sum ||x||^2 - n ||mean||^2 loses every digit for
    # activations with an offset much larger than their spread (identical rows give exactly 0)
    shift: Tensor | None = None
    sum_shifted = torch.zeros(sae.config.d_in, dtype=torch.float64, device=device)
    energy_shifted = 0.0
    n = stop - start
    for low in range(start, stop, batch_size):
        x = source.read(low, min(low + batch_size, stop)).to(device)  # (batch, d)
        if shift is None:
            shift = x[0].double()  # (d,)
        z = sae.encode(x)
        x_hat = sae.decode(z)
        active = z != 0
        fires += active.sum(0)
        l0 += float(active.sum())
        residual += float((x - x_hat).double().pow(2).sum())
        energy += float(x.double().pow(2).sum())
        shifted = x.double() - shift  # (batch, d)
        sum_shifted += shifted.sum(0)
        energy_shifted += float(shifted.pow(2).sum())
        cosine += float(torch.nn.functional.cosine_similarity(x, x_hat, dim=1).double().sum())
    total = energy_shifted - float(sum_shifted.pow(2).sum()) / n  # sum ||x - mean||^2
    # below this share of the shifted energy what is left is the rounding of the float64 sums (up to ~1e7 rows),
    # not variance: identical rows
    defined = energy_shifted > 0 and total > 1e-9 * energy_shifted
    if not defined:
        logger.warning("The %d held-out rows have no variance, so FVU is undefined (reported as None).", n)
    rates = fires.double() / n
    metrics = {
        "l0": l0 / n,
        "fvu": residual / total if defined else None,
        "nmse": residual / max(energy, 1e-30),
        "cosine": cosine / n,
        "dead_fraction": float((fires == 0).double().mean()),
        "dense_fraction": float((rates > DENSE_THRESHOLD).double().mean()),
        "tokens": n,
    }
    # a latent firing at the average rate fires l0 * n / latent_dim times on these tokens; below a few times, many
    # live latents never fire here by chance and count as dead
    expected = l0 / sae.config.latent_dim
    if expected < _RELIABLE_FIRINGS:
        metrics["dead_fraction_note"] = (
            f"unreliable: {n} held-out tokens x L0 {l0 / n:.1f} = {l0:.0f} firings over {sae.config.latent_dim} "
            f"latents, {expected:.2g} each on average, so live latents go unseen; measure on more tokens")
        logger.warning("dead_fraction %.3f is unreliable: %s.", metrics["dead_fraction"],
                       metrics["dead_fraction_note"].removeprefix("unreliable: "))
    return metrics, fires.cpu()


def _pooled(hidden: Tensor, mask: Tensor) -> Tensor:
    """Attention-masked mean of the last hidden state (batch, d): the sentence embedding."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)  # (batch, tokens, 1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)


@torch.no_grad()
def downstream_check(sae: SparseAutoencoder, manifest: dict[str, Any], *, text_ids: list[int] | None = None,
                     n_texts: int = 256, batch_size: int = 32, model: str | os.PathLike[str] | None = None,
                     texts: str | os.PathLike[str] | None = None) -> dict[str, float]:
    """Splice the SAE's reconstruction into the model at the harvested layer and site (see the module docstring).

    Parameters
    ----------
    sae : the trained SAE.
    manifest : the activation directory's manifest (model, layer, site, corpus, context, split).
    text_ids : indices of the corpus texts to use (the held-out ones); None: the first ``n_texts``.
    n_texts : at most this many texts.
    model, texts : override the manifest's model folder and corpus file (e.g. after moving them;
        ``aekit sae measure --corpus``).
    """
    check_int(n_texts, name="n_texts", owner="downstream_check", low=1)
    if text_ids is not None and len(text_ids) == 0:
        raise DataError("text_ids is empty, so there is no text to splice into. Pass the corpus indices of "
                        "held-out texts (held_out_text_ids), or None for the first n_texts texts.")
    corpus = corpus_path(manifest, texts)
    local = load_model(model_path(manifest, model), device=sae.W_dec.device)
    _, module = site_module(local, int(manifest["layer"]), str(manifest["site"]))
    wanted = set(text_ids) if text_ids is not None else None
    chosen: list[str] = []
    seen = 0
    for text in iter_texts(corpus, split=manifest.get("split", "lines"),
                           chunk_chars=int(manifest.get("chunk_chars", 512))):
        if wanted is None or seen in wanted:
            chosen.append(text)
            if len(chosen) >= n_texts:
                break
        seen += 1
    if not chosen:
        found = (f"holds {seen} texts, but the first held-out one is text {min(wanted)} (counting from 0)" if wanted
                 else "holds no text")
        raise DataError(f"'{corpus}' {found}: it is not the corpus the activations were harvested from. Pass that "
                        "corpus (--corpus, or texts= in Python).")
    sae.eval()
    replacement: dict[str, Any] = {}

    def splice(_module: torch.nn.Module, _inputs: Any, output: Any) -> Any:
        how = replacement.get("how")
        if how is None:
            return None
        first = output[0] if isinstance(output, (tuple, list)) else output  # (batch, tokens, d)
        keep = replacement["keep"]  # (batch, tokens) bool
        x = first[keep]  # (n, d)
        if how == "splice":
            new = sae(x.float()).to(first.dtype)
        elif how == "zero":
            new = torch.zeros_like(x)
        else:
            new = sae.input_mean.to(first.dtype).expand_as(x)
        patched = first.clone()
        patched[keep] = new
        return (patched, *output[1:]) if isinstance(output, (tuple, list)) else patched

    sums = {"splice": 0.0, "zero": 0.0, "mean": 0.0}
    with hooked(module, splice):
        for low in range(0, len(chosen), batch_size):
            encoded = tokenize(local, chosen[low:low + batch_size], int(manifest.get("context", 128)),
                               sae.W_dec.device)
            inputs = model_inputs(encoded)
            mask = encoded["attention_mask"]
            replacement.clear()
            clean = _pooled(local.model(**inputs).last_hidden_state, mask)  # (batch, d)
            replacement["keep"] = kept_tokens(encoded, bool(manifest.get("include_special", False)))
            for how in sums:
                replacement["how"] = how
                changed = _pooled(local.model(**inputs).last_hidden_state, mask)
                sums[how] += float(torch.nn.functional.cosine_similarity(clean, changed, dim=1).sum())
    n = len(chosen)
    result = {"texts": n, "cos_splice": sums["splice"] / n, "cos_zero_ablation": sums["zero"] / n,
              "cos_mean_ablation": sums["mean"] / n}
    result["recovered"] = float((result["cos_splice"] - result["cos_mean_ablation"])
                                / max(1.0 - result["cos_mean_ablation"], 1e-12))
    return result


def corpus_path(manifest: dict[str, Any], texts: str | os.PathLike[str] | None = None) -> Path:
    """The corpus of the downstream check: ``texts`` if given, else the one the manifest recorded at harvest
    time, which must still be there."""
    return Path(_recorded(manifest, "texts", texts, Path.is_file, "corpus",
                          "Pass its new path (--corpus, or texts= in Python)")).expanduser()


def model_path(manifest: dict[str, Any], model: str | os.PathLike[str] | None = None) -> str | os.PathLike[str]:
    """The model of the downstream check: ``model`` if given (a folder or an installed package's name), else the
    folder the manifest recorded at harvest time, which must still be there."""
    return _recorded(manifest, "model", model, Path.is_dir, "model",
                     "Pass its new folder (--model on the command line, the model argument in Python)")


def _recorded(manifest: dict[str, Any], key: str, given: str | os.PathLike[str] | None,
              is_there: Callable[[Path], bool], what: str, advice: str) -> str | os.PathLike[str]:
    """``given``, else the path the manifest recorded under ``key`` at harvest time, refused when it is gone."""
    if given is not None:
        return given
    recorded = Path(str(manifest[key])).expanduser()
    if not is_there(recorded):
        raise DataError(f"The {what} recorded when the activations were harvested, '{recorded}', is gone (moved or "
                        f"deleted). {advice}, or skip the splice-in check (--texts 0).")
    return recorded


def held_out_text_ids(store: ActivationStore, start: int, stop: int) -> list[int]:
    """The corpus indices of the texts whose tokens all lie in rows ``start:stop``, in order (a text cut by
    ``start`` was partly trained on and is left out)."""
    ids = [int(v) for v in np.unique(store.read(start, stop, key="text_ids").numpy())]
    if ids and start > 0 and int(store.read(start - 1, start, key="text_ids")[0]) == ids[0]:
        ids = ids[1:]
    return ids
