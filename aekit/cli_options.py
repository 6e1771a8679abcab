"""Options and checks shared by the command groups (``cli.py``, ``cli_detect.py``, ``cli_cluster.py``): one
definition each, so ``aekit train`` and ``aekit detect fit`` read ``--image-size`` the same way."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from aekit.errors import AekitError


def parse_ints(value: str | None, *, name: str) -> tuple[int, ...] | None:
    """``--NAME 256,128`` (or ``1x28x28``) as a tuple of ints; None when not given."""
    if value is None or value == "":
        return None
    try:  # every piece a number: "2,x" or "8,,4" is a typo, not (2,) or (8, 4)
        return tuple(int(v) for v in value.replace("x", ",").split(","))
    except ValueError:
        raise AekitError(f"--{name} must be comma-separated integers like 256,128. Got {value!r} instead.") from None


def image_options(command: Any) -> Any:
    """``--image-size`` and ``--color``, both None unless given: a command that reads data for a fitted model
    or detector reads images as its training images were (see :func:`check_image_options`)."""
    command = click.option("--color", type=click.Choice(["grayscale", "rgb"]), default=None,
                           help="Channels of images read from a folder (default: grayscale; for a fitted model or "
                                "detector, its training images').")(command)
    from aekit.data.sources import parse_image_size

    return click.option("--image-size", type=parse_image_size, default=None, metavar="N|H,W",
                        help="Resize images from a folder to N x N, or H x W (default: as read; for a fitted model "
                             "or detector, as its training images were).")(command)


def report_arguments(command: Any) -> Any:
    """RUN_DIR, DATA, ``--output`` (see :func:`report_path`) and the image options of an application's
    ``report`` command (``aekit detect report``, ``aekit cluster report``)."""
    command = image_options(command)
    command = click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), default=None,
                           help="The HTML file to write (default RUN_DIR/report-DATA.html).")(command)
    command = click.argument("data")(command)
    return click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))(command)


HTML_SUFFIXES = (".html", ".htm")


def check_suffix(path: Path, suffixes: tuple[str, ...], option: str = "--output") -> None:
    """Before any work: a file that ``option`` names ends in one of ``suffixes``, the formats the command writes
    (a CSV named out.html would be opened as a page). The one check of every command's output names."""
    if path.suffix.lower() not in suffixes:
        raise AekitError(f"{option} must end in {' or '.join(suffixes)}. Got '{path}' instead.")


def report_path(output: Path | None, run_dir: Path, data: str) -> Path:
    """The report's path: ``--output``, which must end in .html (so it is never the run's files or the data), or
    RUN_DIR/report-DATA.html."""
    output = output or run_dir / f"report-{Path(str(data)).stem}.html"
    check_suffix(output, HTML_SUFFIXES)
    return output


def check_image_options(data: str, image_size: Any, color: str | None) -> None:
    """--image-size and --color only where DATA is images: elsewhere they would be ignored in silence."""
    from aekit.data.sources import IMAGE_EXTENSIONS

    where = Path(data).expanduser()
    if (image_size is not None or color is not None) and not (
            where.is_dir() or where.suffix.lower() in IMAGE_EXTENSIONS):
        raise AekitError(f"--image-size and --color apply to image files and folders; {data} is read as it is. "
                         "Drop them, or resize the array beforehand.")


def training_image_size(data: str, image_size: Any, X: Any) -> Any:
    """The --image-size to store with a fitted model or detector, so that later commands read images as its
    training images were: the user's, else for a folder of images the (height, width) they had as read. Stored
    as None, a folder of images of another size would be read at that size and refused for its pixel count."""
    if image_size is not None or not Path(data).expanduser().is_dir():
        return image_size
    height, width = np.shape(X)[-2:]  # a folder reads as (n, channels, height, width)
    return [int(height), int(width)]


def read_samples(data: str, image_size: Any, color: str | None, *, series: bool = False
                 ) -> tuple[Any, str, Any, list[str] | None]:
    """DATA for an application's commands (detect, cluster): the samples (a DataFrame for tables, keeping column
    names and row ids, and with ``series`` a numeric time too; an array otherwise), a description, and the labels
    and class names it carries (a table's columns are all features: none). ``image_size`` and ``color`` resize
    and convert images (color None: grayscale)."""
    from aekit.data.sources import TABLE_SUFFIXES

    if Path(data).suffix.lower() in TABLE_SUFFIXES:
        from aekit.anomaly.series import read_numeric_frame

        return read_numeric_frame(data, numeric_time=series), f"file {data}", None, None
    from aekit.data import load_dataset

    dataset = load_dataset(data, image_size=image_size, color_mode=color or "grayscale")
    return np.asarray(dataset.X), dataset.source, dataset.y, dataset.class_names


