"""The HTML dashboard: self-contained, every latent with its rate, histogram and highlighted snippets, a search box."""

from __future__ import annotations

import json
import re

import pytest
import torch

from aekit.errors import AekitError
from aekit.sae import ActivationStore, train_sae
from aekit.sae.dashboard import latent_summaries, write_dashboard


@pytest.fixture(scope="module")
def run(acts_dir):
    torch.set_num_threads(1)
    return train_sae(acts_dir, arch="topk", expansion=2, k=8, tokens=3000, batch_size=64, device="cpu")


def _payload(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="latent-data">(.*?)</script>', html, re.DOTALL)
    assert match
    return json.loads(match.group(1).replace("<\\/", "</"))


def test_the_dashboard_is_self_contained_and_searchable(run, acts_dir, tmp_path) -> None:
    store = ActivationStore(acts_dir)
    path = write_dashboard(tmp_path / "dash.html", run, store, top=3, context=2)
    html = path.read_text(encoding="utf-8")
    assert '<input id="search" type="search"' in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # loads nothing from anywhere
    assert "data:image/png;base64," in html  # the firing-rate figure
    data = _payload(html)
    assert len(data["latents"]) == 768 and data["tokens"] == store.n_tokens
    alive = [entry for entry in data["latents"] if entry["count"]]
    assert alive
    for entry in alive:
        assert len(entry["hist"]) == 24 and sum(entry["hist"]) == entry["count"]
        assert entry["rate"] == pytest.approx(entry["count"] / store.n_tokens)
        assert 1 <= len(entry["top"]) <= 3
        values = [s["value"] for s in entry["top"]]
        assert values == sorted(values, reverse=True) and values[0] == pytest.approx(entry["max"])
        for snippet in entry["top"]:
            assert len(snippet["tokens"]) <= 5 and snippet["strength"][snippet["target"]] == 9  # the peak
            assert all(0 <= t < len(data["vocab"]) for t in snippet["tokens"])
    assert any(word.startswith("citizen") for word in data["vocab"])  # real wordpieces, not ids


def test_summaries_agree_with_the_codes(run, acts_dir) -> None:
    store = ActivationStore(acts_dir)
    summary = latent_summaries(run, store, start=0, stop=store.n_tokens, top=1)
    with torch.no_grad():
        z = run.sae.encode(store.read(0, store.n_tokens))
    counts = (z != 0).sum(0)
    for entry in summary["latents"]:
        assert entry["count"] == int(counts[entry["id"]])
        if entry["count"]:
            assert entry["max"] == pytest.approx(float(z[:, entry["id"]].max()))


def test_activations_of_another_width_are_rejected(run, tmp_path, minilm, corpus) -> None:
    from aekit.sae import harvest

    store = ActivationStore(harvest(minilm, corpus, tmp_path / "a", layer=0, site="mlp", max_tokens=20))
    store.d_in = 383  # as if harvested from a model of another width
    with pytest.raises(AekitError, match="have 383 features; this SAE expects 384"):
        write_dashboard(tmp_path / "d.html", run, store)
