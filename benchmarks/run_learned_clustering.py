"""LearnedClustering on digit classes never seen in training.

Two configurations, each trained once with the estimator's defaults and the
images' ``image_shape`` (the convolutional item encoder):

- ``mnist``: trained on the MNIST training images of digits 0-4;
- ``usps_to_mnist``: trained on the USPS training images of digits 0-4.

Both are evaluated on the same random sets drawn from the MNIST *test* images
of digits 5-9 (for ``usps_to_mnist`` the 28x28 MNIST images are cropped to
their central 20x20 pixels, where MNIST centres its digits, and resized to
USPS's 16x16 with torch's bilinear interpolation, antialiased). Each set draws
its number of classes uniformly from 1 to 5, its size uniformly from 20 to 200
images, the classes, their shares of the set (a Dirichlet(2) split, at least
one image each) and the images, without replacement, from a fixed seed.

For every set it reports whether the number of clusters k is found exactly,
the absolute error of k, ARI and NMI (arithmetic mean), for LearnedClustering
and two two-stage baselines on its own embedding (``transform``): KMeans with
k chosen by the silhouette score among 2..5, four initialisations each (the
silhouette needs two clusters, so it cannot answer 1), and scikit-learn's
HDBSCAN with its defaults (its noise points form one more cluster). Three
references are told each set's true number of classes: LearnedClustering with
``n_clusters`` set to it, and KMeans (four initialisations) on its embedding
and on the pixels; they show how far the grouping and the embedding carry to
the new classes once k is known. It also reports the training time and the
prediction time per set (and for sets of 200 rows). The MNIST model is also
scored on sets of the test images of its own training classes, 0-4. Writes
``benchmarks/results/learned_clustering.json`` and ``.md``; configurations run
separately (for instance side by side, one thread each) are added to the same
report.

    nohup nice python benchmarks/run_learned_clustering.py --threads 2 > lc.log &
    python benchmarks/run_learned_clustering.py --configs mnist --threads 1
"""

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.metrics import (
    adjusted_rand_score,
    normalized_mutual_info_score,
    silhouette_score,
)

from sknclust import LearnedClustering
from sknclust._benchmark import format_markdown_table, machine_description
from sknclust.datasets import load_mnist, load_usps

MAX_CLUSTERS = 5
SET_SIZES = (20, 200)
SEEN, UNSEEN = range(0, 5), range(5, 10)


def draw_sets(y, n_sets, seed, classes=UNSEEN):
    """Index arrays of random sets of the rows whose class is in ``classes``."""
    rng = np.random.RandomState(seed)
    rows = {c: np.flatnonzero(y == c) for c in classes}
    sets = []
    for _ in range(n_sets):
        k = rng.randint(1, MAX_CLUSTERS + 1)
        n = rng.randint(SET_SIZES[0], SET_SIZES[1] + 1)
        drawn = rng.choice(list(classes), k, replace=False)
        counts = 1 + rng.multinomial(n - k, rng.dirichlet(np.full(k, 2.0)))
        sets.append(
            np.concatenate(
                [
                    rng.choice(rows[c], m, replace=False)
                    for c, m in zip(drawn, counts, strict=True)
                ]
            )
        )
    return sets


def mnist_as_usps(X):
    """28x28 MNIST rows in [0, 255] as 16x16 rows in [0, 1] (central 20x20 crop)."""
    images = torch.as_tensor(X, dtype=torch.float32).reshape(-1, 1, 28, 28)[
        :, :, 4:24, 4:24
    ]
    small = torch.nn.functional.interpolate(
        images / 255.0, size=(16, 16), mode="bilinear", antialias=True
    )
    return small.clamp(0, 1).reshape(-1, 256).numpy()


def silhouette_kmeans(Z, seed):
    """KMeans labels with k in 2..5 chosen by the silhouette score."""
    best, best_score = np.zeros(len(Z), dtype=int), -np.inf
    for k in range(2, min(MAX_CLUSTERS, len(Z) - 1) + 1):
        labels = KMeans(k, n_init=4, random_state=seed).fit_predict(Z)
        if np.unique(labels).size < 2:
            continue
        score = silhouette_score(Z, labels)
        if score > best_score:
            best, best_score = labels, score
    return best


