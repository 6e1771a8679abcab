"""The recurrent backbone: greedy decoding vs teacher forcing, padding skipped by the encoder, options, errors."""

from __future__ import annotations

import pytest
import torch

from aekit import Autoencoder, AutoencoderConfig, PartSpec
from aekit.errors import AekitError
from aekit.parts.backbones.recurrent import RecurrentBackbone
from aekit.presets import build_config

VOCAB = 11


def _model(length: int = 9, latent_dim: int = 5, **options) -> Autoencoder:
    config = AutoencoderConfig((length,), latent_dim, backbone=PartSpec("recurrent", {"num_classes": VOCAB, **options}),
                               likelihood=PartSpec("ce", {"num_classes": VOCAB, "ignore_index": 0}))
    return Autoencoder(config)


def _tokens(n: int, length: int, lengths: list[int] | None = None) -> torch.Tensor:
    x = torch.randint(2, VOCAB, (n, length)).float()
    for row, used in enumerate(lengths or []):
        x[row, used:] = 0  # trailing padding
    return x


@pytest.mark.parametrize("options", [{"cell": "gru"}, {"cell": "lstm"}, {"cell": "lstm", "num_layers": 2},
                                     {"cell": "gru", "num_layers": 2, "bidirectional": False},
                                     {"latent": "tokens"}, {"latent": "tokens", "cell": "lstm"}])
def test_greedy_decoding_is_teacher_forcing_on_its_own_output(options: dict) -> None:
    """Free-running step t reads the argmax of step t-1: feeding those tokens as the target gives the same logits."""
    torch.manual_seed(0)
    model = _model(**options).eval()
    z = torch.randn(4, 5)
    with torch.no_grad():
        greedy = model.decoder(z)  # (batch, VOCAB, T)
        forced = model.decoder(z, target=greedy.argmax(1).float())
    assert greedy.shape == (4, VOCAB, 9)
    torch.testing.assert_close(forced, greedy, rtol=1e-5, atol=1e-5)
    assert torch.equal(model.decode(z), greedy.argmax(1).float())


def test_forward_teacher_forces_and_decode_runs_free() -> None:
    torch.manual_seed(0)
    model = _model().eval()
    x = _tokens(3, 9)
    with torch.no_grad():
        out = model(x)
        forced = model.decoder(out.z, target=x)
    assert torch.equal(out.params, forced)  # the model passed the clean target to the decoder
    assert model.reconstruct(x).shape == x.shape


def test_encoder_stops_at_the_last_non_pad_token() -> None:
    """Trailing padding never reaches the features: they equal an RNN run over the unpadded tokens only."""
    torch.manual_seed(0)
    model = _model(length=10, ignore_index=0, latent="final")
    encoder = model.encoder.eval()
    x = _tokens(3, 10, lengths=[4, 10, 1])
    x[0, 1] = 0  # padding inside a row is read like any token: only trailing padding is skipped
    with torch.no_grad():
        features = encoder(x)  # (batch, 2 * hidden_dim)
        for row, used in enumerate([4, 10, 1]):
            _, hidden = encoder.rnn(encoder.embedding(x[row:row + 1, :used].long()))
            torch.testing.assert_close(features[row], hidden[-2:, 0].flatten(), rtol=1e-5, atol=1e-6)


def test_token_features_are_each_position_projected_and_zero_past_the_end() -> None:
    """latent="tokens": position t's features are the projection of the RNN's output at t over the unpadded row."""
    torch.manual_seed(0)
    model = _model(length=10, ignore_index=0, latent="tokens", token_dim=3)
    encoder = model.encoder.eval()
    assert encoder.out_features == 10 * 3
    x = _tokens(3, 10, lengths=[4, 10, 1])
    with torch.no_grad():
        features = encoder(x).unflatten(1, (10, 3))  # (batch, T, token_dim)
        for row, used in enumerate([4, 10, 1]):
            out, _ = encoder.rnn(encoder.embedding(x[row:row + 1, :used].long()))  # (1, used, 2 * hidden)
            torch.testing.assert_close(features[row, :used], encoder.token_projection(out[0]), rtol=1e-5,
                                       atol=1e-6)
            assert torch.equal(features[row, used:], torch.zeros(10 - used, 3))


