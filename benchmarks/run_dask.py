"""Dask: a grid search on a LocalCluster against n_jobs=2, and MNIST as a
dask array fed to ``partial_fit`` through dask-ml's ``Incremental``.

1. ``GridSearchCV`` of 8 candidates (``DeepKMeans`` on digits, ``n_clusters``
   x ``cluster_weight`` x ``strategy``, 2 folds) with ``n_jobs=2``, then the
   same search under ``joblib.parallel_backend("dask")`` on a 2-worker
   ``LocalCluster``: best parameters, scores and wall-clock times.
2. MNIST (70,000 images) as a dask array of 10 chunks: ``Incremental``
   fits ``NeuralMixtureEM`` (defaults, ``image_shape=(1, 28, 28)``, one
   epoch a chunk) through ``partial_fit``, one pass; ``ParallelPostFit``
   predicts lazily, chunk by chunk.

Writes ``benchmarks/results/dask.json``.

    python benchmarks/run_dask.py --data-dir ../shared/data
"""

import argparse
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from sknclust import DeepKMeans, NeuralMixtureEM
from sknclust.datasets import load_mnist
from sknclust.metrics import clustering_accuracy

GRID = {
    "n_clusters": [8, 10],
    "cluster_weight": [0.5, 1.0],
    "strategy": ["alternating", "soft"],
}


def _search(X, n_jobs):
    estimator = DeepKMeans(pretrain_epochs=20, max_epochs=10, random_state=0)
    search = GridSearchCV(estimator, GRID, cv=2, n_jobs=n_jobs)
    start = time.perf_counter()
    search.fit(X)
    return search, time.perf_counter() - start


def grid_search():
    from distributed import Client, LocalCluster

    X = load_digits().data
    local, local_seconds = _search(X, n_jobs=2)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster),
        joblib.parallel_backend("dask"),
    ):
        remote, remote_seconds = _search(X, n_jobs=-1)
    local_scores = local.cv_results_["mean_test_score"]
    remote_scores = remote.cv_results_["mean_test_score"]
    return {
        "candidates": len(local_scores),
        "best_params_n_jobs_2": local.best_params_,
        "best_params_dask": remote.best_params_,
        "same_best_params": local.best_params_ == remote.best_params_,
        "max_score_difference": float(np.max(np.abs(local_scores - remote_scores))),
        "seconds_n_jobs_2": round(local_seconds, 1),
        "seconds_dask": round(remote_seconds, 1),
        "time_ratio": round(remote_seconds / local_seconds, 3),
    }


def incremental_mnist(data_dir):
    import dask.array as da
    from dask_ml.wrappers import Incremental, ParallelPostFit

    X, y = load_mnist(data_dir, return_X_y=True)
    order = np.random.RandomState(0).permutation(len(X))
    X, y = X[order], y[order]
    chunks = da.from_array(X, chunks=(len(X) // 10, X.shape[1]))
    model = NeuralMixtureEM(
        n_clusters=10, image_shape=(1, 28, 28), max_epochs=1, random_state=0
    )
    start = time.perf_counter()
    fitted = Incremental(model, shuffle_blocks=False).fit(chunks).estimator_
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    labels = ParallelPostFit(fitted).predict(chunks).compute()
    predict_seconds = time.perf_counter() - start
    return {
        "estimator": "NeuralMixtureEM(max_epochs=1)",
        "chunks": int(chunks.numblocks[0]),
        "ACC": round(float(clustering_accuracy(y, labels)), 5),
        "fit_seconds": round(fit_seconds, 1),
        "predict_seconds": round(predict_seconds, 1),
        "n_steps": int(fitted.n_steps_),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--output", default="benchmarks/results/dask.json")
    args = parser.parse_args(argv)
    import torch

    report = {
        "date": date.today().isoformat(),
        "machine": f"{platform.platform()}, torch {torch.__version__}",
        "command": "python benchmarks/run_dask.py " + " ".join(argv or sys.argv[1:]),
        "grid_search": grid_search(),
    }
    print(report["grid_search"], flush=True)
    report["incremental_mnist"] = incremental_mnist(args.data_dir)
    print(report["incremental_mnist"], flush=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
