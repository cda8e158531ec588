"""OnlineKMeans against MiniBatchKMeans on drifting and stationary MNIST streams.

The drifting stream has 7 windows of 5,000 MNIST images (pixels scaled to
[0, 1]), 1,000 from each of 5 classes; from one window to the next two classes
leave and two arrive (the ten digits in a seeded cyclic order). The stationary
stream holds the same 35,000 images in one random order. Both arrive in chunks
of 500. Every model has 5 centroids and is scored on each chunk *before* that
chunk updates it: the mean squared distance of the chunk's points to their
nearest centroid, averaged over all chunks but the first.

- ``OnlineKMeans`` (its defaults, and a sweep of ``decay`` for both
  ``forgetting`` modes): ``partial_fit`` on each chunk.
- ``MiniBatchKMeans(n_clusters=5)``: ``partial_fit`` on the same chunks.
- ``KMeans`` refitted on each window of 5,000 and scored on that window's
  chunks: a model that knows the window in advance, the floor.

"Gap closed" is ``(MiniBatchKMeans - OnlineKMeans) / (MiniBatchKMeans -
KMeans)`` on the drifting stream; the stationary ratio is ``OnlineKMeans /
MiniBatchKMeans``. Writes ``benchmarks/results/stream.json``.

    python benchmarks/run_stream.py --data-dir ../shared/data --seeds 0 1 2 3 4
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans

from sknclust import OnlineKMeans, __version__
from sknclust.datasets import load_mnist

N_WINDOWS, WINDOW, PER_WINDOW_CLASSES, CHUNK, N_CLUSTERS = 7, 5000, 5, 500, 5
# decay values swept for each forgetting mode (the default is measured too)
SWEEP = {
    "exponential": [0.0, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02],
    "linear": [0.02, 0.05, 0.1, 0.15, 0.2, 1.0],
}


def drifting_stream(X, y, seed):
    """Rows of the drifting stream, in order, and each row's window."""
    rng = np.random.default_rng(seed)
    digits = rng.permutation(10)
    pools = {d: list(rng.permutation(np.flatnonzero(y == d))) for d in range(10)}
    per_class = WINDOW // PER_WINDOW_CLASSES
    rows, windows = [], []
    for w in range(N_WINDOWS):
        classes = digits[(2 * w + np.arange(PER_WINDOW_CLASSES)) % 10]
        index = np.concatenate(
            [[pools[d].pop() for _ in range(per_class)] for d in classes]
        )
        rows.append(rng.permutation(index))
        windows.append(np.full(WINDOW, w))
    return X[np.concatenate(rows)], np.concatenate(windows)


def chunks(n):
    return [slice(s, s + CHUNK) for s in range(0, n, CHUNK)]


def prequential(model, stream):
    """Mean over chunks 2.. of the pre-update mean squared distance."""
    errors = []
    for i, part in enumerate(chunks(len(stream))):
        chunk = stream[part]
        if i:
            errors.append(-model.score(chunk) / len(chunk))
        model.partial_fit(chunk)
    return float(np.mean(errors)), model


def refitted_kmeans(stream, windows, seed):
    """KMeans fitted on each window, scored on that window's chunks (2..)."""
    errors = []
    for w in np.unique(windows):
        rows = stream[windows == w]
        km = KMeans(N_CLUSTERS, n_init=3, random_state=seed).fit(rows)
        start = np.flatnonzero(windows == w)[0]
        for part in chunks(len(rows)):
            if start + part.start:
                errors.append(-km.score(rows[part]) / len(rows[part]))
    return float(np.mean(errors))


def run_seed(X, y, seed, sweep):
    drift, windows = drifting_stream(X, y, seed)
    stationary = drift[np.random.default_rng(seed + 1000).permutation(len(drift))]
    result = {}
    for name, stream in (("drifting", drift), ("stationary", stationary)):
        t0 = time.perf_counter()
        online, _ = prequential(OnlineKMeans(N_CLUSTERS, random_state=seed), stream)
        seconds = time.perf_counter() - t0
        minibatch, _ = prequential(
            MiniBatchKMeans(N_CLUSTERS, random_state=seed, n_init=3), stream
        )
        swept = {
            f"{mode} {d}": prequential(
                OnlineKMeans(N_CLUSTERS, decay=d, forgetting=mode, random_state=seed),
                stream,
            )[0]
            for mode, decays in sweep.items()
            for d in decays
        }
        result[name] = {
            "OnlineKMeans": online,
            "MiniBatchKMeans": minibatch,
            "KMeans_per_window": refitted_kmeans(stream, windows, seed),
            "OnlineKMeans_seconds": seconds,
            "decay_sweep": swept,
        }
    return result


def gap_closed(r, online):
    return (r["MiniBatchKMeans"] - online) / (
        r["MiniBatchKMeans"] - r["KMeans_per_window"]
    )


def summarise(per_seed):
    seeds = list(per_seed)
    out = {}
    for key, stream in (("gap_closed", "drifting"), ("ratio", "stationary")):
        swept = per_seed[seeds[0]]["drifting"]["decay_sweep"]
        for label, pick in [("defaults", lambda r: r["OnlineKMeans"])] + [
            (name, lambda r, name=name: r["decay_sweep"][name]) for name in swept
        ]:
            values = []
            for s in seeds:
                r = per_seed[s][stream]
                if key == "gap_closed":
                    values.append(gap_closed(r, pick(r)))
                else:
                    values.append(pick(r) / r["MiniBatchKMeans"])
            out.setdefault(label, {})[key] = {
                "mean": float(np.mean(values)),
                "min": float(np.min(values)),
                "max": float(np.max(values)),
            }
    for stream in ("drifting", "stationary"):
        for method in ("OnlineKMeans", "MiniBatchKMeans", "KMeans_per_window"):
            values = [per_seed[s][stream][method] for s in seeds]
            out.setdefault("mse", {}).setdefault(stream, {})[method] = {
                "mean": float(np.mean(values)),
                "std": float(np.std(values)),
            }
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--no-sweep", action="store_true", help="measure the defaults only"
    )
    parser.add_argument("--output", default="benchmarks/results/stream.json")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or os.environ.get("SKNCLUST_DATA") or "../shared/data"
    try:
        X, y = load_mnist(data_dir, return_X_y=True)
    except FileNotFoundError as error:
        print(f"skipped: {error}", file=sys.stderr)
        return 0
    X = X.astype(np.float64) / 255.0
    t0 = time.perf_counter()
    per_seed = {}
    for seed in args.seeds:
        per_seed[seed] = run_seed(X, y, seed, {} if args.no_sweep else SWEEP)
        print(f"seed {seed}: {json.dumps(per_seed[seed])}", flush=True)
    summary = summarise(per_seed)
    report = {
        "command": "python benchmarks/run_stream.py " + " ".join(argv or sys.argv[1:]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "sknclust": __version__,
        "python": platform.python_version(),
        "stream": {
            "windows": N_WINDOWS,
            "window_size": WINDOW,
            "classes_per_window": PER_WINDOW_CLASSES,
            "classes_replaced_per_window": 2,
            "chunk_size": CHUNK,
            "n_clusters": N_CLUSTERS,
        },
        "defaults": OnlineKMeans().get_params(),
        "seeds": args.seeds,
        "seconds": time.perf_counter() - t0,
        "summary": summary,
        "per_seed": per_seed,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
