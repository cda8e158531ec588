"""GMVAEClustering on MNIST: clustering, embedding, generation, few labels.

Unsupervised (one fit per seed on all 70,000 images, labels unused):

- clustering ACC/NMI on all 70,000 images and the fit time;
- 5-nearest-neighbour error of ``transform`` output: neighbours from the 60,000
  training rows, evaluated on the 10,000 test rows;
- conditional generation: ``sample(cluster=c)`` draws classified by a 5-NN
  classifier on real MNIST training pixels; a draw is correct when it lands in
  the class that cluster ``c`` is matched to (Hungarian matching on the
  training rows).

Semi-supervised (one fit per seed on the 60,000 training images, 10 labels per
class drawn with the seed, every other label -1): accuracy of ``predict`` on the
10,000 test images.

Both use the defaults, with only ``n_clusters=10`` and ``image_shape``. Writes
``benchmarks/results/gmvae_mnist.json`` (a run of one task keeps the other's
results); ``python benchmarks/make_page.py`` puts it on the benchmarks page.

    python benchmarks/run_gmvae_mnist.py --data-dir ../shared/data
    python benchmarks/run_gmvae_mnist.py --tasks semi --seeds 0 1 2 --jobs 2 --threads 1
"""

import argparse
import datetime
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from joblib import Parallel, delayed
from sklearn.metrics import normalized_mutual_info_score
from sklearn.neighbors import KNeighborsClassifier

from sknclust import GMVAEClustering
from sknclust._benchmark import machine_description
from sknclust.datasets import load_mnist
from sknclust.metrics import clustering_accuracy
from sknclust.metrics._clustering import best_matching

# Defaults: only the facts of the data set are given.
PARAMS = {"n_clusters": 10, "image_shape": (1, 28, 28)}
N_DRAWS = 500  # per cluster, for the generation score


def unsupervised(seed, X, y, split, real_knn):
    start = time.perf_counter()
    model = GMVAEClustering(random_state=seed, **PARAMS).fit(X)
    seconds = time.perf_counter() - start
    labels = model.labels_
    train, test = split == 0, split == 1
    Z = model.transform(X)
    knn = KNeighborsClassifier(5).fit(Z[train], y[train])
    knn_error = 1 - float(knn.score(Z[test], y[test]))
    hits = total = 0
    for cluster, target, _ in best_matching(y[train], labels[train]):
        draws, _ = model.sample(N_DRAWS, cluster=cluster)
        hits += int((real_knn.predict(draws) == target).sum())
        total += N_DRAWS
    return {
        "seed": seed,
        "acc": clustering_accuracy(y, labels),
        "nmi": normalized_mutual_info_score(y, labels),
        "min_share": float(np.bincount(labels, minlength=10).min() / len(y)),
        "knn_error": knn_error,
        "generation": hits / total,
        "seconds": seconds,
        "epochs": model.n_iter_,
    }


def semi_supervised(seed, X, y, split):
    train, test = split == 0, split == 1
    X_train, y_train = X[train], y[train]
    rng = np.random.default_rng(seed)
    partial = np.full_like(y_train, -1)
    for c in np.unique(y_train):
        chosen = rng.choice(np.flatnonzero(y_train == c), 10, replace=False)
        partial[chosen] = c
    start = time.perf_counter()
    model = GMVAEClustering(random_state=seed, **PARAMS).fit(X_train, partial)
    seconds = time.perf_counter() - start
    accuracy = float((model.predict(X[test]) == y[test]).mean())
    return {"seed": seed, "test_accuracy": accuracy, "seconds": seconds}


def _semi_in_worker(seed, X, y, split, threads):
    if threads:  # a fresh worker process has torch's default thread count
        torch.set_num_threads(threads)
    return semi_supervised(seed, X, y, split)


def _task_report(runs, threads, argv):
    return {
        "command": shlex.join(["python", "benchmarks/run_gmvae_mnist.py", *argv]),
        "machine": machine_description(),
        "date": str(datetime.date.today()),
        "threads": threads,
        "runs": runs,
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--tasks", nargs="+", default=["unsupervised", "semi"])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--jobs", type=int, default=1, help="semi-supervised seeds run in parallel"
    )
    parser.add_argument("--output", default="benchmarks/results/gmvae_mnist.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    bunch = load_mnist(args.data_dir)
    X, y, split = bunch.data, bunch.target, bunch.split
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)

    def save(task, runs):
        # After every seed, so a run stopped early keeps what it measured; the
        # other task's results stay (it may run in another process).
        report = json.loads(output.read_text()) if output.exists() else {}
        report[task] = _task_report(runs, args.threads, argv)
        output.write_text(json.dumps(report, indent=1) + "\n")
        print(json.dumps(runs[-1]), flush=True)

    if "unsupervised" in args.tasks:
        real_knn = KNeighborsClassifier(5).fit(X[split == 0], y[split == 0])
        unsup = []
        for seed in args.seeds:
            unsup.append(unsupervised(seed, X, y, split, real_knn))
            save("unsupervised", unsup)
    if "semi" in args.tasks and args.jobs > 1:
        semi = Parallel(n_jobs=args.jobs)(
            delayed(_semi_in_worker)(seed, X, y, split, args.threads)
            for seed in args.seeds
        )
        save("semi", semi)
    elif "semi" in args.tasks:
        semi = []
        for seed in args.seeds:
            semi.append(semi_supervised(seed, X, y, split))
            save("semi", semi)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
