"""Text as token ids for the ``recurrent`` model: tokenizers, and text files cut into lines or chunks.

    >>> lines = load_text_lines("shakespeare.txt", max_len=64)     # non-empty lines, long ones wrapped
    >>> tokenizer = make_tokenizer("char").fit(lines)              # or "byte": fixed, needs no fitting
    >>> X = tokenizer.encode(lines, max_len=64)                     # (n_lines, 64) int64, padded with PAD_ID
    >>> tokenizer.decode(X) == lines
    True

Every tokenizer shares the special ids ``PAD_ID = 0`` (padding, not scored by the ``ce`` likelihood's
``ignore_index``) and ``END_ID = 1`` (the end of a line, which *is* scored, so a decoder learns where a line
stops; :meth:`Tokenizer.decode` reads up to it). A tokenizer round-trips through a JSON dict
(:meth:`Tokenizer.to_dict`, :func:`tokenizer_from_dict`), which is how a trained model keeps its vocabulary in
its metadata.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import ArrayLike

from aekit.data.sources import IMAGE_EXTENSIONS
from aekit.errors import AekitError, DataError, check_choice, check_int
from aekit.registry import Registry

__all__ = [
    "END_ID",
    "PAD_ID",
    "TOKENIZERS",
    "ByteTokenizer",
    "CharTokenizer",
    "TextData",
    "Tokenizer",
    "load_text",
    "load_text_lines",
    "make_tokenizer",
    "tokenizer_from_dict",
]

logger = logging.getLogger(__name__)

PAD_ID = 0  # fills a row after its end; the recurrent preset's likelihood ignores it
END_ID = 1  # marks the end of a line shorter than max_len; scored, so the decoder learns lengths

TOKENIZERS: Registry[type[Tokenizer]] = Registry("tokenizer")
Split = Literal["lines", "chunks"]


class Tokenizer:
    """Maps strings to rows of token ids and back. Ids 0 and 1 are padding and end-of-line for every tokenizer."""

    name: ClassVar[str]

    def fit(self, lines: Iterable[str]) -> Tokenizer:
        """Learn the vocabulary from training ``lines`` (a no-op for fixed vocabularies); returns ``self``."""
        return self

    @property
    def vocab_size(self) -> int:
        """Number of ids, special ones included: the ``num_classes`` of the model."""
        raise NotImplementedError

    def _ids(self, line: str) -> list[int]:
        raise NotImplementedError

    def _text(self, ids: list[int]) -> str:
        raise NotImplementedError

    def encode(self, lines: Sequence[str], max_len: int) -> np.ndarray:
        """Token ids of ``lines``, one row each, padded with ``PAD_ID`` to ``max_len``.

        A line shorter than ``max_len`` is followed by ``END_ID``; a longer one is cut at ``max_len`` (logged),
        so wrap long lines first (:func:`load_text_lines` does).

        Returns
        -------
        ndarray of int64, shape (n_lines, max_len)
        """
        check_int(max_len, name="max_len", owner=f"{type(self).__name__}.encode", low=1)
        if isinstance(lines, str):
            raise AekitError(f"{type(self).__name__}.encode expects a list of strings. Got a single string "
                             f"{lines[:20]!r} instead. Pass [text].")
        out = np.full((len(lines), max_len), PAD_ID, dtype=np.int64)
        n_cut = 0
        for row, line in enumerate(lines):
            ids = self._ids(line)
            if len(ids) < max_len:
                ids.append(END_ID)
            elif len(ids) > max_len:
                n_cut += 1
                ids = ids[:max_len]
            out[row, : len(ids)] = ids
        if n_cut:
            logger.warning("%d of %d lines are longer than max_len=%d tokens and were cut.", n_cut, len(lines),
                           max_len)
        return out

    def decode(self, ids: ArrayLike) -> list[str]:
        """Strings of rows of ids (a model's reconstruction included), each read up to its first pad or end id.

        ``ids`` may be floats (they are rounded) and one row (shape (T,)) or many (n, T). Ids outside the
        vocabulary become the replacement character U+FFFD.
        """
        rows = np.rint(np.asarray(ids, dtype=np.float64)).astype(np.int64)
        if rows.ndim == 1:
            rows = rows[None]
        if rows.ndim != 2:
            raise AekitError(f"{type(self).__name__}.decode expects ids of shape (n, length) or (length,). Got "
                             f"shape {rows.shape} instead.")
        texts = []
        for row in rows.tolist():
            stop = next((i for i, token in enumerate(row) if token in (PAD_ID, END_ID)), len(row))
            texts.append(self._text(row[:stop]))
        return texts

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description; :func:`tokenizer_from_dict` rebuilds the tokenizer from it."""
        return {"name": self.name}

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> Tokenizer:
        return cls()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


@TOKENIZERS.register("char")
class CharTokenizer(Tokenizer):
    """One id per character seen in the training text (sorted), plus pad, end and unknown.

    Parameters
    ----------
    min_count : int, default 1
        Characters seen fewer times than this in :meth:`fit` map to the unknown id.

    Attributes
    ----------
    chars_ : str
        The vocabulary after :meth:`fit`: ``chars_[i]`` has id ``i + 3``.
    """

    name = "char"
    UNKNOWN_ID: ClassVar[int] = 2
    UNKNOWN_CHAR: ClassVar[str] = "\ufffd"
    _N_SPECIAL: ClassVar[int] = 3

    def __init__(self, min_count: int = 1) -> None:
        self.min_count = min_count

    def fit(self, lines: Iterable[str]) -> CharTokenizer:
        check_int(self.min_count, name="min_count", owner="CharTokenizer", low=1)
        if isinstance(lines, str):
            raise AekitError(f"CharTokenizer.fit expects a list of strings. Got a single string {lines[:20]!r} "
                             "instead. Pass [text] or text.splitlines().")
        counts = Counter(char for line in lines for char in line)
        chars = sorted(c for c, n in counts.items() if n >= self.min_count)
        if not chars:
            raise DataError(
                f"CharTokenizer.fit found no character seen at least min_count={self.min_count} times (it saw "
                f"{sum(counts.values())} characters). Fit it on non-empty training text."
            )
        self._set_chars("".join(chars))
        return self

    def _set_chars(self, chars: str) -> None:
        self.chars_ = chars
        self._index = {c: i + self._N_SPECIAL for i, c in enumerate(chars)}

    def _check_fitted(self) -> None:
        if not hasattr(self, "chars_"):
            raise AekitError("This CharTokenizer has no vocabulary yet. Call fit(lines) on the training text first.")

    @property
    def vocab_size(self) -> int:
        self._check_fitted()
        return self._N_SPECIAL + len(self.chars_)

    def _ids(self, line: str) -> list[int]:
        self._check_fitted()
        return [self._index.get(c, self.UNKNOWN_ID) for c in line]

    def _text(self, ids: list[int]) -> str:
        self._check_fitted()
        n = self._N_SPECIAL
        return "".join(self.chars_[i - n] if n <= i < self.vocab_size else self.UNKNOWN_CHAR for i in ids)

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"name": self.name, "min_count": self.min_count, "chars": self.chars_}

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> CharTokenizer:
        chars = data.get("chars")
        if not isinstance(chars, str) or not chars or len(set(chars)) != len(chars):
            raise AekitError(f"A saved char tokenizer needs 'chars', a string of distinct characters. Got "
                             f"{chars!r} instead. Save it again with to_dict().")
        tokenizer = cls(min_count=int(data.get("min_count", 1)))
        tokenizer._set_chars(chars)
        return tokenizer


