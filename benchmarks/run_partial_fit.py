"""partial_fit on MNIST as a stream: accuracy against fit, and memory.

Streams all 70,000 MNIST images (``image_shape=(1, 28, 28)``, defaults
otherwise) in 10 shuffled chunks of 7,000, two passes of ``partial_fit``, and
compares the accuracy on all rows with that of ``fit`` on all rows (read from
``benchmarks/results/mnist_images.json``, the same defaults and seed). Peak
resident memory is measured in fresh processes: ``partial_fit`` over one
chunk, and over all ten, with one epoch a chunk (memory depends on the chunk,
not on how long it trains). Writes ``benchmarks/results/partial_fit.json``
after each estimator.

    python benchmarks/run_partial_fit.py --data-dir ../shared/data --threads 2
    python benchmarks/run_partial_fit.py --estimators GMVAEClustering \
        --memory-estimators --replace
"""

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

CHUNKS, PASSES = 10, 2
ESTIMATORS = ["DeepKMeans", "NeuralMixtureEM", "GMVAEClustering"]


def _load(data_dir):
    from sknclust.datasets import load_mnist

    X, y = load_mnist(data_dir, return_X_y=True)
    return X, y


def _stream(name, X, seed, n_chunks, passes, **params):
    import sknclust

    est = getattr(sknclust, name)(
        n_clusters=10, image_shape=(1, 28, 28), random_state=seed, **params
    )
    order = np.random.RandomState(seed).permutation(len(X))
    chunks = np.array_split(order, CHUNKS)[:n_chunks]
    for _ in range(passes):
        for chunk in chunks:
            est.partial_fit(X[chunk])
    return est


def _memory_child(args):
    """In a fresh process: peak RSS of partial_fit over the first n chunks."""
    import torch

    torch.set_num_threads(args.threads)
    X, _ = _load(args.data_dir)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    one_epoch = {"max_epochs": 1}
    if args.estimator == "DeepKMeans":
        one_epoch["pretrain_epochs"] = 1
    _stream(args.estimator, X, args.seed, args.memory_chunks, passes=1, **one_epoch)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_mib": peak / 1024, "data_loaded_mib": before / 1024}))


def _memory(args, name, n_chunks):
    command = [sys.executable, __file__, "--memory-child", "--estimator", name]
    command += ["--memory-chunks", str(n_chunks), "--seed", str(args.seed)]
    command += ["--threads", str(args.threads), "--data-dir", str(args.data_dir)]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--estimators", nargs="*", default=ESTIMATORS)
    parser.add_argument("--memory-estimators", nargs="*", default=["NeuralMixtureEM"])
    parser.add_argument("--output", default="benchmarks/results/partial_fit.json")
    parser.add_argument(
        "--replace",
        action="store_true",
        help="rerun only --estimators and --memory-estimators; keep the other rows",
    )
    parser.add_argument("--memory-child", action="store_true")
    parser.add_argument("--estimator")
    parser.add_argument("--memory-chunks", type=int)
    args = parser.parse_args(argv)
    if args.memory_child:
        return _memory_child(args)

    import torch
    from run_defaults import seed_accuracies  # a sibling script: same directory

    from sknclust.metrics import clustering_accuracy

    torch.set_num_threads(args.threads)
    fitted = json.loads(Path("benchmarks/results/mnist_images.json").read_text())
    fit_acc = seed_accuracies(fitted, args.seed)
    X, y = _load(args.data_dir)
    rows, memory = [], []
    report = {
        "dataset": "mnist",
        "chunks": CHUNKS,
        "chunk_size": len(X) // CHUNKS,
        "passes": PASSES,
        "seed": args.seed,
        "date": date.today().isoformat(),
        "machine": f"{platform.platform()}, torch {torch.__version__} with "
        f"{args.threads} thread(s)",
        "command": "python benchmarks/run_partial_fit.py "
        + " ".join(argv or sys.argv[1:]),
        "results": rows,
        "memory": memory,
    }
    output = Path(args.output)
    if args.replace and output.exists():
        _keep_other_rows(report, json.loads(output.read_text()), args, fit_acc)
    for name in args.memory_estimators:
        one, ten = _memory(args, name, 1), _memory(args, name, CHUNKS)
        memory.append(
            {
                "estimator": name,
                "peak_mib_1_chunk": round(one["peak_mib"], 1),
                "peak_mib_10_chunks": round(ten["peak_mib"], 1),
                "data_loaded_mib": round(one["data_loaded_mib"], 1),
                "ratio": round(ten["peak_mib"] / one["peak_mib"], 3),
                # Above what loading the data and the libraries took.
                "training_mib_1_chunk": round(
                    one["peak_mib"] - one["data_loaded_mib"], 1
                ),
                "training_mib_10_chunks": round(
                    ten["peak_mib"] - ten["data_loaded_mib"], 1
                ),
            }
        )
        print(memory[-1], flush=True)
        output.write_text(json.dumps(report, indent=2) + "\n")
    for name in args.estimators:
        start = time.perf_counter()
        est = _stream(name, X, args.seed, CHUNKS, PASSES)
        seconds = time.perf_counter() - start
        acc = clustering_accuracy(y, est.predict(X))
        rows.append(
            {
                "estimator": name,
                "partial_fit_ACC": round(float(acc), 5),
                "fit_ACC": fit_acc.get(name),
                "partial_fit_seconds": round(seconds, 1),
            }
        )
        print(rows[-1], flush=True)
        output.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def memory_label(estimator):
    """How ``"earlier"`` names an estimator's memory row."""
    return f"{estimator} (memory)"


def _keep_other_rows(report, old, args, fit_acc):
    """Carry over ``old``'s rows of the estimators not rerun, with ``fit_ACC``
    read afresh, and list the runs they came from under ``"earlier"``.

    A run may rerun an estimator's accuracy and not its memory, or the other
    way round, so the runs name memory rows apart: ``"Name (memory)"``.
    """
    # Here, not at the top: the memory children need not load the CLI.
    from run_defaults import earlier_runs  # a sibling script: same directory

    kept = []
    for row in old["results"]:
        if row["estimator"] not in args.estimators:
            report["results"].append({**row, "fit_ACC": fit_acc.get(row["estimator"])})
            kept.append(row["estimator"])
    for row in old.get("memory", []):
        if row["estimator"] not in args.memory_estimators:
            report["memory"].append(row)
            kept.append(memory_label(row["estimator"]))
    report["earlier"] = earlier_runs(old, kept, ("command", "machine", "date"))


if __name__ == "__main__":
    raise SystemExit(main())
