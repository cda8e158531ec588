"""Overhead of the skorch-based training engine against a plain torch loop.

Trains the same autoencoder (784-500-500-2000-10, mirrored decoder) on the same
data with the same seed, once through ``sknclust._engine.run_phase`` and once
through a hand-written loop that slices batches from a tensor, interleaving the
two, and reports the median epoch time of each.

    python benchmarks/bench_engine.py --data-dir ../shared/data --repeats 3
"""

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from sknclust._data import TrainingSet, fit_scaling
from sknclust._engine import run_phase
from sknclust.nn import Autoencoder


def _loss(module, x, _):
    return ((x - module(x)[1]) ** 2).sum(1).mean()


def _plain_loop(module, training_set, epochs, lr):
    # foreach, as the engine uses: the same updates with less per-step overhead
    optimizer = torch.optim.Adam(module.parameters(), lr=lr, foreach=True)
    module.train()
    for _ in range(epochs):
        for x, index in training_set:
            optimizer.zero_grad()
            loss = _loss(module, x, index)
            loss.backward()
            optimizer.step()
            loss.item()  # the engine logs every batch loss; match its sync


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--n-samples", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default="benchmarks/results/engine.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from sknclust.datasets import load_mnist

    X, _ = load_mnist(args.data_dir, return_X_y=True)
    X = X[: args.n_samples]
    offset, scale = fit_scaling(X, "global")
    times = {"engine": [], "plain": []}
    for repeat in range(args.repeats):
        for variant in ("plain", "engine"):
            torch.manual_seed(repeat)
            module = Autoencoder(784, (500, 500, 2000), 10)
            data = TrainingSet(X, offset, scale, device="cpu", batch_size=256, seed=0)
            start = time.perf_counter()
            if variant == "plain":
                _plain_loop(module, data, args.epochs, 1e-3)
            else:
                run_phase(
                    "bench",
                    module,
                    _loss,
                    data,
                    epochs=args.epochs,
                    learning_rate=1e-3,
                    device="cpu",
                    lr_schedule="constant",
                    early_stopping=False,
                )
            times[variant].append((time.perf_counter() - start) / args.epochs)
            print(
                f"repeat {repeat} {variant}: {times[variant][-1]:.2f} s/epoch",
                flush=True,
            )
    plain, engine = np.median(times["plain"]), np.median(times["engine"])
    overhead = engine / plain - 1
    runs = {k: ", ".join(f"{t:.2f}" for t in v) for k, v in times.items()}
    lines = [
        "## Engine overhead",
        "",
        f"Command: `python {' '.join(sys.argv)}`  ",
        f"Machine: {platform.platform()}, {torch.get_num_threads()} torch thread(s), "
        f"torch {torch.__version__}, CPU  ",
        f"Data: first {len(X)} MNIST images, batch 256, Adam; "
        f"{args.repeats} interleaved repeats of {args.epochs} epoch(s); "
        f"date {datetime.date.today()}",
        "",
        "| loop | median s/epoch | runs |",
        "|---|---|---|",
        f"| plain torch | {plain:.3f} | {runs['plain']} |",
        f"| sknclust engine (skorch) | {engine:.3f} | {runs['engine']} |",
        "",
        f"Overhead: **{100 * overhead:+.1f}%** (target ≤ 5%).",
        "",
    ]
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
