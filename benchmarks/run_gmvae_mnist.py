"""GMVAEClustering on MNIST: clustering, embedding, generation, few labels.

Unsupervised (one fit per seed on all 70,000 images, labels unused):

- clustering ACC/NMI on all 70,000 images and the fit time;
- 5-nearest-neighbour error of ``transform`` output: neighbours from the 60,000
  training rows, evaluated on the 10,000 test rows;
- conditional generation: ``sample(cluster=c)`` draws classified by a 5-NN
  classifier on real MNIST training pixels; a draw is correct when it lands in
  the class that cluster ``c`` is matched to (Hungarian matching on the
  training rows). A figure of draws per cluster goes beside the table.

Semi-supervised (one fit per seed on the 60,000 training images, 10 labels per
class drawn with the seed, every other label -1): accuracy of ``predict`` on the
10,000 test images.

Writes ``benchmarks/results/gmvae_mnist_unsupervised.md`` (with
``gmvae_mnist_samples.png``) and ``gmvae_mnist_semi.md``.

    python benchmarks/run_gmvae_mnist.py --n-seeds 3 --threads 1
    python benchmarks/run_gmvae_mnist.py --tasks semi --seeds 0 1 2 --jobs 3 --threads 1
"""

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from joblib import Parallel, delayed
from sklearn.metrics import normalized_mutual_info_score
from sklearn.neighbors import KNeighborsClassifier

from sknclust import GMVAEClustering
from sknclust._benchmark import format_markdown_table, machine_description
from sknclust.cli import parse_param
from sknclust.datasets import load_mnist
from sknclust.metrics import clustering_accuracy
from sknclust.metrics._clustering import best_matching

# Defaults: only the facts of the data set are given.
PARAMS = {"n_clusters": 10, "image_shape": (1, 28, 28)}
N_DRAWS = 500  # per cluster, for the generation score


def _samples_figure(model, path, per_cluster=10):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = model.n_clusters
    fig, axes = plt.subplots(k, per_cluster, figsize=(per_cluster * 0.6, k * 0.6))
    for c in range(k):
        X, _ = model.sample(per_cluster, cluster=c)
        for j in range(per_cluster):
            axes[c, j].imshow(X[j].reshape(28, 28), cmap="gray_r")
            axes[c, j].set_axis_off()
    fig.suptitle("GMVAEClustering.sample(cluster=c), one row per cluster")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def unsupervised(seed, X, y, split, real_knn, figure=None):
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
    if figure is not None:
        _samples_figure(model, figure)
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
    params = dict(PARAMS)
    model = GMVAEClustering(random_state=seed, **params).fit(X_train, partial)
    seconds = time.perf_counter() - start
    accuracy = float((model.predict(X[test]) == y[test]).mean())
    return {"seed": seed, "test_accuracy": accuracy, "seconds": seconds}


def _semi_in_worker(seed, X, y, split, threads):
    if threads:  # a fresh worker process has torch's default thread count
        torch.set_num_threads(threads)
    return semi_supervised(seed, X, y, split)


def _settings(params):
    return ", ".join(f"`{k}={v}`" for k, v in params.items())


def _mean_std(values, fmt="{:.3f}"):
    values = np.asarray(values)
    return f"{fmt.format(values.mean())} ± {fmt.format(values.std())}"


def _header(title):
    command = "python benchmarks/run_gmvae_mnist.py " + " ".join(sys.argv[1:])
    return [
        f"## GMVAEClustering on MNIST: {title}",
        "",
        f"Command: `{command.strip()}`  ",
        f"Machine: {machine_description()}  ",
        f"Settings: {json.dumps(PARAMS)}; date {datetime.date.today()}",
        "",
    ]


