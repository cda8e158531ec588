"""Reading a user's data file (.npy, .npz or .csv) for the command line."""

import csv
import os
from pathlib import Path

import numpy as np

# Column names taken as the labels of a CSV file (compared case-insensitively).
LABEL_COLUMNS = ("label", "y", "target")
FILE_SUFFIXES = (".npy", ".npz", ".csv")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(path: Path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = [row for row in csv.reader(f) if row]
    if not rows:
        raise ValueError(f"{path} holds no rows.")
    header = None
    if not all(_is_number(cell) for cell in rows[0]):
        header, rows = [cell.strip() for cell in rows[0]], rows[1:]
    label_cols = [
        i for i, name in enumerate(header or []) if name.lower() in LABEL_COLUMNS
    ]
    if len(label_cols) > 1:
        raise ValueError(
            f"{path} has several label columns: "
            f"{[header[i] for i in label_cols]}; keep one."
        )
    feature_cols = [
        i for i in range(len(rows[0]) if rows else 0) if i not in label_cols
    ]
    try:
        X = np.array([[float(row[i]) for i in feature_cols] for row in rows])
    except (ValueError, IndexError) as exc:
        raise ValueError(
            f"{path} must hold numbers only, one sample per row ({exc})."
        ) from None
    y = None
    if label_cols:
        labels = np.array([row[label_cols[0]].strip() for row in rows])
        # Integer labels stay integers so they print as such; others stay text.
        y = (
            labels.astype(np.int64)
            if all(v.lstrip("-").isdigit() for v in labels)
            else labels
        )
    return X, y


def load_array_file(path: str | os.PathLike):
    """Read samples (and labels when present) from a .npy, .npz or .csv file.

    Parameters
    ----------
    path : str or path-like
        ``.npy``: a 2-D array of samples, no labels. ``.npz``: key ``X``
        (samples) and optional key ``y`` (labels). ``.csv``: numbers separated
        by commas, one sample per row, with an optional header row; a column
        named ``label``, ``y`` or ``target`` holds the labels.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        The samples; images stored as (n_samples, ...) are flattened.
    y : ndarray of shape (n_samples,) or None
        The labels, or None when the file has none.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the suffix is not supported or the content is malformed.
    """
    path = Path(path)
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise ValueError(
            f"Unsupported data file {path}: use one of {', '.join(FILE_SUFFIXES)}."
        )
    if not path.is_file():
        raise FileNotFoundError(f"Data file not found: {path}")
    y = None
    if path.suffix.lower() == ".csv":
        X, y = _read_csv(path)
    elif path.suffix.lower() == ".npy":
        X = np.load(path, allow_pickle=False)
    else:
        with np.load(path, allow_pickle=False) as archive:
            if "X" not in archive.files:
                raise ValueError(
                    f"{path} has no array named 'X' (it has {archive.files})."
                )
            X = archive["X"]
            y = archive["y"] if "y" in archive.files else None
    X = np.asarray(X)
    if X.ndim < 2 or len(X) == 0:
        raise ValueError(
            f"{path}: expected a non-empty 2-D array, got shape {X.shape}."
        )
    X = X.reshape(len(X), -1)
    if y is not None:
        y = np.asarray(y).ravel()
        if len(y) != len(X):
            raise ValueError(f"{path}: {len(X)} samples but {len(y)} labels.")
    return X, y
