"""USPS read from the original ``usps.h5`` (or the lossless ``usps.npz`` copy)."""

import hashlib
from pathlib import Path

import numpy as np

from sknclust.datasets._base import (
    check_subset,
    get_data_home,
    image_bunch,
    missing_file_error,
    verified_path,
)

USPS_H5_SHA256 = "734f88c541104a956d88be2c95d03b4a463ffd74ccc2ba9c80841fb98e3fcb36"
# The .npz holds a timestamp, so its file hash varies between rebuilds; this is
# the hash of its arrays: X bytes, then y as little-endian int64, then split.
USPS_NPZ_ARRAY_SHA256 = (
    "dde56cd367441f07a25ca944bbb07e4e23d2d3e01eb7654c5520e26b1a31a99f"
)

_DESCR = """\
USPS handwritten digits
-----------------------

9,298 grey-scale 16x16 images of the digits 0-9 scanned from envelopes by the
US Postal Service: 7,291 training images followed by 2,007 test images.
``data`` holds float32 pixel values in [0, 1] (the ESL "zip" data rescaled
from [-1, 1]); ``split`` is 0 for training rows and 1 for test rows.

Read from the widely used ``usps.h5`` (sha256 verified), or, without h5py, from
``usps.npz`` (array digest verified), which holds the same values.

Reference: J. J. Hull, "A database for handwritten text recognition
research", IEEE TPAMI 16(5), 1994.
"""


def _import_h5py():
    """The h5py module, or None when it is not installed."""
    try:
        import h5py
    except ImportError:
        return None
    return h5py


def usps_array_sha256(X, y, split) -> str:
    """Digest of the arrays of a ``usps.npz`` file, independent of the zip wrapper."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(X).tobytes())
    digest.update(np.ascontiguousarray(y, dtype="<i8").tobytes())
    digest.update(np.ascontiguousarray(split, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def _read_h5(path: Path, h5py):
    verified_path(path, USPS_H5_SHA256)
    with h5py.File(path, "r") as f:
        parts = [(f[p]["data"][()], f[p]["target"][()]) for p in ("train", "test")]
    X = np.concatenate([data for data, _ in parts])
    y = np.concatenate([target for _, target in parts])
    split = np.repeat(np.arange(2, dtype=np.uint8), [len(t) for _, t in parts])
    return X, y, split


def _read_npz(path: Path):
    with np.load(path, allow_pickle=False) as archive:
        X, y, split = archive["X"], archive["y"], archive["split"]
    actual = usps_array_sha256(X, y, split)
    if actual != USPS_NPZ_ARRAY_SHA256:
        raise ValueError(
            f"Checksum mismatch for {path}: array sha256 is {actual}, expected "
            f"{USPS_NPZ_ARRAY_SHA256}. The file is corrupt or not the original."
        )
    return X, y, split


def load_usps(data_home=None, *, subset: str = "all", return_X_y: bool = False):
    """Load the USPS digits (no download).

    =================   ===========================
    Classes             10
    Samples total       9298 (7291 train + 2007 test)
    Dimensionality      256 (16x16)
    Features            float32 in [0, 1]
    =================   ===========================

    The original ``usps/usps.h5`` is read with h5py. When h5py is not installed,
    or ``usps.h5`` is absent, ``usps/usps.npz`` is read instead; both are
    verified against known checksums and give identical arrays.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder whose ``usps/`` sub-folder holds the files. ``None`` uses
        :func:`get_data_home`.
    subset : {"train", "test", "all"}, default="all"
        Which part to load. ``"all"`` returns the training rows followed by the
        test rows.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes ``data`` (float32 array of shape
        (n_samples, 256)), ``target`` (int64 digit of each row), ``images``
        (a (n_samples, 16, 16) view of ``data``), ``feature_names``,
        ``target_names``, ``split`` (uint8, 0 for training rows and 1 for test
        rows) and ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True
        The two arrays described above.

    Raises
    ------
    FileNotFoundError
        If no readable file is present; the message names the paths looked at.
    ValueError
        If ``subset`` is invalid, or the data fail their checksum.

    Examples
    --------
    >>> from sknclust.datasets import load_usps
    >>> usps = load_usps(subset="train")  # doctest: +SKIP
    >>> usps.images.shape  # doctest: +SKIP
    (7291, 16, 16)
    """
    check_subset(subset)
    folder = get_data_home(data_home) / "usps"
    h5_path, npz_path = folder / "usps.h5", folder / "usps.npz"
    h5py = _import_h5py()
    if h5py is not None and (h5_path.is_file() or not npz_path.is_file()):
        X, y, split = _read_h5(h5_path, h5py)
    elif npz_path.is_file():
        X, y, split = _read_npz(npz_path)
    else:
        error = missing_file_error(npz_path)
        raise FileNotFoundError(
            f"{error} ({h5_path.name} was not tried because h5py is not installed.)"
        )
    return image_bunch(
        X, y, split, subset, side=16, descr=_DESCR, return_X_y=return_X_y
    )