def test_token_layout_step_t_reads_slice_t_of_a_linear_map_of_the_code() -> None:
    """latent="tokens": decoder step t reads the previous token beside its own token_dim slice of step_code(z)."""
    torch.manual_seed(0)
    decoder = _model(latent="tokens", token_dim=4).decoder.eval()
    z, target = torch.randn(2, 5), _tokens(2, 9)
    with torch.no_grad():
        codes = decoder.step_code(z).reshape(2, 9, 4)  # (batch, T, token_dim)
        previous = torch.cat([decoder.start.expand(2, 1, -1), decoder.embedding(target[:, :-1].long())], dim=1)
        out, _ = decoder.rnn(torch.cat([previous, codes], dim=-1), torch.tanh(decoder.initial_state(z))[None])
        expected = decoder.head(out).transpose(1, 2)  # (batch, VOCAB, T)
        torch.testing.assert_close(decoder(z, target=target), expected)


def test_without_ignore_index_every_position_is_read() -> None:
    torch.manual_seed(0)
    encoder = _model(length=6, latent="final").encoder.eval()
    x = _tokens(2, 6, lengths=[3, 3])
    with torch.no_grad():
        _, hidden = encoder.rnn(encoder.embedding(x.long()))
        torch.testing.assert_close(encoder(x), hidden[-2:].transpose(0, 1).flatten(1))


@pytest.mark.parametrize(("options", "features"), [({}, 512), ({"bidirectional": False, "hidden_dim": 32}, 32),
                                                   ({"cell": "lstm", "num_layers": 3, "hidden_dim": 16}, 32),
                                                   ({"latent": "tokens"}, 9 * 8),
                                                   ({"latent": "tokens", "token_dim": 2, "cell": "lstm"}, 9 * 2)])
def test_options_build_and_train(options: dict, features: int) -> None:
    model = _model(**options, dropout=0.1)
    assert model.encoder.out_features == features
    out = model(_tokens(4, 9, lengths=[9, 3, 1, 5]))
    out.loss.backward()
    assert torch.isfinite(out.loss)


def test_preset_shares_vocabulary_and_padding_with_the_likelihood() -> None:
    config = build_config("recurrent", input_shape=(32,), latent_dim=16, options={"num_classes": 70})
    assert config.backbone.options == {"ignore_index": 0, "latent": "tokens", "num_classes": 70}
    assert config.likelihood == PartSpec("ce", {"ignore_index": 0, "num_classes": 70})
    moved = build_config("recurrent", input_shape=(32,), latent_dim=16, options={"ignore_index": 3})
    assert moved.backbone.options["ignore_index"] == moved.likelihood.options["ignore_index"] == 3


# ----------------------------------------------------------------------------------------------- errors
def test_rejects_samples_that_are_not_rows_of_ids() -> None:
    with pytest.raises(AekitError, match=r"rows of token ids, shape \(length,\). Got \(2, 11\)"):
        Autoencoder(AutoencoderConfig((2, 11), 4, backbone=PartSpec("recurrent")))


def test_needs_the_categorical_likelihood_with_the_same_vocabulary() -> None:
    with pytest.raises(AekitError, match=r"emits num_classes=256 logits.*\(256, 9\).*expects \(9,\).*'ce'"):
        Autoencoder(AutoencoderConfig((9,), 4, backbone=PartSpec("recurrent")))  # mse: one value per position
    with pytest.raises(AekitError, match=r"num_classes=11 logits.*expects \(30, 9\).*set num_classes once"):
        Autoencoder(AutoencoderConfig((9,), 4, backbone=PartSpec("recurrent", {"num_classes": 11}),
                                      likelihood=PartSpec("ce", {"num_classes": 30})))


