"""A self-contained HTML dashboard of an SAE's latents: firing rates, activation histograms, top-activating text.

Per latent: how often it fires, a histogram of its non-zero activations, and the text snippets where it fires
most strongly, each token shaded by the latent's activation on it. A search box filters latents by number or by
the tokens they fire on. The data is embedded as JSON and drawn by a few lines of inline JavaScript (one
matplotlib figure per latent would take minutes and tens of MB for thousands of latents); the summary figure
is an inline PNG drawn with the helpers of :mod:`aekit.report`. The file loads nothing from anywhere.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aekit.errors import AekitError, check_int
from aekit.report import _CSS, _esc, _figure_html, _new_figure, _png, write_html
from aekit.sae.activations import ActivationStore
from aekit.sae.training import SAERun

__all__ = ["latent_summaries", "write_dashboard"]

logger = logging.getLogger(__name__)

HISTOGRAM_BINS = 24

_DASHBOARD_CSS = """
main { max-width: 1200px; }
#browser { display: grid; grid-template-columns: 260px 1fr; gap: 16px; }
#search { width: 100%; box-sizing: border-box; padding: 6px; font-size: 1em; margin-bottom: 8px; }
#latents { max-height: 720px; overflow-y: auto; border: 1px solid #ddd; }
#latents div { padding: 3px 8px; cursor: pointer; border-bottom: 1px solid #f0f0f0; font-size: 0.9em; }
#latents div:hover, #latents div.selected { background: #eef4ff; }
#latents div.dead { color: #aaa; }
.bars { display: flex; align-items: flex-end; height: 90px; gap: 1px; border-bottom: 1px solid #999; }
.bars span { flex: 1; background: #4a7bd0; min-height: 1px; }
.axis { display: flex; justify-content: space-between; color: #666; font-size: 0.8em; }
.snippet { font-family: ui-monospace, monospace; font-size: 0.88em; padding: 4px 0; border-bottom: 1px solid #f3f3f3;
           white-space: pre-wrap; }
.snippet span { border-radius: 2px; }
.snippet .target { outline: 1px solid #c33; }
.value { color: #666; display: inline-block; width: 5em; }
"""

_SCRIPT = """
const data = JSON.parse(document.getElementById('latent-data').textContent);
const vocab = data.vocab;
const list = document.getElementById('latents');
const detail = document.getElementById('detail');
function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text; return e; }
function pct(r) { return (100 * r).toPrecision(3) + '%'; }
function show(latent, row) {
  document.querySelectorAll('#latents div.selected').forEach(d => d.classList.remove('selected'));
  if (row) row.classList.add('selected');
  detail.innerHTML = '';
  detail.appendChild(el('h3', '', 'Latent ' + latent.id));
  detail.appendChild(el('p', '', 'Fires on ' + latent.count + ' of ' + data.tokens + ' tokens (' + pct(latent.rate) +
    '); largest activation ' + latent.max.toPrecision(3) + '.'));
  if (!latent.count) { detail.appendChild(el('p', 'empty', 'Dead on these tokens: no histogram, no snippets.'));
    return; }
  detail.appendChild(el('h4', '', 'Non-zero activations'));
  const bars = el('div', 'bars'); const top = Math.max(...latent.hist);
  latent.hist.forEach((c, i) => { const b = el('span'); b.style.height = (100 * c / top) + '%';
    b.title = c + ' tokens'; bars.appendChild(b); });
  detail.appendChild(bars);
  const axis = el('div', 'axis'); axis.appendChild(el('span', '', latent.lo.toPrecision(3)));
  axis.appendChild(el('span', '', latent.max.toPrecision(3))); detail.appendChild(axis);
  detail.appendChild(el('h4', '', 'Top-activating snippets'));
  latent.top.forEach(s => {
    const line = el('div', 'snippet'); line.appendChild(el('span', 'value', s.value.toPrecision(3)));
    s.tokens.forEach((t, i) => { const span = el('span', i === s.target ? 'target' : '', vocab[t] + ' ');
      const a = s.strength[i] / 9; if (a > 0) span.style.background = 'rgba(230, 90, 30, ' + a + ')';
      line.appendChild(span); });
    detail.appendChild(line); });
}
function render() {
  const q = document.getElementById('search').value.trim().toLowerCase();
  list.innerHTML = ''; let shown = 0;
  for (const latent of data.latents) {
    if (q && String(latent.id) !== q && !latent.words.includes(q)) continue;
    const row = el('div', latent.count ? '' : 'dead', '#' + latent.id + '  ' + pct(latent.rate) +
      (latent.label ? '  ' + latent.label : ''));
    row.onclick = () => show(latent, row); list.appendChild(row);
    if (++shown === 1) show(latent, row);
  }
  if (!shown) { detail.innerHTML = ''; detail.appendChild(el('p', 'empty', 'No latent matches.')); }
}
document.getElementById('search').addEventListener('input', render);
render();
"""


@torch.no_grad()
def latent_summaries(run: SAERun, store: ActivationStore, *, start: int, stop: int, top: int = 8,
                     context: int = 8, batch_size: int = 4096) -> dict[str, Any]:
    """Per-latent firing counts, histograms and top-activating snippets over rows ``start:stop`` of ``store``."""
    sae = run.sae.eval()
    latents: list[np.ndarray] = []
    tokens: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for low in range(start, stop, batch_size):
        z = sae.encode(store.read(low, min(low + batch_size, stop)).to(sae.W_dec.device))  # (batch, latent_dim)
        row, col = z.nonzero(as_tuple=True)
        latents.append(col.cpu().numpy())
        tokens.append(row.cpu().numpy() + (low - start))
        values.append(z[row, col].float().cpu().numpy())
    latent = np.concatenate(latents)
    token = np.concatenate(tokens)
    value = np.concatenate(values)
    order = np.lexsort((token, latent))  # by latent, then token: each latent's firings in token order
    latent, token, value = latent[order], token[order], value[order]
    bounds = np.searchsorted(latent, np.arange(sae.config.latent_dim + 1))
    token_ids = store.read(start, stop, key="token_ids").numpy()
    text_ids = store.read(start, stop, key="text_ids").numpy()
    n = stop - start
    summaries = []
    used: set[int] = set()
    for j in range(sae.config.latent_dim):
        lo, hi = int(bounds[j]), int(bounds[j + 1])
        fired_at, fired_values = token[lo:hi], value[lo:hi]
        entry: dict[str, Any] = {"id": j, "count": hi - lo, "rate": (hi - lo) / n,
                                 "max": float(fired_values.max()) if hi > lo else 0.0, "top": []}
        if hi > lo:
            floor = float(min(fired_values.min(), 0.0))
            counts, _ = np.histogram(fired_values, bins=HISTOGRAM_BINS, range=(floor, entry["max"] or 1.0))
            entry["hist"], entry["lo"] = counts.tolist(), floor
            for best in np.argsort(-fired_values, kind="stable")[:top]:
                center = int(fired_at[best])
                window = [t for t in range(max(0, center - context), min(n, center + context + 1))
                          if text_ids[t] == text_ids[center]]
                where = np.searchsorted(fired_at, window)
                strength = [float(fired_values[w]) if w < len(fired_at) and fired_at[w] == t else 0.0
                            for w, t in zip(where, window)]
                ids = [int(token_ids[t]) for t in window]
                used.update(ids)
                peak = float(fired_values[best])
                entry["top"].append({"tokens": ids, "target": window.index(center), "value": peak,
                                     "strength": [round(9 * max(s, 0.0) / peak) if peak > 0 else 0
                                                  for s in strength]})
        summaries.append(entry)
    return {"latents": summaries, "tokens": n, "used_ids": sorted(used)}


def _vocabulary(store: ActivationStore, ids: list[int]) -> dict[int, str]:
    """Token strings of ``ids`` from the harvested model's tokenizer; '#id' when it cannot be loaded."""
    try:
        from transformers import AutoTokenizer

        from aekit.sae.activations import resolve_model_dir

        tokenizer = AutoTokenizer.from_pretrained(resolve_model_dir(store.manifest["model"]), local_files_only=True)
        return dict(zip(ids, tokenizer.convert_ids_to_tokens(ids)))
    except (AekitError, OSError, ValueError, KeyError) as exc:
        logger.warning("Cannot load the tokenizer of %s (%s); showing token ids.", store.manifest.get("model"), exc)
        return {i: f"#{i}" for i in ids}


def _rate_figure(rates: np.ndarray, n_tokens: int) -> str:
    fig = _new_figure(7, 3.0)
    ax = fig.add_subplot()
    alive = rates[rates > 0]
    dead = int((rates == 0).sum())
    if len(alive):
        ax.hist(np.log10(alive), bins=50, color="#4a7bd0")
    ax.set_xlabel("log10 firing rate")
    ax.set_ylabel("latents")
    ax.grid(True, alpha=0.3)
    caption = (f"Firing rates of the {len(rates)} latents over {n_tokens} tokens; {dead} never fire "
               f"({100 * dead / len(rates):.2f}%) and are not drawn.")
    return _figure_html(_png(fig), "firing-rate histogram", caption)


def write_dashboard(path: str | os.PathLike[str], run: SAERun, store: ActivationStore, *, tokens: int = 65536,
                    top: int = 8, context: int = 8) -> Path:
    """Write the dashboard of ``run`` over the last ``tokens`` rows of ``store`` (held-out rows included).

    Parameters
    ----------
    path : the ``.html`` file to write.
    run : a trained SAE (:func:`~aekit.sae.training.load_sae`).
    store : the activation directory it was trained on (for token ids and texts).
    tokens : how many tokens to scan, from the end of the store.
    top : snippets per latent.
    context : tokens shown each side of a snippet's peak (within the same text).
    """
    check_int(tokens, name="tokens", owner="write_dashboard", low=1)
    check_int(top, name="top", owner="write_dashboard", low=1)
    check_int(context, name="context", owner="write_dashboard", low=0)
    if store.d_in != run.sae.config.d_in:
        raise AekitError(f"The activations in '{store.directory}' have {store.d_in} features; this SAE expects "
                         f"{run.sae.config.d_in}. Pass the activation directory it was trained on.")
    start = max(0, store.n_tokens - tokens)
    summary = latent_summaries(run, store, start=start, stop=store.n_tokens, top=top, context=context)
    vocab_of = _vocabulary(store, summary["used_ids"])
    index = {token_id: i for i, token_id in enumerate(summary["used_ids"])}
    for entry in summary["latents"]:
        words: list[str] = []
        for snippet in entry["top"]:
            words.append(vocab_of[snippet["tokens"][snippet["target"]]].lower())
            snippet["tokens"] = [index[t] for t in snippet["tokens"]]
        entry["label"] = " ".join(dict.fromkeys(words[:3]))
        entry["words"] = " " + " ".join(words) + " "
    payload = {"vocab": [vocab_of[t] for t in summary["used_ids"]], "tokens": summary["tokens"],
               "latents": summary["latents"]}
    rates = np.array([e["rate"] for e in summary["latents"]])
    config = run.sae.config
    source = run.provenance or {}
    metrics_rows = "".join(f"<tr><th>{_esc(k)}</th><td class=\"num\">{_esc(f'{v:.4g}' if isinstance(v, float) else v)}"
                           "</td></tr>" for k, v in run.metrics.items() if not isinstance(v, (dict, list)))
    title = f"SAE latents: {config.arch}, {config.latent_dim} latents"
    model_path = Path(str(source.get("model", "?")))
    subtitle = (f"Model {model_path.parent.name}/{model_path.name}, layer {source.get('layer', '?')}, site "
                f"{source.get('site', '?')}; {summary['tokens']} tokens scanned.")
    data_json = json.dumps(payload, separators=(",", ":")).replace("</", "<\\/")
    body = (
        f"<section><h2>Metrics (held-out activations)</h2>\n<table class=\"notes\"><tbody>{metrics_rows}"
        "</tbody></table></section>\n"
        f"<section><h2>Firing rates</h2>\n{_rate_figure(rates, summary['tokens'])}</section>\n"
        "<section><h2>Latents</h2>\n<div id=\"browser\"><div><input id=\"search\" type=\"search\" "
        "placeholder=\"Search: latent number or token\" aria-label=\"search latents\">"
        "<div id=\"latents\"></div></div><div id=\"detail\"></div></div></section>\n"
        f"<script type=\"application/json\" id=\"latent-data\">{data_json}</script>\n"
        f"<script>{_SCRIPT}</script>"
    )
    return write_html(path, title=title, subtitle=subtitle, body=body, css=_CSS + _DASHBOARD_CSS,
                      what="SAE dashboard")
