"""Clustering benchmarks of one estimator family on digits, USPS and MNIST.

Runs ``sknclust benchmark`` with the registry's per-dataset settings and writes
``benchmarks/results/<report>_<dataset>.md`` and ``.png``;
``python benchmarks/make_report.py`` then rebuilds ``docs/benchmarks.md``.
Families:

- ``deep_kmeans``: every DeepKMeans strategy with KMeans and GaussianMixture
  (reports ``benchmark_<dataset>``);
- ``gmvae``: GMVAEClustering (``gmvae_<dataset>``);
- ``neural_mixture``: NeuralMixtureEM, both density formulations
  (``neural_mixture_<dataset>``).

    python benchmarks/run_clustering.py --datasets digits --n-seeds 5 --threads 1
    python benchmarks/run_clustering.py --family gmvae --datasets usps --n-seeds 3
"""

import argparse

from sknclust.cli import main as sknclust

FAMILIES = {
    "deep_kmeans": (
        "benchmark",
        [
            "KMeans",
            "GaussianMixture",
            "DeepKMeans[soft]",
            "DeepKMeans[alternating]",
            "DeepKMeans[gumbel]",
        ],
    ),
    "gmvae": ("gmvae", ["GMVAEClustering"]),
    "neural_mixture": (
        "neural_mixture",
        ["NeuralMixtureEM[batchnorm]", "NeuralMixtureEM[sigmoid]"],
    ),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=FAMILIES, default="deep_kmeans")
    parser.add_argument("--datasets", nargs="+", default=["digits", "usps", "mnist"])
    parser.add_argument("--n-seeds", type=int, default=3)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--estimators", nargs="+", default=None)
    parser.add_argument("--output-dir", default="benchmarks/results")
    parser.add_argument("--threads", default=None)
    args = parser.parse_args(argv)
    report, estimators = FAMILIES[args.family]
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
            "--report-name",
            f"{report}_{dataset}",
            "--estimators",
            *(args.estimators or estimators),
        ]
        if args.threads:
            command += ["--threads", args.threads]
        if args.data_dir:
            command += ["--data-dir", args.data_dir]
        status = max(status, sknclust(command))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
