"""The image codecs shipped inside the package (``aekit/pretrained/<color>-q<quality>/``), trained by
:mod:`aekit.compression.pretrain` (``make pretrained``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from aekit.compression.codec import Codec
from aekit.errors import AekitError, ModelFileError, check_choice

__all__ = ["DEFAULT_QUALITY", "PRETRAINED_DIR", "available_qualities", "load_pretrained", "pretrained_name"]

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
# JPEG's default quality 75 lands between shipped levels 1 and 2 (china.jpg: JPEG 75 gives about 30 dB at
# 1.85 bpp, level 1 28.6 dB at 1.75 bpp, level 2 33.3 dB at 2.9 bpp); 2 errs on the side of quality.
DEFAULT_QUALITY = 2
COLORS = ("grayscale", "rgb")


def pretrained_name(color: str, quality: int) -> str:
    return f"{color}-q{quality}"


def available_qualities(color: str) -> list[int]:
    """The quality levels shipped for ``color`` ("grayscale" or "rgb")."""
    prefix = f"{color}-q"
    return sorted(int(p.name[len(prefix):]) for p in PRETRAINED_DIR.glob(f"{prefix}*")
                  if p.name[len(prefix):].isdigit() and (p / "config.json").is_file())


@lru_cache(maxsize=16)
def load_pretrained(color: str, quality: int) -> Codec:
    """The shipped codec for ``color`` images at ``quality``."""
    check_choice(color, COLORS, name="color", owner="load_pretrained")
    levels = available_qualities(color)
    if not levels:
        raise ModelFileError(f"No pretrained {color} codec is installed in '{PRETRAINED_DIR}'. Reinstall aekit or "
                             "run 'make pretrained'.")
    if quality not in levels:
        raise AekitError(f"The 'quality' parameter must be one of the shipped levels {', '.join(map(str, levels))} "
                         f"for {color} images. Got {quality!r} instead.")
    name = pretrained_name(color, quality)
    return Codec.load(PRETRAINED_DIR / name, source=f"pretrained:{name}")
