"""Every estimator with its defaults on digits, USPS, MNIST, three tables and
two sets of clusters of unequal sizes.

Each configuration runs ``sknclust benchmark`` with the estimators' defaults:
the only things taken from a data set are ``n_clusters`` (its number of
classes) and, for the image runs, ``image_shape``. It writes one report per
configuration, ``benchmarks/results/<configuration>.json``;
``python benchmarks/make_page.py`` then rebuilds ``docs/benchmarks.md`` from
them. ``--replace`` reruns only ``--estimators`` and keeps the other rows of
the report, listing the earlier command.

    python benchmarks/run_defaults.py --configs digits digits_images --threads 2
    python benchmarks/run_defaults.py --configs usps_images --data-dir ../shared/data
    python benchmarks/run_defaults.py --configs mnist_images \
        --estimators GMVAEClustering --replace --data-dir ../shared/data
"""

import argparse
import json
import shlex
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
from sklearn.datasets import load_digits, make_blobs

from sknclust.cli import main as sknclust

ESTIMATORS = [
    "KMeans",
    "GaussianMixture",
    "DeepKMeans",
    "NeuralMixtureEM",
    "GMVAEClustering",
]


class Config(NamedTuple):
    """One benchmark configuration: a data set, how its rows are given, the
    seeds, and its table's title on the page."""

    # A name for ``sknclust benchmark --dataset``, or a function that writes
    # the data set to a file in the folder it is given and returns its path.
    dataset: str | Callable[[Path], Path]
    images: bool  # rows as images (image_shape set)
    seeds: list
    title: str
    subset: int | None = None  # size of a stratified subset, else every row


# Rows of each blob in "blobs_unequal": 40, 20, 15, 10, 10 and 5%.
BLOB_SIZES = (960, 480, 360, 240, 240, 120)


def unequal_blobs(folder: Path) -> Path:
    """Six separated Gaussian blobs in 10 dimensions, of unequal sizes
    (:data:`BLOB_SIZES`): clusters that k-means finds, in proportions that
    a prior for equal sizes gets wrong."""
    X, y = make_blobs(6000, n_features=10, centers=6, cluster_std=2.0, random_state=1)
    rng = np.random.RandomState(0)
    rows = [
        rng.choice(np.flatnonzero(y == c), size, replace=False)
        for c, size in enumerate(BLOB_SIZES)
    ]
    return _save_rows(folder / "blobs_unequal.npz", X, y, rows)


def unequal_digits(folder: Path) -> Path:
    """scikit-learn's digits with class c cut to its first ``0.25 ** (c / 9)``
    share of rows: from 178 zeros (18% of the rows) down to 45 nines
    (4.5%)."""
    X, y = load_digits(return_X_y=True)
    rows = [
        np.flatnonzero(y == c)[: round(0.25 ** (c / 9) * (y == c).sum())]
        for c in range(10)
    ]
    return _save_rows(folder / "digits_unequal.npz", X, y, rows)


def _save_rows(path: Path, X, y, rows) -> Path:
    """Write the rows picked per class (a list of index arrays), in their
    original order, to ``path`` as ``X`` and ``y``."""
    rows = np.sort(np.concatenate(rows))
    np.savez(path, X=X[rows], y=y[rows])
    return path