@TOKENIZERS.register("byte")
class ByteTokenizer(Tokenizer):
    """The UTF-8 bytes of the text: a fixed vocabulary of 256 byte values (id = byte + 2) plus pad and end.

    Needs no fitting and never meets an unknown symbol; a character outside ASCII takes several tokens.
    """

    name = "byte"
    _N_SPECIAL: ClassVar[int] = 2

    @property
    def vocab_size(self) -> int:
        return 256 + self._N_SPECIAL

    def _ids(self, line: str) -> list[int]:
        return [b + self._N_SPECIAL for b in line.encode("utf-8")]

    def _text(self, ids: list[int]) -> str:
        data = bytes(i - self._N_SPECIAL for i in ids if self._N_SPECIAL <= i < self.vocab_size)
        return data.decode("utf-8", errors="replace")


def make_tokenizer(name: str, **options: Any) -> Tokenizer:
    """A tokenizer by name: ``"char"`` (vocabulary from the training text; call ``fit``) or ``"byte"``."""
    return TOKENIZERS.get(name)(**options)


def tokenizer_from_dict(data: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from :meth:`Tokenizer.to_dict` (e.g. a model's metadata)."""
    if not isinstance(data, dict) or "name" not in data:
        raise AekitError(f"A saved tokenizer must be a mapping with a 'name'. Got {data!r} instead. Save it with "
                         "to_dict().")
    return TOKENIZERS.get(data["name"])._from_dict(data)


# ----------------------------------------------------------------------------------------------- files
def load_text_lines(path: str | os.PathLike[str], max_len: int, *, split: Split = "lines",
                    encoding: str = "utf-8") -> list[str]:
    """Samples of a text file: its non-empty lines, or consecutive chunks of the whole text.

    Parameters
    ----------
    path : a text file.
    max_len : int
        Characters per sample at most. In ``"lines"`` mode a longer line is wrapped into several samples.
    split : {"lines", "chunks"}, default "lines"
        ``"lines"``: each non-blank line (trailing whitespace removed) is a sample. ``"chunks"``: the text,
        newlines included, cut into pieces of ``max_len`` characters (the last may be shorter).
    encoding : str, default "utf-8"

    Returns
    -------
    list of str, in file order, none empty.
    """
    return _read_samples(path, max_len, split, encoding)[0]


def _read_samples(path: str | os.PathLike[str], max_len: int, split: Split, encoding: str
                  ) -> tuple[list[str], list[int]]:
    """:func:`load_text_lines`, with the number of the piece of text each sample was cut from (:func:`_cut`)."""
    check_int(max_len, name="max_len", owner="load_text_lines", low=1)
    check_choice(split, ["lines", "chunks"], name="split", owner="load_text_lines")
    file = Path(path).expanduser()
    if file.is_dir():
        raise DataError(f"'{path}' is a folder; a text model reads one text file, a sample per line. Pass a .txt "
                        "file, or pick a model for images (see 'aekit list-models').")
    if not file.is_file():
        raise DataError(f"No such text file: '{path}'. Check the path.")
    if file.suffix.lower() in (".npy", ".npz", ".mat", ".parquet", ".pq", *IMAGE_EXTENSIONS):
        raise DataError(f"'{path}' is a {file.suffix.lower()} file; a text model reads text, a sample per line. Pass a "
                        ".txt file, or pick a model for numbers (see 'aekit list-models').")
    try:
        text = file.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"Cannot read '{path}' as {encoding} text ({exc.reason} at byte {exc.start}): it is not text, or its "
            "encoding is another, e.g. 'latin-1'."
        ) from None
    except LookupError:
        raise AekitError(f"Unknown text encoding {encoding!r}. Use a Python codec name like 'utf-8' or "
                         "'latin-1'.") from None
    samples, owners = _cut(text, max_len, split)
    if not samples:
        raise DataError(f"The text file '{path}' has no non-blank text ({file.stat().st_size} bytes). Pass a file "
                        "with at least one non-empty line.")
    return samples, owners


def _cut(text: str, max_len: int, split: Split) -> tuple[list[str], list[int]]:
    """Samples of ``text`` (see :func:`load_text_lines`) and, for each, the number of the piece of text it
    belongs to: its line in ``"lines"`` mode (a wrapped line's pieces share it), 0 for every chunk."""
    if split == "chunks":
        samples = [text[i:i + max_len] for i in range(0, len(text), max_len)] if text.strip() else []
        return samples, [0] * len(samples)
    samples, owners = [], []
    for number, line in enumerate(text.splitlines()):
        line = line.rstrip()
        pieces = [line[i:i + max_len] for i in range(0, len(line), max_len)]
        samples.extend(pieces)
        owners.extend([number] * len(pieces))
    return samples, owners


@dataclass
class TextData:
    """A text file ready for training: ids ``X`` (float32, as the estimator takes them), the tokenizer, the
    samples (``lines``), and ``owners``, the piece of text each sample was cut from (see :meth:`join`)."""

    X: np.ndarray
    tokenizer: Tokenizer
    lines: list[str]
    source: str
    owners: list[int] = field(default_factory=list)
    split: Split = "lines"

    @property
    def max_len(self) -> int:
        return int(self.X.shape[1])

    def join(self, samples: Sequence[str]) -> str:
        """The text that ``samples`` (one string per sample, e.g. decoded reconstructions) make in this file's
        layout: the pieces of a wrapped line joined into one line, blank lines kept (up to the last line with
        text), chunks joined back into the whole text."""
        if len(samples) != len(self.lines):
            raise AekitError(f"TextData.join expects one string per sample ({len(self.lines)}); got {len(samples)}.")
        if self.split == "chunks":
            return "".join(samples)
        owners = self.owners or list(range(len(samples)))
        lines = [""] * (max(owners) + 1)  # blank lines of the file (no samples) stay blank, so lines line up
        for owner, sample in zip(owners, samples):
            lines[owner] += sample
        return "".join(line + "\n" for line in lines)


def load_text(path: str | os.PathLike[str], *, max_len: int = 64, tokenizer: str | Tokenizer = "char",
              split: Split = "lines", encoding: str = "utf-8") -> TextData:
    """Read, split and encode a text file in one step (what ``aekit train text.txt --model recurrent`` does).

    Parameters
    ----------
    path, max_len, split, encoding : see :func:`load_text_lines`.
    tokenizer : {"char", "byte"} or a Tokenizer
        A name builds a new tokenizer fitted on this file; an (already fitted) tokenizer, e.g. the one saved
        with a model, is used as it is.

    Returns
    -------
    TextData with ``X`` of shape (n_samples, max_len).
    """
    lines, owners = _read_samples(path, max_len, split, encoding)
    if isinstance(tokenizer, str):
        tokenizer = make_tokenizer(tokenizer).fit(lines)
    elif not isinstance(tokenizer, Tokenizer):
        raise AekitError(f"The 'tokenizer' parameter of load_text must be 'char', 'byte' or a Tokenizer. Got "
                         f"{tokenizer!r} instead.")
    X = tokenizer.encode(lines, max_len).astype(np.float32)
    return TextData(X=X, tokenizer=tokenizer, lines=lines, source=f"file {os.fspath(path)}", owners=owners,
                    split=split)
