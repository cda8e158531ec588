"""MNIST read from the four original IDX files, checksums verified."""

import gzip
import math
import os
import struct
from pathlib import Path

import numpy as np

from sknclust.datasets._base import (
    check_subset,
    get_data_home,
    image_bunch,
    missing_file_error,
    verified_path,
)

# File names and sha256 of the official LeCun/Cortes/Burges release.
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
    ),
    "train-labels-idx1-ubyte.gz": (
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
    ),
}

# IDX type codes (third byte of the magic number); values are big-endian.
_IDX_DTYPES = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}

_DESCR = """\
MNIST handwritten digits
------------------------

70,000 grey-scale 28x28 images of the digits 0-9: 60,000 training images
followed by 10,000 test images, in the order of the original files.
``data`` holds the raw pixel values 0..255 as float32; ``split`` is 0 for
training rows and 1 for test rows.

Read from the original IDX files (train-images-idx3-ubyte.gz etc.), whose
sha256 checksums are verified before parsing.

Reference: Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, "Gradient-based
learning applied to document recognition", Proc. IEEE 86(11), 1998.
MNIST is (c) Yann LeCun and Corinna Cortes, commonly distributed under
CC BY-SA 3.0.
"""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX file (gzip-compressed when its name ends in ``.gz``).

    Parameters
    ----------
    path : str or path-like
        File to read.

    Returns
    -------
    array : ndarray
        The array with the shape and dtype the header announces, in native
        byte order.

    Raises
    ------
    ValueError
        If the magic number is invalid or the payload size disagrees with the
        header.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file: bad magic number.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated: its IDX header is incomplete.")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{path}: the header announces shape {shape} ({expected} bytes) "
            f"but {len(raw) - header} bytes follow it."
        )
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def _read_part(folder: Path, part: str):
    images_name, labels_name = MNIST_FILES[part]
    images = read_idx(verified_path(folder / images_name, MNIST_SHA256[images_name]))
    labels = read_idx(verified_path(folder / labels_name, MNIST_SHA256[labels_name]))
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1:
        raise ValueError(
            f"Unexpected MNIST shapes in {folder}: images {images.shape}, "
            f"labels {labels.shape}."
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{images_name} has {len(images)} images but {labels_name} has "
            f"{len(labels)} labels."
        )
    return images.reshape(len(images), -1), labels


def load_mnist(data_home=None, *, subset: str = "all", return_X_y: bool = False):
    """Load the MNIST digits from the original IDX files (no download).

    =================   ===========================
    Classes             10
    Samples total       70000 (60000 train + 10000 test)
    Dimensionality      784 (28x28)
    Features            float32, raw pixel values 0..255
    =================   ===========================

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder whose ``mnist/`` sub-folder holds the four ``*-ubyte.gz`` files.
        ``None`` uses :func:`get_data_home`.
    subset : {"train", "test", "all"}, default="all"
        Which part to load. ``"all"`` returns the 60000 training rows followed by
        the 10000 test rows.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes ``data`` (float32 array of shape
        (n_samples, 784)), ``target`` (int64 digit of each row), ``images``
        (a (n_samples, 28, 28) view of ``data``), ``feature_names``,
        ``target_names``, ``split`` (uint8, 0 for training rows and 1 for test
        rows) and ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True
        The two arrays described above.

    Raises
    ------
    FileNotFoundError
        If a needed file is missing; the message names the path looked at.
    ValueError
        If ``subset`` is invalid, or a file's sha256 differs from the official
        one.

    Examples
    --------
    >>> from sknclust.datasets import load_mnist
    >>> X, y = load_mnist(subset="test", return_X_y=True)  # doctest: +SKIP
    >>> X.shape, y[:5]  # doctest: +SKIP
    ((10000, 784), array([7, 2, 1, 0, 4]))
    """
    check_subset(subset)
    folder = get_data_home(data_home) / "mnist"
    parts = ("train", "test") if subset == "all" else (subset,)
    # Report a missing file before spending time hashing the others.
    for part in parts:
        for name in MNIST_FILES[part]:
            if not (folder / name).is_file():
                raise missing_file_error(folder / name)
    # Only the requested parts are read; "all" keeps the train-then-test order.
    read = {part: _read_part(folder, part) for part in parts}
    X = np.concatenate([images for images, _ in read.values()]).astype(np.float32)
    y = np.concatenate([labels for _, labels in read.values()])
    split = np.concatenate(
        [
            np.full(len(labels), part == "test", np.uint8)
            for part, (_, labels) in read.items()
        ]
    )
    return image_bunch(X, y, split, "all", side=28, descr=_DESCR, return_X_y=return_X_y)
