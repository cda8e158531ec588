"""DeepKMeans (every strategy) against KMeans and GaussianMixture.

Runs ``sknclust benchmark`` on digits, USPS and MNIST (all 70,000 images) with the
registry's per-dataset settings and writes ``benchmarks/results/benchmark_*.md``
and ``.png``; ``python benchmarks/make_report.py`` then rebuilds
``docs/benchmarks.md``.

    python benchmarks/run_deep_kmeans.py --datasets digits --n-seeds 5
    python benchmarks/run_deep_kmeans.py --datasets usps mnist --n-seeds 3
"""

import argparse

from sknclust.cli import main as sknclust

ESTIMATORS = [
    "KMeans",
    "GaussianMixture",
    "DeepKMeans[soft]",
    "DeepKMeans[alternating]",
    "DeepKMeans[gumbel]",
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "usps", "mnist"])
    parser.add_argument("--n-seeds", type=int, default=3)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--estimators", nargs="+", default=ESTIMATORS)
    parser.add_argument("--output-dir", default="benchmarks/results")
    parser.add_argument("--threads", default=None)
    args = parser.parse_args(argv)
    status = 0
    for dataset in args.datasets:
        command = [
            "benchmark",
            "--dataset",
            dataset,
            "--n-seeds",
            str(args.n_seeds),
            "--output-dir",
            args.output_dir,
            "--estimators",
            *args.estimators,
        ]
        if args.threads:
            command += ["--threads", args.threads]
        if args.data_dir:
            command += ["--data-dir", args.data_dir]
        status = max(status, sknclust(command))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