@pytest.mark.parametrize("bad", [torch.full((2, 9), 11.0), torch.full((2, 9), -1.0), torch.full((2, 9), 2.5)])
def test_rejects_values_that_are_not_token_ids(bad: torch.Tensor) -> None:
    with pytest.raises(AekitError, match=r"token ids: integers in \[0, 10\].*set num_classes to the tokenizer"):
        _model()(bad)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hidden_dim": 0}, "'hidden_dim' parameter of RecurrentBackbone must be an int in \\[1, inf\\]. Got 0"),
        ({"num_classes": 1}, "'num_classes' parameter of RecurrentBackbone.*\\[2, inf\\]. Got 1"),
        ({"num_layers": 0}, "'num_layers'.*Got 0"),
        ({"cell": "rnn"}, "'cell' parameter of RecurrentBackbone must be one of gru, lstm. Got 'rnn'"),
        ({"dropout": 1.0}, "'dropout'.*Got 1.0"),
        ({"ignore_index": 256}, "'ignore_index' parameter of RecurrentBackbone.*\\[0, 255\\]. Got 256"),
        ({"latent": "pooled"}, "'latent' parameter of RecurrentBackbone must be one of tokens, final. Got 'pooled'"),
        ({"token_dim": 0}, "'token_dim' parameter of RecurrentBackbone must be an int in \\[1, inf\\]. Got 0"),
    ],
)
def test_bad_options(options: dict, message: str) -> None:
    with pytest.raises(AekitError, match=message):
        RecurrentBackbone.Config(**options)


def test_misspelled_cell_suggests_the_closest() -> None:
    with pytest.raises(AekitError, match="Did you mean 'lstm'"):
        Autoencoder(AutoencoderConfig((9,), 4, backbone=PartSpec("recurrent", {"cell": "lstn"})))


# ------------------------------------------------------------------------------------- recurrent-series
def _series_model(channels: int = 2, length: int = 13, likelihood: str = "mse", **options) -> Autoencoder:
    config = AutoencoderConfig((channels, length), 4, backbone=PartSpec("recurrent-series", options),
                               likelihood=PartSpec(likelihood))
    return Autoencoder(config).eval()


@pytest.mark.parametrize("options", [{}, {"cell": "lstm"}, {"latent": "final"}, {"bidirectional": False},
                                     {"cell": "lstm", "num_layers": 2, "latent": "final", "dropout": 0.1}])
def test_series_windows_come_back_at_their_shape_from_the_code_alone(options: dict) -> None:
    model = _series_model(**options)
    x = torch.randn(3, 2, 13)
    with torch.no_grad():
        out = model(x).x_hat
        assert out.shape == (3, 2, 13)
        torch.testing.assert_close(out, model.decode(model.encode(x)))  # no teacher forcing: one function


def test_series_encoder_reads_steps_in_order_and_its_features_follow_the_layout() -> None:
    tokens = _series_model(token_dim=3)
    assert tokens.encoder.out_features == 13 * 3
    assert _series_model(hidden_dim=10, latent="final").encoder.out_features == 20  # final states, both directions
    x = torch.randn(1, 2, 13)
    with torch.no_grad():  # reversing the steps changes the code: the RNN reads a sequence, not a set
        assert not torch.allclose(tokens.encode(x), tokens.encode(x.flip(-1)))


def test_series_decoder_emits_every_parameter_of_the_likelihood() -> None:
    model = _series_model(channels=3, length=7, likelihood="gaussian")
    with torch.no_grad():
        params = model.decoder(torch.zeros(2, 4))
    assert params.shape == (2, *model.likelihood.param_shape((3, 7)))


def test_series_backbone_needs_windows_and_names_the_text_model() -> None:
    with pytest.raises(AekitError, match=r"needs windows shaped \(channels, length\). Got \(12,\) instead.*"
                                         "for text, use the 'recurrent' model"):
        Autoencoder(AutoencoderConfig((12,), 4, backbone=PartSpec("recurrent-series")))
    with pytest.raises(AekitError, match="Did you mean 'lstm'"):
        Autoencoder(AutoencoderConfig((1, 12), 4, backbone=PartSpec("recurrent-series", {"cell": "lstn"})))
