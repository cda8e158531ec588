"""Command line: ``sknclust benchmark`` and ``sknclust cluster``.

Run ``sknclust benchmark --help`` or ``sknclust cluster --help`` for the options.
``python -m sknclust`` is the same program.
"""

import argparse
import ast
import math
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sknclust import _benchmark


class UsageError(Exception):
    """A mistake in the command line or its inputs: reported in one line, exit 2."""


def parse_param(text: str) -> tuple[str, Any]:
    """Split ``key=value``; the value is a Python literal if it parses as one.

    Examples
    --------
    >>> parse_param("hidden_dims=(16,)")
    ('hidden_dims', (16,))
    >>> parse_param("device=cpu")
    ('device', 'cpu')
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise UsageError(f"--param expects key=value, got {text!r}.")
    try:
        parsed = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        parsed = value  # e.g. device=cpu: a bare word is a string
    return key.strip(), parsed


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _params(items: Sequence[str] | None) -> dict[str, Any]:
    return dict(parse_param(item) for item in items or ())


def _image_shape(shape, n_features: int):
    if shape is None:
        return None
    if math.prod(shape) != n_features:
        raise UsageError(
            f"--image-shape {' '.join(map(str, shape))} holds {math.prod(shape)} "
            f"values but the data have {n_features} features."
        )
    return tuple(shape)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="parameter set on every estimator run (repeatable); VALUE is read as "
        "a Python literal when possible, e.g. hidden_dims=(256,64) or device=cpu",
    )
    parser.add_argument(
        "--image-shape",
        nargs=3,
        type=int,
        metavar=("C", "H", "W"),
        help="rows are flattened C x H x W images (deep estimators then use "
        "convolutions)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sknclust`` program."""
    parser = argparse.ArgumentParser(
        prog="sknclust", description="Deep clustering estimators for scikit-learn."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    bench = commands.add_parser(
        "benchmark",
        help="compare estimators over several seeds",
        description="Fit estimators with several seeds; print and save ACC, NMI, "
        "ARI and fit time (mean ± std), plus a figure of 2-D views.",
    )
    bench.add_argument(
        "--dataset",
        default="digits",
        help="digits (scikit-learn's, the default), iris, wine, breast_cancer "
        "(scikit-learn's, standardised), mnist, usps, or a .npy/.npz/.csv file",
    )
    bench.add_argument(
        "--data-dir", help="folder holding mnist/ and usps/ (see get_data_home)"
    )
    seeds = bench.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", nargs="+", type=int, help="seeds to use")
    seeds.add_argument(
        "--n-seeds", type=_positive_int, default=3, help="use seeds 0..N-1 (default 3)"
    )
    bench.add_argument(
        "--estimators",
        nargs="+",
        metavar="NAME",
        default=list(_benchmark.ESTIMATORS),
        help=f"estimators to run (default all: {', '.join(_benchmark.ESTIMATORS)})",
    )
    bench.add_argument(
        "--n-clusters", type=_positive_int, help="default: the number of classes"
    )
    bench.add_argument(
        "--output-dir",
        default="bench-out",
        help="where benchmark_<dataset>.md/.png go (default bench-out)",
    )
    bench.add_argument(
        "--report-name",
        help="file name of the report, without extension (default benchmark_<dataset>)",
    )
    bench.add_argument(
        "--max-samples",
        type=_positive_int,
        help="use a stratified subset of this size (same rows for every run)",
    )
    bench.add_argument(
        "--images",
        action="store_true",
        help="treat digits/mnist/usps rows as images (1x8x8, 1x28x28, 1x16x16)",
    )
    bench.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="torch CPU threads (default: torch's own choice); 1 avoids "
        "oversubscription when other jobs share the cores",
    )
    _add_common(bench)

    cluster = commands.add_parser(
        "cluster",
        help="cluster a data file and write the labels",
        description="Fit one estimator on a .npy/.npz/.csv file and write a CSV "
        "with a 'label' column, one row per sample.",
    )
    cluster.add_argument("input", type=Path, help=".npy, .npz (key X) or .csv")
    cluster.add_argument(
        "--estimator",
        required=True,
        help=f"{', '.join(_benchmark.ESTIMATORS)}, or a class exported by sknclust",
    )
    cluster.add_argument("--n-clusters", type=_positive_int, required=True)
    cluster.add_argument(
        "-o", "--output", type=Path, required=True, help="CSV file to write"
    )
    cluster.add_argument("--random-state", type=int)
    _add_common(cluster)
    return parser


def _benchmark_command(args, argv: Sequence[str]) -> int:
    params = _params(args.param)
    seeds = list(dict.fromkeys(args.seeds or range(args.n_seeds)))
    data = _benchmark.load_dataset(args.dataset, args.data_dir)
    data = _benchmark.subsample(data, args.max_samples)
    shape = args.image_shape or (data.image_shape if args.images else None)
    if args.images and shape is None:
        raise UsageError("--images needs --image-shape for a data file.")
    image_shape = _image_shape(shape, data.X.shape[1])
    n_clusters = args.n_clusters
    if n_clusters is None:
        if data.y is None:
            raise UsageError(f"{args.dataset} has no labels: pass --n-clusters.")
        n_clusters = int(np.unique(data.y).size)
    print(f"sknclust benchmark on {data.describe()}; n_clusters={n_clusters}")
    print(f"seeds: {' '.join(map(str, seeds))}", flush=True)
    results, failures, paths = _benchmark.run_benchmark(
        data,
        args.estimators,
        seeds,
        n_clusters=n_clusters,
        image_shape=image_shape,
        params=params,
        output_dir=args.output_dir,
        report_name=args.report_name,
        command=shlex.join(["sknclust", *argv]),
        log=lambda line: print(line, flush=True),
    )
    if results:
        print()
        print(_benchmark.format_text_table(*_benchmark.summary_table(results)))
        note = f"Mean ± std over {len(seeds)} seed(s)."
        print(note + (" " + _benchmark.CAPTION if data.y is not None else ""))
    for name, message in failures.items():
        print(f"{name} failed: {message}", file=sys.stderr)
    for path in paths.values():
        print(f"wrote {path}")
    return 1 if failures else 0


def _cluster_command(args) -> int:
    from sknclust.datasets._files import load_array_file

    params = _params(args.param)
    X, _ = load_array_file(args.input)
    estimator = _benchmark.make_estimator(
        args.estimator,
        args.n_clusters,
        args.random_state,
        _image_shape(args.image_shape, X.shape[1]),
        params=params,
    )
    labels = np.asarray(estimator.fit_predict(X))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write("label\n")
        f.writelines(f"{label}\n" for label in labels)
    print(
        f"wrote {len(labels)} labels to {args.output} "
        f"(cluster sizes: {_benchmark.cluster_sizes(labels)})"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sknclust`` program.

    Parameters
    ----------
    argv : sequence of str, default=None
        Arguments without the program name; ``None`` reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 1 when some benchmark fits failed, 2 on a usage error
        (bad option, missing file, unknown estimator or parameter).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage or help already
        return int(exc.code or 0)
    try:
        if args.command == "benchmark":
            if args.threads:
                import torch

                torch.set_num_threads(args.threads)
            return _benchmark_command(args, argv)
        return _cluster_command(args)
    except (UsageError, OSError, ValueError, TypeError) as exc:
        # Bad input: one line, no traceback. InvalidParameterError (a bad value
        # found by an estimator's fit) is a ValueError too.
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"sknclust: error: {message}", file=sys.stderr)
        return 2
