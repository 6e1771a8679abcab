"""``aekit train-codec``, ``aekit compress``, ``aekit decompress``: learned compression to ``.aez`` files.

    aekit train-codec DATA --quality 3 --out CODEC_DIR            # images (file or folder) or .npy/CSV/Parquet
    aekit compress photo.png -o photo.aez --quality 2             # the shipped pretrained image codec
    aekit compress data.npy -o data.aez --codec CODEC_DIR --max-abs-error 0.01
    aekit decompress data.aez -o data_decoded.npy

Registered on the main group in :mod:`aekit.cli`; errors end as one line on stderr through its ``main``.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np

from aekit.errors import DataError

echo = click.echo


def _images_of(data: Path, color: str | None) -> list[np.ndarray]:
    """The image DATA (one file, or every image in a folder) as (H, W, C) uint8 of one colour mode (the first
    image's unless ``color`` is given)."""
    from aekit.compression.api import image_color, read_image
    from aekit.data.sources import IMAGE_EXTENSIONS, image_files

    files = image_files(data) if data.is_dir() else [data]  # as 'aekit train' reads a folder: subfolders too
    if not files:
        raise DataError(f"The folder {data} has no images ({', '.join(IMAGE_EXTENSIONS)}). Pass a folder of "
                        "images.")
    color = color or image_color(files[0])
    return [read_image(path, color) for path in files]


@click.command("train-codec")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Codec directory to write.")
@click.option("--quality", type=int, default=3, show_default=True,
              help="1 (smallest files) to 5 (smallest errors): sets the rate weight lambda.")
@click.option("--rate-weight", type=float, default=None, help="Lambda of loss = distortion + lambda * bits (overrides "
              "--quality).")
@click.option("--latent-dim", type=int, default=None, help="Code units (default 128 for images, <= 128 for rows; with "
              "--transform pca, every component).")
@click.option("--epochs", type=int, default=None,
              help="Passes over the data (default: enough for about 45,000 steps, 10 to 3,500 passes).")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--tile", type=int, default=16, show_default=True, help="Images: tile size in pixels (a multiple of 8).")
@click.option("--patches", type=int, default=20000, show_default=True, help="Images: random training tiles.")
@click.option("--color", type=click.Choice(["grayscale", "rgb"]), default=None,
              help="Images: colour mode (default: the first image's).")
@click.option("--transform", type=click.Choice(["learned", "pca"]), default="learned", show_default=True,
              help="learned: train the transforms with the entropy model; pca: a linear block codec, the data's "
              "principal components at the quality's quantization step, training only the entropy model (how the "
              "shipped image codecs are made).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace a codec already in --out. Every .aez file compressed with it "
              "becomes undecodable.")
def train_codec_command(data: Path, out: Path, quality: int, rate_weight: float | None, latent_dim: int | None,
                        epochs: int | None, batch_size: int, lr: float, tile: int, patches: int, color: str | None,
                        transform: str, seed: int, overwrite: bool) -> None:
    """Train a codec on DATA: an image or a folder of images, or a .npy / CSV / Parquet file of rows."""
    from aekit.compression.api import input_kind
    from aekit.compression.codec import check_codec_output, random_patches, train_codec
    from aekit.data.scalers import Scaler
    from aekit.errors import check_int

    started = time.perf_counter()
    # before any work: not into the data, another aekit folder, or over a codec that .aez files need
    check_codec_output(out, protect=[data], overwrite=overwrite, option="--out")
    images_given = data.is_dir() or (data.exists() and input_kind(data, "train a codec on") == "image")
    if images_given:  # --tile and --patches apply to images only
        check_int(tile, name="tile", owner="train-codec", low=8 if transform == "learned" else 1)
        if tile % 8 and transform == "learned":
            raise DataError(f"The 'tile' parameter of train-codec must be a multiple of 8 (three stride-2 stages). Got "
                            f"{tile} instead.")
        check_int(patches, name="patches", owner="train-codec", low=1)
        images = _images_of(data, color)
        samples = random_patches(images, patches, tile, seed=seed)
        codec = train_codec(samples, out, kind="image", quality=quality, latent_dim=latent_dim,
                            rate_weight=rate_weight, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                            transform=transform, overwrite=overwrite,
                            data={"source": str(data), "images": len(images), "patches": len(samples)})
    else:
        from aekit.compression.api import read_array, read_numeric_table

        kind = input_kind(data, "train a codec on")
        rows, described = read_numeric_table(data) if kind == "table" else (np.asarray(read_array(data)), {})
        if len(rows) < 2:
            raise DataError(f"'{data}' has {len(rows)} row(s); a codec learns from many. Pass at least 2 rows "
                            "(thousands are better).")
        rows = rows.reshape(len(rows), -1).astype(np.float64)
        if not np.isfinite(rows).all():
            raise DataError(f"'{data}' contains NaN or infinite values. Replace them before training a codec.")
        scaler = Scaler("minmax").fit(rows)
        codec = train_codec(scaler.transform(rows).astype(np.float32), out, kind="array", quality=quality,
                            latent_dim=latent_dim, rate_weight=rate_weight, epochs=epochs, batch_size=batch_size,
                            lr=lr, seed=seed, scaler=scaler, transform=transform, overwrite=overwrite,
                            data={"source": str(data), "rows": len(rows), **described})  # a table's columns
    echo(f"trained codec ({codec.spec.kind}, quality {codec.spec.quality}, rate weight {codec.spec.rate_weight:.3g}, "
         f"{codec.latent_dim} code units) in {time.perf_counter() - started:.1f} s -> {out}")
    echo(f"fingerprint sha256 {codec.fingerprint}")


@click.command("compress")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The .aez file to write.")
@click.option("--codec", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Codec directory from 'aekit train-codec' (images default to the shipped codec).")
@click.option("--quality", type=int, default=None, help="Level of the shipped image codec (default 2).")
@click.option("--max-abs-error", type=float, default=None,
              help="Guarantee: every decoded value is within E of the original.")
@click.option("--chunk-rows", type=int, default=None, help="Arrays and tables: rows per chunk (default ~16 MB).")
def compress_command(source: Path, output: Path, codec: Path | None, quality: int | None,
                     max_abs_error: float | None, chunk_rows: int | None) -> None:
    """Compress SOURCE (.npy, CSV/Parquet table, PNG/JPEG image) into an .aez file."""
    from aekit.compression.api import compress

    summary = compress(source, output, codec=codec, quality=quality, max_abs_error=max_abs_error,
                       chunk_rows=chunk_rows)
    for line in summary.lines():
        echo(line)


@click.command("decompress")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="File to write: .npy (arrays), .csv/.parquet (tables), .png (images).")
@click.option("--codec", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The codec directory, if it moved since compression (checked by its sha256).")
@click.option("--original", type=click.Path(path_type=Path), default=None,
              help="The original data: report the errors against it.")
def decompress_command(source: Path, output: Path, codec: Path | None, original: Path | None) -> None:
    """Decode the .aez file SOURCE."""
    from aekit.compression.api import decompress

    for line in decompress(source, output, codec=codec, original=original).lines():
        echo(line)


def register(group: click.Group) -> None:
    """Add the three commands to the main ``aekit`` group."""
    for command in (train_codec_command, compress_command, decompress_command):
        group.add_command(command)