def image_file_ids(data: str) -> np.ndarray | None:
    """For a folder of images, each image's path in it (the row ids of a command's CSV), in the order it is read;
    None for other data."""
    from aekit.data.sources import image_files

    folder = Path(data)
    if not folder.is_dir():
        return None
    return np.array([p.relative_to(folder).as_posix() for p in image_files(folder)], dtype=object)


def write_table(path: Path, frame: pd.DataFrame) -> None:
    """A command's per-row CSV (scores, clusters), written atomically, numbers to 6 significant digits."""
    from aekit.io import atomic_path

    if frame.index.dtype.kind == "f":  # ids as read (float_format would cut timestamps of 1.3729e+09 to 6 digits)
        frame = frame.set_axis(pd.Index([repr(float(v)) for v in frame.index], name=frame.index.name), axis=0)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, float_format="%.6g")


def read_like_fit(metadata: dict[str, Any] | None, data: str, image_size: Any, color: str | None
                  ) -> tuple[Any, str | None]:
    """The --image-size and --color to read DATA with for a fitted model, detector or clustering: the user's where
    given (refused for data that is not images), else those its training images were read with (its
    ``metadata``)."""
    check_image_options(data, image_size, color)
    metadata = metadata or {}
    return (image_size if image_size is not None else metadata.get("image_size"), color or metadata.get("color"))


def check_images_like_fit(data: str, X: Any, fitted_shape: tuple[int, ...], source: str, what: str) -> None:
    """One line when the images of a folder come out of another size or channel count than the fitted ``what``'s
    (clustering, detector) training images, naming the --image-size / --color that read them as those were;
    else a shape or a feature count would be all the user hears."""
    shape, fitted = tuple(np.shape(X)[1:]), tuple(int(side) for side in fitted_shape)
    if shape == fitted or len(shape) != 3 or len(fitted) != 3 or not Path(data).expanduser().is_dir():
        return
    fixes = [f"--image-size {fitted[1]},{fitted[2]}"] if shape[1:] != fitted[1:] else []
    if shape[0] != fitted[0] and fitted[0] in (1, 3):
        fixes.append(f"--color {'grayscale' if fitted[0] == 1 else 'rgb'}")
    if not fixes:  # trained on images of another channel count than a folder gives: the caller's check says it
        return

    def size(c: int, h: int, w: int) -> str:
        return f"{h}x{w} pixels with {c} channel{'' if c == 1 else 's'}"

    raise AekitError(f"The images of {source} are {size(*shape)} as read; the {what} was trained on images of "
                     f"{size(*fitted)}. Pass {' and '.join(fixes)} to read them as those were.")


def remove_stale_outputs(folder: Path, *, report_written: bool, files: tuple[str, ...] = ()) -> list[Path]:
    """Delete what the model or detector just replaced (or about to be replaced) in ``folder`` left that describes
    it, and return their paths: its reports on other data (``report-*.html``), ``files`` (such as exported graphs,
    a clustering's clusters.csv), and its ``report.html`` unless a new one was written. Each would be taken for the
    new one's. Call it only where one is replaced: in any other folder these names are the user's."""
    stale = [folder / name for name in files if (folder / name).is_file()]
    stale += sorted(path for path in folder.glob("report-*")
                    if path.suffix.lower() in (".html", ".htm") and path.is_file())
    if not report_written and (folder / "report.html").is_file():
        stale.append(folder / "report.html")
    for path in stale:
        path.unlink()
    return stale


@contextmanager
def warnings_unless_refused() -> Iterator[None]:
    """Hold the warnings said while data is read and checked, and say them only if no error ends the block: a
    warning about how a file was read (its first row taken as data, say) is noise beside the one-line error that
    the check then gives about the same file, and it would make that error two lines."""
    held: list[logging.LogRecord] = []

    class _Hold(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if record.levelno < logging.WARNING:
                return True
            if not any(record is r for r in held):  # every handler sees the same record
                held.append(record)
            return False

    hold, handlers = _Hold(), list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(hold)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(hold)
    for record in held:  # the block ended without an error
        logging.getLogger(record.name).handle(record)