def report_unsupervised(unsup, figure):
    lines = _header("unsupervised")
    if unsup:
        rows = [
            [
                str(r["seed"]),
                f"{r['acc']:.3f}",
                f"{r['nmi']:.3f}",
                f"{r['min_share']:.3f}",
                f"{100 * r['knn_error']:.2f}%",
                f"{100 * r['generation']:.1f}%",
                f"{r['seconds']:.0f}",
                str(r["epochs"]),
            ]
            for r in unsup
        ]
        rows.append(
            [
                "mean ± std",
                _mean_std([r["acc"] for r in unsup]),
                _mean_std([r["nmi"] for r in unsup]),
                "",
                _mean_std([100 * r["knn_error"] for r in unsup], "{:.2f}") + "%",
                _mean_std([100 * r["generation"] for r in unsup], "{:.1f}") + "%",
                _mean_std([r["seconds"] for r in unsup], "{:.0f}"),
                "",
            ]
        )
        lines += [
            "Unsupervised, fitted on all 70,000 images (labels unused). Targets: "
            "ACC ≥ 0.88 and ≤ 20 min per fit; 5-NN error ≤ 4%; generation ≥ 80%.",
            "",
            format_markdown_table(
                [
                    "seed",
                    "ACC",
                    "NMI",
                    "smallest cluster",
                    "5-NN error (test)",
                    "generation",
                    "fit s",
                    "epochs",
                ],
                rows,
            ),
            "",
        ]
        if figure is not None:
            caption = f"Samples per cluster, seed {unsup[0]['seed']}"
            lines += [f"![{caption}]({figure.name})", ""]
    return "\n".join(lines)


def report_semi(semi):
    lines = _header("semi-supervised")
    if semi:
        rows = [
            [str(r["seed"]), f"{r['test_accuracy']:.3f}", f"{r['seconds']:.0f}"]
            for r in semi
        ]
        rows.append(
            [
                "mean ± std",
                _mean_std([r["test_accuracy"] for r in semi]),
                _mean_std([r["seconds"] for r in semi], "{:.0f}"),
            ]
        )
        lines += [
            "Semi-supervised: 60,000 training images, 100 labels (10 per class), "
            "accuracy on the 10,000 test images, with the defaults.",
            "",
            format_markdown_table(["seed", "test accuracy", "fit s"], rows),
            "",
        ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--n-seeds", type=int, default=3)
    parser.add_argument("--tasks", nargs="+", default=["unsupervised", "semi"])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--jobs", type=int, default=1, help="semi-supervised seeds run in parallel"
    )
    parser.add_argument("--output-dir", default="benchmarks/results")
    parser.add_argument("--max-epochs", type=int, default=None, help="smoke tests")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        type=parse_param,
        metavar="KEY=VALUE",
        help="override one of the settings of both tasks (repeatable)",
    )
    parser.add_argument(
        "--report-name",
        default="gmvae_mnist",
        help="stem of the report files: <name>_unsupervised.md, <name>_semi.md",
    )
    args = parser.parse_args(argv)
    PARAMS.update(dict(args.param))
    if args.max_epochs is not None:
        PARAMS["max_epochs"] = args.max_epochs
    if args.threads:
        torch.set_num_threads(args.threads)
    seeds = args.seeds if args.seeds is not None else list(range(args.n_seeds))
    bunch = load_mnist(args.data_dir)
    X, y, split = bunch.data, bunch.target, bunch.split
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    figure = out / f"{args.report_name}_samples.png"

    def save(task, text):
        # After every seed, so a run stopped early keeps what it measured.
        (out / f"{args.report_name}_{task}.md").write_text(text + "\n")
        print(text, flush=True)

    if "unsupervised" in args.tasks:
        real_knn = KNeighborsClassifier(5).fit(X[split == 0], y[split == 0])
        unsup = []
        for i, seed in enumerate(seeds):
            unsup.append(
                unsupervised(seed, X, y, split, real_knn, figure if i == 0 else None)
            )
            save("unsupervised", report_unsupervised(unsup, figure))
    if "semi" in args.tasks and args.jobs > 1:
        semi = Parallel(n_jobs=args.jobs)(
            delayed(_semi_in_worker)(seed, X, y, split, args.threads) for seed in seeds
        )
        save("semi", report_semi(semi))
    elif "semi" in args.tasks:
        semi = []
        for seed in seeds:
            semi.append(semi_supervised(seed, X, y, split))
            save("semi", report_semi(semi))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
