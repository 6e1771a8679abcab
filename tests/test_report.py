"""HTML report: one self-contained file, inline PNG figures, escaped text, atomic writes."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from aekit.errors import AekitError
from aekit.report import write_report

IMG = '<img src="data:image/png;base64,'
HISTORY = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e} for e in range(1, 6)]
TABLE = [{"method": "autoencoder (conv)", "code_size": 4, "mse": 1.5, "psnr": 20.0},
         {"method": "PCA", "code_size": 4, "mse": 3.25, "psnr": 17.5}]


def _report(path, **overrides) -> str:
    rng = np.random.default_rng(0)
    originals = rng.uniform(0, 16, size=(20, 1, 8, 8))
    kwargs = {"title": "demo", "history": HISTORY, "originals": originals,
              "reconstructions": originals + rng.normal(0, 1, size=originals.shape),
              "codes": rng.normal(size=(30, 5)), "labels": np.arange(30) % 3, "class_names": ["a", "b", "c"],
              "table": TABLE, "notes": {"data": "digits", "model": "conv", "device": "cpu", "time": "1 s"}}
    kwargs.update(overrides)
    written = write_report(path, **kwargs)
    assert written == path
    return path.read_text(encoding="utf-8")


def _pngs(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'data:image/png;base64,([A-Za-z0-9+/=]+)"', text)]


def test_report_is_one_self_contained_html_file(tmp_path) -> None:
    path = tmp_path / "report.html"
    text = _report(path)
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # atomic: no temp file left behind
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert text.count(IMG) == 4  # loss curves, reconstructions, latent map, code sparsity
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in _pngs(text))
    assert "http" not in text and "<script" not in text and "<link" not in text and "src=\"data:" in text
    assert "<table>" in text and "autoencoder (conv)" in text and "3.250" in text
    assert "projected to 2-D with PCA" in text  # 5-D codes
    for value in ("digits", "conv", "cpu", "1 s"):
        assert f"<td>{value}</td>" in text


def test_text_is_escaped(tmp_path) -> None:
    evil = "<script>alert('x')</script>"
    text = _report(tmp_path / "r.html", title=evil, notes={evil: evil}, class_names=[evil, "b", "c"],
                   table=[{"method": evil, "mse": 1.0}])
    assert "<script" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert text.count("&lt;script&gt;") >= 4  # title tag, heading, notes key and value, table cell


def test_sections_without_data_say_so(tmp_path) -> None:
    text = _report(tmp_path / "r.html", history=[], originals=None, reconstructions=None, codes=None, labels=None,
                   class_names=None, table=None, notes=None)
    assert IMG not in text
    for message in ("No training history.", "No reconstructions.", "No latent codes.", "No metrics.",
                    "No run notes.", "No code statistics."):
        assert message in text


@pytest.mark.parametrize("shape", [(5, 3, 6, 6), (5, 6, 7), (5, 2, 4, 4), (5, 12), (5, 1, 40)])
def test_every_sample_layout_draws(tmp_path, shape) -> None:
    rng = np.random.default_rng(0)
    originals = rng.uniform(size=shape)
    text = _report(tmp_path / "r.html", originals=originals, reconstructions=originals * 0.9)
    assert text.count(IMG) == 4
    assert ("channel 0 of 2" in text) == (shape == (5, 2, 4, 4))


@pytest.mark.parametrize("dims, caption", [(1, "codes are 1-D"), (2, "codes are 2-D")])
def test_low_dimensional_codes_are_not_projected(tmp_path, dims, caption) -> None:
    codes = np.random.default_rng(0).normal(size=(30, dims))
    text = _report(tmp_path / "r.html", codes=codes, labels=None)
    assert caption in text and "projected" not in text
    assert "No labels were given." in text


def test_many_classes_get_a_colour_bar(tmp_path) -> None:
    text = _report(tmp_path / "r.html", codes=np.random.default_rng(0).normal(size=(60, 3)),
                   labels=np.arange(60) % 30, class_names=None)
    assert "30 classes" in text and text.count(IMG) == 4


def test_bad_inputs_raise_and_leave_the_old_report_alone(tmp_path) -> None:
    path = tmp_path / "report.html"
    before = _report(path)
    with pytest.raises(AekitError, match="originals and reconstructions together. Got only originals"):
        _report(path, reconstructions=None)
    with pytest.raises(AekitError, match=r"same shape.*Got \(20, 1, 8, 8\) and \(3, 1, 8, 8\)"):
        _report(path, reconstructions=np.zeros((3, 1, 8, 8)))
    with pytest.raises(AekitError, match="Got 7 labels for 30 codes"):
        _report(path, labels=np.zeros(7))
    with pytest.raises(AekitError, match=r"codes must have shape.*Got \(30,\)"):
        _report(path, codes=np.zeros(30))
    assert path.read_text(encoding="utf-8") == before
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_code_statistics_and_generation_sections(tmp_path) -> None:
    rng = np.random.default_rng(1)
    sparse_codes = rng.normal(size=(30, 6)) * (rng.random((30, 6)) < 0.3)  # ~30% of units non-zero
    stats = {"kl": 3.5, "kl_by_unit": np.array([2.0, 1.0, 0.5, 0.0, 0.0, 0.0]),
             "code_frequency": np.array([0.5, 0.25, 0.25, 0.0])}
    text = _report(tmp_path / "r.html", codes=sparse_codes, stats=stats,
                   generated=rng.uniform(0, 16, size=(16, 1, 8, 8)), interpolation=rng.uniform(0, 16, (8, 1, 8, 8)))
    l0 = float((sparse_codes != 0).sum(1).mean())
    assert f"Mean L0 {l0:.1f} of 6 units" in text
    assert "KL divergence of each latent unit" in text and "3 of 4 entries used; perplexity 2.8." in text
    assert "<h2>Generation</h2>" in text and "Samples: codes drawn from the prior" in text
    assert len(_pngs(text)) == 3 + 1 + 2 + 2  # loss, reconstructions, map; sparsity; two stat charts; generation
    plain = _report(tmp_path / "p.html")  # no generation arrays: no Generation section at all
    assert "<h2>Generation</h2>" not in plain and "No code statistics" not in plain


def test_codes_without_exact_zeros_get_their_magnitudes_not_an_l0(tmp_path) -> None:
    rng = np.random.default_rng(2)
    sigmoid_codes = 1 / (1 + np.exp(-rng.normal(-3, 1, size=(30, 6))))  # small but never exactly 0
    stats = {"kl_sparsity.mean_activation_by_unit": sigmoid_codes.mean(0), "kl_sparsity.rho": 0.05,
             "kl_sparsity.mean_activation": float(sigmoid_codes.mean())}
    text = _report(tmp_path / "r.html", codes=sigmoid_codes, stats=stats)
    assert "Mean L0" not in text and "100.0%" not in text
    assert "Only 0.0% of the code values are exactly 0, so an L0 would count nearly all units" in text
    assert f"Mean |code value| {sigmoid_codes.mean():.3g} over the units" in text
    assert "Mean activation of each latent unit" in text and "Target rho = 0.05000." in text
    assert "<th>kl_sparsity.mean_activation</th>" in text
    assert "compare them with its target" in text
    # dense codes without a sparsity target (a VAE's, a contractive model's): no word of one
    gaussian = _report(tmp_path / "g.html", codes=rng.normal(size=(30, 6)), stats={})
    assert "Only 0.0% of the code values are exactly 0" in gaussian and "target" not in gaussian


def _table_value(text: str, name: str) -> float:
    match = re.search(rf'<th>{re.escape(name)}</th><td class="num">([^<]+)</td>', text)
    assert match, f"no row {name!r} in the statistics table"
    return float(match.group(1))


def test_a_kl_sparse_models_report_compares_mean_activations_with_rho(tmp_path, digits) -> None:
    from aekit import AutoEncoder
    from aekit.report import write_model_report

    estimator = AutoEncoder(model="sparse-kl", latent_dim=12, max_epochs=3, batch_size=64, random_state=0,
                            model_options={"rho": 0.1, "weight": 1.0}).fit(digits[:400])
    X = digits[400:700]
    text = write_model_report(tmp_path / "m.html", estimator, X, title="kl").read_text("utf-8")
    rho_hat = estimator.transform(X).astype(np.float64).mean(0)  # (12,) each unit's mean activation
    assert "Mean L0" not in text  # sigmoid codes: every unit of every sample is non-zero
    assert _table_value(text, "kl_sparsity.mean_activation") == pytest.approx(rho_hat.mean(), rel=1e-3)
    near = np.mean((rho_hat >= 0.05) & (rho_hat <= 0.2))
    assert _table_value(text, "kl_sparsity.near_rho_fraction") == pytest.approx(near, abs=1e-3)
    assert _table_value(text, "kl_sparsity.rho") == 0.1 and "Target rho = 0.1000." in text


def test_an_l1_sparse_models_report_shows_its_l0(tmp_path, digits) -> None:
    from aekit import AutoEncoder
    from aekit.report import write_model_report

    estimator = AutoEncoder(model="sparse-l1", latent_dim=12, max_epochs=3, batch_size=64,
                            random_state=0).fit(digits[:400])
    X = digits[400:700]
    text = write_model_report(tmp_path / "m.html", estimator, X, title="l1").read_text("utf-8")
    codes = estimator.transform(X)
    l0 = float((codes != 0).sum(1).mean())
    assert 0 < l0 < 12 and f"Mean L0 {l0:.1f} of 12 units" in text
    assert _table_value(text, "l1.l0") == pytest.approx(l0, rel=1e-3)
    assert _table_value(text, "l1.mean_abs_code") == pytest.approx(float(np.abs(codes).mean()), rel=1e-3)


def test_bad_statistics_or_samples_raise(tmp_path) -> None:
    with pytest.raises(AekitError, match=r"stats\['m'\] must be a finite number or 1-D array. Got shape \(2, 2\)"):
        _report(tmp_path / "r.html", stats={"m": np.zeros((2, 2))})
    with pytest.raises(AekitError, match="stats must be a dict"):
        _report(tmp_path / "r.html", stats=[1.0])
    with pytest.raises(AekitError, match=r"generated must be a finite array .* Got shape \(3,\)"):
        _report(tmp_path / "r.html", generated=np.zeros(3))


@pytest.mark.parametrize(("model", "options", "expected"), [
    ("vae", {}, ["<h2>Generation</h2>", "kl_by_unit", "active_units"]),
    ("vq-vae", {"codebook_size": 16}, ["entries used; perplexity", "codebook_usage"]),
    ("topk", {"k": 3}, ["Mean L0 3.0 of 12 units", "active_fraction"]),
    ("denoising", {}, ["<h2>Restoration</h2>", "the model&#x27;s restoration (dashed)"]),  # trained to restore
])
def test_model_report_adds_what_fits_the_family(tmp_path, digits, model, options, expected) -> None:
    from aekit import AutoEncoder
    from aekit.report import write_model_report

    estimator = AutoEncoder(model=model, latent_dim=12, max_epochs=2, batch_size=128, model_options=options,
                            random_state=0).fit(digits[:400])
    text = write_model_report(tmp_path / "m.html", estimator, digits[400:600], title=model).read_text("utf-8")
    for snippet in expected:
        assert snippet in text
    if model != "vae":
        assert "<h2>Generation</h2>" not in text
    if model != "denoising":
        assert "<h2>Restoration</h2>" not in text


def test_restorations_need_the_clean_originals(tmp_path) -> None:
    images = np.random.default_rng(0).random((4, 1, 8, 8))
    html = _report(tmp_path / "r.html", originals=images, reconstructions=images, restoration=(images, images))
    assert "<h2>Restoration</h2>" in html and "degraded as in training" in html
    with pytest.raises(AekitError, match="shows restorations beside the clean originals"):
        _report(tmp_path / "n.html", originals=None, reconstructions=None, restoration=(images, images))
    with pytest.raises(AekitError, match="must have the same shape"):
        _report(tmp_path / "s.html", originals=images, reconstructions=images, restoration=(images[:2], images))


def test_text_rows_are_shown_as_lines_with_the_wrong_characters_marked(tmp_path) -> None:
    pairs = [("to be or not", "to be or nut"), ("<b>&</b>", "<b>&</b>"), ("longer", "long")]
    html = _report(tmp_path / "r.html", originals=None, reconstructions=None, texts=pairs)
    assert '<table class="lines">' in html
    assert "<td>to be or n<mark>u</mark>t</td>" in html  # only the wrong character is marked
    assert "<td>&lt;b&gt;&amp;&lt;/b&gt;</td>" in html and "<b>&" not in html  # escaped, never markup
    assert "<td>long<mark>··</mark></td>" in html  # characters the decoding left out


@pytest.mark.parametrize("texts", [[], [("only one",)], [("a", 3)]])
def test_bad_texts_say_what_is_expected(tmp_path, texts) -> None:
    with pytest.raises(AekitError, match=r"texts must be a non-empty list of \(original, reconstruction\)"):
        _report(tmp_path / "r.html", originals=None, reconstructions=None, texts=texts)


def test_texts_and_originals_together_are_refused(tmp_path) -> None:
    with pytest.raises(AekitError, match="either originals and reconstructions or texts. Got both"):
        _report(tmp_path / "r.html", texts=[("a", "a")])


def test_token_rows_without_a_tokenizer_are_ids_without_their_trailing_padding() -> None:
    from aekit.report import _token_lines

    rows = np.array([[5, 3, 6, 3, 3], [3, 3, 3, 3, 3], [1, 2, 0, 4, 5]], dtype=np.float32)
    assert _token_lines(rows, None, padding=3) == ["5 3 6", "", "1 2 0 4 5"]  # padding inside a row stays
    assert _token_lines(rows[:1], None, padding=None) == ["5 3 6 3 3"]
