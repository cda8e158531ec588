"""Every estimator with its defaults on digits, USPS and MNIST.

Each configuration runs ``sknclust benchmark`` with the estimators' defaults:
the only things taken from a data set are ``n_clusters`` (its number of
classes) and, for the image runs, ``image_shape``. It writes
``benchmarks/results/<configuration>.md``, ``.json`` and ``.png``;
``python benchmarks/make_page.py`` then rebuilds ``docs/benchmarks.md`` from
the JSON files.

    python benchmarks/run_defaults.py --configs digits digits_images --threads 2
    python benchmarks/run_defaults.py --configs usps_images --data-dir ../shared/data
"""

import argparse

from sknclust.cli import main as sknclust

ESTIMATORS = [
    "KMeans",
    "GaussianMixture",
    "DeepKMeans",
    "NeuralMixtureEM",
    "GMVAEClustering",
]
# name: (dataset, rows as images, seeds)
CONFIGS = {
    "digits": ("digits", False, [0, 1, 2, 3, 4]),
    "digits_images": ("digits", True, [0, 1, 2, 3, 4]),
    "usps_images": ("usps", True, [0, 1, 2]),
    "mnist_images": ("mnist", True, [0, 1, 2]),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    parser.add_argument("--estimators", nargs="+", default=ESTIMATORS)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output-dir", default="benchmarks/results")
    args = parser.parse_args(argv)
    status = 0
    for name in args.configs:
        dataset, images, seeds = CONFIGS[name]
        command = ["benchmark", "--dataset", dataset, "--report-name", name]
        command += ["--seeds", *map(str, seeds), "--threads", str(args.threads)]
        command += ["--output-dir", args.output_dir, "--estimators", *args.estimators]
        if images:
            command.append("--images")
        if args.data_dir:
            command += ["--data-dir", args.data_dir]
        status = max(status, sknclust(command))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
