"""Backbones: exact output sizes for any input, options, bad configurations."""

from __future__ import annotations

import pytest
import torch

from aekit import Autoencoder, AutoencoderConfig, PartSpec
from aekit.errors import AekitError
from aekit.parts.backbones.conv import ConvBackbone
from aekit.parts.backbones.dense import DenseBackbone


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 37, 53), (1, 8, 8), (2, 1000), (1, 5), (1, 1, 1)])
@pytest.mark.parametrize("upsampling", ["transpose", "nearest", "bilinear"])
def test_conv_reconstructs_any_size(shape: tuple[int, ...], upsampling: str) -> None:
    config = AutoencoderConfig(shape, 3, backbone=PartSpec("conv", {"upsampling": upsampling,
                                                                     "hidden_dims": [4, 8, 8]}))
    x = torch.rand(2, *shape)
    assert Autoencoder(config)(x).x_hat.shape == x.shape


@pytest.mark.parametrize("norm", [None, "batch", "layer"])
def test_norm_options_build_and_train(norm: str | None) -> None:
    for backbone, shape in (("dense", (10,)), ("conv", (1, 9, 9))):
        model = Autoencoder(AutoencoderConfig(shape, 2, backbone=PartSpec(backbone, {"norm": norm})))
        model(torch.rand(4, *shape)).loss.backward()


def test_dense_dropout_and_activation() -> None:
    model = Autoencoder(AutoencoderConfig((6,), 2, backbone=PartSpec("dense", {"dropout": 0.5,
                                                                                "activation": "gelu"})))
    assert any(isinstance(m, torch.nn.Dropout) for m in model.modules())
    assert any(isinstance(m, torch.nn.GELU) for m in model.modules())


def test_dense_mirrors_hidden_dims() -> None:
    model = Autoencoder(AutoencoderConfig((784,), 32, backbone=PartSpec("dense", {"hidden_dims": [512, 256]})))
    widths = [m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [512, 256, 32, 256, 512, 784]


def test_dense_skip_adds_a_linear_path_beside_each_mlp() -> None:
    torch.manual_seed(0)
    model = Autoencoder(AutoencoderConfig((10,), 3, backbone=PartSpec("dense", {"hidden_dims": [8], "skip": True})))
    encoder, decoder = model.encoder, model.decoder
    x, z = torch.randn(4, 10), torch.randn(4, 3)
    torch.testing.assert_close(encoder(x), encoder.net(x) + x @ encoder.skip.weight.T)
    torch.testing.assert_close(decoder(z), decoder.head(decoder.net(z)) + z @ decoder.skip.weight.T)
    with torch.no_grad():  # with the MLPs silenced, what is left is a linear autoencoder
        for layer in (encoder.net[0], decoder.head):
            layer.weight.zero_()
            layer.bias.zero_()
    assert torch.allclose(encoder(x), x @ encoder.skip.weight.T)
    plain = Autoencoder(AutoencoderConfig((10,), 3, backbone=PartSpec("dense", {"hidden_dims": [8]})))
    assert plain.encoder.skip is None and plain.decoder.skip is None  # off by default


@pytest.mark.parametrize(
    ("cls", "options", "message"),
    [
        (DenseBackbone, {"hidden_dims": (0,)}, "hidden_dims.*positive ints.*Got \\[0\\]"),
        (DenseBackbone, {"dropout": 1.0}, "dropout.*Got 1.0"),
        (ConvBackbone, {"kernel_size": 4}, "kernel_size.*odd.*Got 4"),
        (ConvBackbone, {"stride": 5}, "stride.*Got 5"),
        (ConvBackbone, {"hidden_dims": ()}, "hidden_dims.*non-empty"),
    ],
)
def test_bad_backbone_options(cls: type, options: dict, message: str) -> None:
    with pytest.raises(AekitError, match=message):
        cls.Config(**options)


def test_unknown_activation_suggests_the_closest() -> None:
    with pytest.raises(AekitError, match="Did you mean 'relu'"):
        Autoencoder(AutoencoderConfig((4,), 2, backbone=PartSpec("dense", {"activation": "relu6x"})))


def test_conv_rejects_flat_samples() -> None:
    with pytest.raises(AekitError, match=r"\(channels, height, width\).*Got \(64,\)"):
        Autoencoder(AutoencoderConfig((64,), 2, backbone=PartSpec("conv")))