def scores(y, labels):
    k_true = np.unique(y).size
    k_found = np.unique(labels[labels >= 0]).size or 1
    return {
        "k_exact": float(k_found == k_true),
        "k_abs_error": float(abs(k_found - k_true)),
        "ari": adjusted_rand_score(y, labels),
        "nmi": normalized_mutual_info_score(y, labels, average_method="arithmetic"),
    }


def true_k_kmeans(Z, k, seed):
    """KMeans labels with the set's true number of classes."""
    if k == 1:
        return np.zeros(len(Z), dtype=int)
    return KMeans(k, n_init=4, random_state=seed).fit_predict(Z)


def evaluate(model, X, y, sets, seed):
    methods = {
        name: []
        for name in (
            "LearnedClustering",
            "KMeans+silhouette",
            "HDBSCAN",
            "LearnedClustering, true k",
            "KMeans, true k",
            "KMeans on pixels, true k",
        )
    }
    seconds = []
    for index in sets:
        start = time.perf_counter()
        labels = model.predict(X[index])
        seconds.append(time.perf_counter() - start)
        methods["LearnedClustering"].append(scores(y[index], labels))
        Z = model.transform(X[index])
        methods["KMeans+silhouette"].append(
            scores(y[index], silhouette_kmeans(Z, seed))
        )
        methods["HDBSCAN"].append(scores(y[index], HDBSCAN(copy=True).fit_predict(Z)))
        # References that are told each set's number of classes.
        k = np.unique(y[index]).size
        # n_clusters acts at prediction only: no refit.
        model.set_params(n_clusters=k)
        methods["LearnedClustering, true k"].append(
            scores(y[index], model.predict(X[index]))
        )
        model.set_params(n_clusters=None)
        methods["KMeans, true k"].append(scores(y[index], true_k_kmeans(Z, k, seed)))
        methods["KMeans on pixels, true k"].append(
            scores(y[index], true_k_kmeans(X[index], k, seed))
        )
    summary = {
        name: {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
        for name, rows in methods.items()
    }
    return summary, float(np.mean(seconds))


def seconds_per_200_rows(model, X, sets):
    """Mean prediction time of sets of exactly 200 rows (up to five classes)."""
    pooled = np.concatenate(sets)
    starts = range(0, min(20 * SET_SIZES[1], len(pooled) - SET_SIZES[1] + 1), 200)
    full = [pooled[i : i + SET_SIZES[1]] for i in starts]
    start = time.perf_counter()
    for index in full:
        model.predict(X[index])
    return (time.perf_counter() - start) / len(full)


def run(name, X_train, y_train, X_test, y_test, sets, args, seen=None):
    """Train on the SEEN classes of the training rows and evaluate on ``sets``
    of the test rows; ``seen`` is ``(X, y, sets)`` of test rows of the SEEN
    classes, evaluated as well when given."""
    keep = np.isin(y_train, list(SEEN))
    start = time.perf_counter()
    extra = {} if args.train_sets is None else {"n_sets": args.train_sets}
    side = int(round(X_train.shape[1] ** 0.5))
    model = LearnedClustering(
        MAX_CLUSTERS, image_shape=(1, side, side), random_state=args.seed, **extra
    ).fit(X_train[keep], y_train[keep])
    train_seconds = time.perf_counter() - start
    print(f"[{name}] trained in {train_seconds:.0f} s", flush=True)
    summary, per_set = evaluate(model, X_test, y_test, sets, args.seed)
    result = {
        "train_rows": int(keep.sum()),
        "train_seconds": train_seconds,
        "predict_seconds_per_set": per_set,
        "predict_seconds_per_200_rows": seconds_per_200_rows(model, X_test, sets),
        "methods": summary,
    }
    if seen is not None:
        result["seen_methods"] = evaluate(model, *seen, args.seed)[0]
    print(json.dumps({name: result}, indent=1), flush=True)
    return result


def markdown(results, meta):
    header = ["Train → test", "Method", "k exact", "k MAE", "ARI", "NMI"]
    rows = []
    names = {"mnist": "MNIST 0-4 → MNIST 5-9", "usps_to_mnist": "USPS 0-4 → MNIST 5-9"}
    tables = [
        (name, methods)
        for config, result in results.items()
        for name, methods in (
            (names[config], result["methods"]),
            ("MNIST 0-4 → MNIST 0-4", result.get("seen_methods")),
        )
        if methods
    ]
    for name, methods in tables:
        for method, s in methods.items():
            rows.append(
                [
                    name,
                    method,
                    f"{s['k_exact']:.1%}",
                    f"{s['k_abs_error']:.2f}",
                    f"{s['ari']:.3f}",
                    f"{s['nmi']:.3f}",
                ]
            )
    timing = ["Train → test", "Train rows", "Training (s)", "ms per set", "ms per 200"]
    times = [
        [
            names[config],
            str(r["train_rows"]),
            f"{r['train_seconds']:.0f}",
            f"{1000 * r['predict_seconds_per_set']:.1f}",
            f"{1000 * r['predict_seconds_per_200_rows']:.1f}",
        ]
        for config, r in results.items()
    ]
    commands = sorted({f"`{r['meta']['command']}`" for r in results.values()})
    return (
        f"Commands: {', '.join(commands)}  \n"
        f"Machine: {meta['machine']}, {meta['threads']} torch threads  \n"
        f"Date: {meta['date']}; {meta['n_sets']} test sets, seed {meta['seed']}\n\n"
        + format_markdown_table(header, rows)
        + "\n\n"
        + format_markdown_table(timing, times)
        + "\n"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["mnist", "usps_to_mnist"])
    parser.add_argument("--n-sets", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--train-sets", type=int, default=None, help="n_sets (default: the default)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--output-dir", default="benchmarks/results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        mnist_train = load_mnist(args.data_dir, subset="train")
        mnist_test = load_mnist(args.data_dir, subset="test")
    except FileNotFoundError as error:
        print(f"skipped: {error}")
        return 0
    test_keep = np.isin(mnist_test.target, list(UNSEEN))
    X_test, y_test = mnist_test.data[test_keep], mnist_test.target[test_keep]
    sets = draw_sets(y_test, args.n_sets, args.seed)
    results = {}
    if "mnist" in args.configs:
        # Sets of the training classes, from the test images, for comparison.
        seen_keep = np.isin(mnist_test.target, list(SEEN))
        X_seen, y_seen = mnist_test.data[seen_keep], mnist_test.target[seen_keep]
        seen = (X_seen, y_seen, draw_sets(y_seen, args.n_sets, args.seed, SEEN))
        results["mnist"] = run(
            "mnist",
            mnist_train.data,
            mnist_train.target,
            X_test,
            y_test,
            sets,
            args,
            seen=seen,
        )
    if "usps_to_mnist" in args.configs:
        try:
            usps = load_usps(args.data_dir, subset="train")
        except FileNotFoundError as error:
            print(f"usps_to_mnist skipped: {error}")
        else:
            results["usps_to_mnist"] = run(
                "usps_to_mnist",
                usps.data,
                usps.target,
                mnist_as_usps(X_test),
                y_test,
                sets,
                args,
            )
    meta = {
        "command": "python " + " ".join(sys.argv),
        "machine": machine_description(),
        "threads": args.threads,
        "date": datetime.date.today().isoformat(),
        "n_sets": args.n_sets,
        "seed": args.seed,
    }
    write_report(Path(args.output_dir), meta, results)
    return 0


def write_report(out, meta, results):
    """Add ``results`` to the JSON report (configurations run separately share
    it) and rewrite the markdown table from all of them."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "learned_clustering.json"
    report = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    for config, result in results.items():
        report["runs"][config] = {"meta": meta, **result}
    path.write_text(json.dumps(report, indent=2) + "\n")
    runs = report["runs"]
    table = markdown(runs, next(iter(runs.values()))["meta"]) if runs else ""
    (out / "learned_clustering.md").write_text(table)
    print(table)


if __name__ == "__main__":
    raise SystemExit(main())
