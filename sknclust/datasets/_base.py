"""Where the offline datasets live, and the checks every loader shares."""

import hashlib
import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

DATA_HOME_ENV = "SKNCLUST_DATA"
DEFAULT_DATA_HOME = Path("..") / "shared" / "data"
SUBSETS = ("train", "test", "all")


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Folder that holds the dataset sub-folders (``mnist/``, ``usps/``...).

    Nothing is downloaded: the loaders only read files already present there.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder to use. ``None`` reads the ``SKNCLUST_DATA`` environment
        variable and, if it is unset or empty, uses ``../shared/data``
        relative to the current working directory.

    Returns
    -------
    data_home : pathlib.Path
        The folder, with ``~`` expanded. It is not checked for existence.

    Examples
    --------
    >>> from sknclust.datasets import get_data_home
    >>> get_data_home("/srv/data").as_posix()
    '/srv/data'
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV) or DEFAULT_DATA_HOME
    return Path(data_home).expanduser()


def check_subset(subset: str) -> str:
    """Validate a ``subset`` argument."""
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}.")
    return subset


def missing_file_error(path: Path) -> FileNotFoundError:
    """An error that names the file looked for and how to look elsewhere."""
    return FileNotFoundError(
        f"Dataset file not found: {path}. Pass data_home= to the loader (or "
        f"--data-dir on the command line), or set the {DATA_HOME_ENV} "
        "environment variable to the folder that holds it."
    )


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verified_path(path: Path, sha256: str) -> Path:
    """Return ``path`` after checking that it exists and has the expected sha256."""
    if not path.is_file():
        raise missing_file_error(path)
    actual = file_sha256(path)
    if actual != sha256:
        raise ValueError(
            f"Checksum mismatch for {path}: sha256 is {actual}, expected "
            f"{sha256}. The file is corrupt or not the original release."
        )
    return path


def subset_rows(split: np.ndarray, subset: str) -> np.ndarray | slice:
    """Row selector for ``subset`` given the per-row ``split`` (0 train, 1 test)."""
    if subset == "all":
        return slice(None)
    return np.flatnonzero(split == (0 if subset == "train" else 1))


def image_bunch(X, y, split, subset, *, side, descr, return_X_y):
    """Package square-image rows the way scikit-learn's loaders do.

    ``X`` holds every row of both parts; ``subset`` picks the rows returned.
    """
    rows = subset_rows(split, subset)
    X = np.ascontiguousarray(X[rows], dtype=np.float32)
    y = np.asarray(y[rows], dtype=np.int64)
    if return_X_y:
        return X, y
    return Bunch(
        data=X,
        target=y,
        # A view, so the images cost no extra memory.
        images=X.reshape(-1, side, side),
        feature_names=[f"pixel_{r}_{c}" for r in range(side) for c in range(side)],
        target_names=np.arange(10),
        split=np.asarray(split[rows], dtype=np.uint8),
        DESCR=descr,
    )
