"""sknclust beside ClustPy, the peer library: ACC and fit time in one run.

ClustPy's DEC, IDEC, DCN, DKM and VaDE and sknclust's DeepKMeans,
NeuralMixtureEM and GMVAEClustering, plus KMeans, are fitted in one process
with the same number of torch threads, on the same rows, with each method's
defaults: only ``n_clusters`` (the number of classes) and ``random_state`` are
given. The rows are flat (no ``image_shape``), as the peers take them, and
every method gets the same matrix: the pixel values mapped to [0, 1] by one
min-max range over the whole data set (digits are 0-16, USPS already 0-1).
ClustPy's VaDE reconstructs with binary cross-entropy, which wants [0, 1];
sknclust's estimators and KMeans are unaffected by one global scale.

Writes ``benchmarks/results/peers_<dataset>.json`` after every fit, so a run
that is stopped keeps what it finished; ``python benchmarks/make_page.py``
renders it in the "Peer library" section of ``docs/benchmarks.md``.

ClustPy needs its own environment (see ``benchmarks/peers_env.sh``)::

    bash benchmarks/peers_env.sh
    .venv-peers/bin/python benchmarks/run_peers.py --dataset digits --threads 1
"""

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

import numpy as np
import torch
from run_defaults import merge_reports  # a sibling script: same directory

from sknclust import __version__ as sknclust_version
from sknclust._benchmark import (
    Dataset,
    _json_report,
    fit_once,
    format_text_table,
    load_dataset,
    make_estimator,
    smallest_share,
)

SKNCLUST = ["KMeans", "DeepKMeans", "NeuralMixtureEM", "GMVAEClustering"]
CLUSTPY = ["DEC", "IDEC", "DCN", "DKM", "VaDE"]


def library(name: str) -> str:
    """``"clustpy"`` for a peer's estimator, else the library that provides it."""
    if name in CLUSTPY:
        return "clustpy"
    return "scikit-learn" if name == "KMeans" else "sknclust"


def build(name: str, n_clusters: int, seed: int):
    """The estimator called ``name`` with its defaults."""
    if name in CLUSTPY:
        import clustpy.deep

        return getattr(clustpy.deep, name)(n_clusters=n_clusters, random_state=seed)
    return make_estimator(name, n_clusters, seed)


def unit_range(data: Dataset) -> Dataset:
    """The rows with every value mapped to [0, 1] by one shared min-max range."""
    X = np.asarray(data.X, dtype=np.float32)
    low, high = float(X.min()), float(X.max())
    return Dataset(data.name, (X - low) / (high - low), data.y)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"sknclust": sknclust_version, "torch": torch.__version__}
    for package in ("clustpy", "scikit-learn"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def write_report(path, data, n_clusters, command, args, results, failures, earlier):
    """The JSON of ``run_defaults.py``, plus threads, input, versions, library.

    With ``earlier`` (the report this run replaces rows of, ``--replace``), its
    rows for the other estimators stay, as in ``run_defaults.py``.
    """
    report = _json_report(data, args.seeds, n_clusters, None, command, results)
    report["seeds"] = sorted({r.seed for r in results})
    report["threads"] = args.threads
    report["input"] = "pixel values mapped to [0, 1] by one min-max range"
    report["versions"] = versions()
    report["failures"] = failures
    if earlier:
        report = merge_reports(earlier, report)
    for row in report["results"]:
        row["library"] = library(row["estimator"])
    path.write_text(json.dumps(report, indent=1), encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["digits", "usps"], default="digits")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("SKNCLUST_DATA", "../shared/data"),
        help="folder holding usps/ (default $SKNCLUST_DATA, else ../shared/data)",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--estimators", nargs="+", default=SKNCLUST + CLUSTPY)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--output-dir", default="benchmarks/results")
    parser.add_argument(
        "--replace",
        action="store_true",
        help="rerun only --estimators and keep the other rows of the report",
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.estimators) - set(CLUSTPY + SKNCLUST))
    if unknown:
        parser.error(f"unknown estimators: {', '.join(unknown)}")

    torch.set_num_threads(args.threads)
    data = unit_range(load_dataset(args.dataset, args.data_dir))
    n_clusters = int(np.unique(data.y).size)
    python = Path(sys.executable)
    if python.is_relative_to(Path.cwd()):
        python = python.relative_to(Path.cwd())
    command = shlex.join([str(python), "benchmarks/run_peers.py", *sys.argv[1:]])
    output = Path(args.output_dir) / f"peers_{args.dataset}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    print(f"{data.describe()}; n_clusters={n_clusters}; {args.threads} thread(s)")
    earlier = None
    if args.replace:
        earlier = json.loads(output.read_text(encoding="utf-8"))
        if earlier["threads"] != args.threads:
            parser.error(f"{output} was run with {earlier['threads']} thread(s)")

    # Seeds outermost: every finished seed holds every method.
    results, failures = [], {}
    for seed in args.seeds:
        for name in args.estimators:
            if name in failures:
                continue
            estimator = build(name, n_clusters, seed)
            try:
                result = fit_once(estimator, data.X, data.y, name=name, seed=seed)
            except Exception as exc:  # a failing method must not sink the others
                failures[name] = f"{type(exc).__name__}: {exc}"
                print(f"{name} seed={seed}: FAILED {failures[name]}", flush=True)
            else:
                results.append(result)
                print(
                    f"{name} ({library(name)}) seed={seed}: "
                    f"ACC={result.scores['ACC']:.3f} NMI={result.scores['NMI']:.3f} "
                    f"fit {result.fit_seconds:.1f} s",
                    flush=True,
                )
            write_report(
                output, data, n_clusters, command, args, results, failures, earlier
            )

    rows = [
        [
            r.estimator,
            library(r.estimator),
            str(r.seed),
            f"{r.scores['ACC']:.3f}",
            f"{r.fit_seconds:.1f}",
            f"{smallest_share(r.labels):.1%}",
        ]
        for r in results
    ]
    header = ["estimator", "library", "seed", "ACC", "fit [s]", "smallest cluster"]
    print(format_text_table(header, rows))
    print(f"wrote {output}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