# In the order of the page's tables.
CONFIGS = {
    "digits": Config("digits", False, [0, 1, 2, 3, 4], "digits as flat rows"),
    "digits_images": Config(
        "digits",
        True,
        [0, 1, 2, 3, 4],
        "digits as 8x8 images (`image_shape=(1, 8, 8)`)",
    ),
    "usps_images": Config(
        "usps", True, [0, 1, 2], "USPS as 16x16 images (`image_shape=(1, 16, 16)`)"
    ),
    "mnist_images": Config(
        "mnist",
        True,
        [0, 1, 2],
        "MNIST, all 70,000, as 28x28 images (`image_shape=(1, 28, 28)`)",
    ),
    # Image rows given without their shape, as a user with pixel features might.
    "mnist_flat": Config(
        "mnist",
        False,
        [0, 1, 2],
        "MNIST, 20,000 rows (a stratified subset), as flat rows",
        subset=20000,
    ),
    "usps_flat": Config("usps", False, [0, 1, 2], "USPS, all 9,298, as flat rows"),
    "iris": Config("iris", False, [0, 1, 2, 3, 4], "iris, standardised"),
    "wine": Config("wine", False, [0, 1, 2, 3, 4], "wine, standardised"),
    "breast_cancer": Config(
        "breast_cancer",
        False,
        [0, 1, 2, 3, 4],
        "breast cancer (Wisconsin), standardised",
    ),
    # Clusters of unequal sizes, where a prior for equal ones misleads.
    "blobs_unequal": Config(
        unequal_blobs,
        False,
        [0, 1, 2],
        "six separated blobs holding 40, 20, 15, 10, 10 and 5% of the rows",
    ),
    "digits_unequal": Config(
        unequal_digits,
        False,
        [0, 1, 2],
        "digits thinned to unequal classes (18% down to 4.5%), as flat rows",
    ),
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    parser.add_argument("--estimators", nargs="+", default=ESTIMATORS)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--seeds", nargs="+", type=int, help="seeds to run instead of the config's"
    )
    parser.add_argument("--output-dir", default="benchmarks/results")
    parser.add_argument(
        "--replace",
        action="store_true",
        help="rerun only --estimators and keep the other rows of each report",
    )
    args = parser.parse_args(argv)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    status = 0
    for name in args.configs:
        config = CONFIGS[name]
        seeds = args.seeds or config.seeds
        with tempfile.TemporaryDirectory() as scratch:
            dataset = config.dataset
            if callable(dataset):
                dataset = str(dataset(Path(scratch)))
            command = ["benchmark", "--dataset", dataset]
            command += ["--report-name", name]
            command += ["--seeds", *map(str, seeds), "--threads", str(args.threads)]
            command += ["--output-dir", scratch, "--estimators", *args.estimators]
            if config.images:
                command.append("--images")
            if config.subset:
                command += ["--max-samples", str(config.subset)]
            if args.data_dir:
                command += ["--data-dir", args.data_dir]
            status = max(status, sknclust(command))
            written = Path(scratch) / f"{name}.json"
            if not written.exists():
                continue
            report = json.loads(written.read_text(encoding="utf-8"))
        report["command"] = shlex.join(["python", "benchmarks/run_defaults.py", *argv])
        target = output_dir / f"{name}.json"
        if args.replace and target.exists():
            report = merge_reports(
                json.loads(target.read_text(encoding="utf-8")), report
            )
        target.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return status


def merge_reports(old: dict, new: dict) -> dict:
    """``new`` with the rows of ``old`` for the estimators it does not report.

    Every earlier command is kept under ``"earlier"`` with the estimators whose
    rows it still holds (see :func:`earlier_runs`).
    """
    rerun = {row["estimator"] for row in new["results"]}
    kept = [row for row in old["results"] if row["estimator"] not in rerun]
    return {
        **new,
        "results": kept + new["results"],
        "seeds": sorted({row["seed"] for row in kept + new["results"]}),
        "earlier": earlier_runs(old, [row["estimator"] for row in kept]),
    }


def seed_accuracies(report: dict, seed: int) -> dict:
    """Each estimator's ACC on ``seed`` in a report of this script."""
    return {r["estimator"]: r["ACC"] for r in report["results"] if r["seed"] == seed}


def earlier_runs(old: dict, kept, fields=("command", "machine", "date")) -> list:
    """``old``'s earlier commands, and ``old``'s own, for the rows kept from it.

    ``kept`` names the estimators that still have rows from ``old``. Each
    command lists those whose rows it produced (``"estimators"``); a command
    left with none is dropped. ``fields`` of ``old`` (those it has) describe
    its own command.
    """
    kept = list(dict.fromkeys(kept))
    earlier, claimed = [], set()
    for entry in old.get("earlier", []):
        names = [n for n in entry["estimators"] if n in kept]
        claimed.update(names)
        if names:
            earlier.append({**entry, "estimators": names})
    own = [n for n in kept if n not in claimed]
    if own:
        own_run = {k: old[k] for k in fields if k in old}
        earlier.append({**own_run, "estimators": own})
    return earlier


if __name__ == "__main__":
    raise SystemExit(main())
