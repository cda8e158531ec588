"""How often the neighbours of ``views="neighbors"`` share their row's class.

For each seed, scales the rows as the estimators do (``--scaler``, by default
``"global"``, the registry's choice for images), finds every row's nearest
neighbours in both search spaces of ``neighbor_space`` (the leading principal
components, and the embedding of the autoencoder that
``neighbor_space="autoencoder"`` trains) with the package's own functions,
and reports the share of the k nearest rows that have the row's label, and
the class pairs that most neighbour edges cross between.

Writes ``benchmarks/results/neighbor_purity_<dataset>.md``.

    python benchmarks/neighbor_purity.py --dataset mnist --seeds 0 --threads 2
"""

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from sknclust._base import _private_torch_rng
from sknclust._benchmark import (
    format_markdown_table,
    load_dataset,
    script_report_header,
)
from sknclust._data import SCALERS, TrainingSet, fit_scaling
from sknclust._neighbors import autoencoder_embedding, nearest_neighbors

RESULTS = Path(__file__).parent / "results"


def purity(y, neighbors, k):
    """Share of the ``k`` nearest neighbours of each row that have its label."""
    return float((y[neighbors[:, :k]] == y[:, None]).mean())


def crossing_pairs(y, neighbors, k, top=3):
    """The class pairs most of the ``k``-neighbour edges cross between.

    Returns ``[(a, b, share)]``: the share of all edges joining a row of
    class ``a`` to one of class ``b`` or the other way round.
    """
    a = np.repeat(y, k)
    b = y[neighbors[:, :k]].ravel()
    crossing = a != b
    pairs = Counter(
        zip(np.minimum(a, b)[crossing], np.maximum(a, b)[crossing], strict=True)
    )
    return [(i, j, n / a.size) for (i, j), n in pairs.most_common(top)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--n-neighbors", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--scaler", default="global", choices=SCALERS[1:])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, args.data_dir)
    if data.y is None:
        parser.error(f"{args.dataset} has no labels to measure purity against")
    X, y = data.X, np.asarray(data.y)
    offset, scale = fit_scaling(X, args.scaler)
    k_max = max(args.n_neighbors)

    rows = []
    for seed in args.seeds:
        training_set = TrainingSet(
            X, offset, scale, device="cpu", batch_size=args.batch_size, seed=seed
        )
        with _private_torch_rng(seed, torch.device("cpu")):
            spaces = {"pca": nearest_neighbors(training_set, k_max)}
            embedding, history = autoencoder_embedding(training_set)
            spaces["autoencoder"] = nearest_neighbors(training_set, k_max, embedding)
        print(f"seed {seed}: autoencoder loss {history[-1]['train_loss']:.4f}")
        for space, neighbors in spaces.items():
            neighbors = neighbors.cpu().numpy()
            pairs = crossing_pairs(y, neighbors, k_max)
            rows.append(
                [
                    str(seed),
                    space,
                    *(f"{purity(y, neighbors, k):.4f}" for k in args.n_neighbors),
                    ", ".join(f"{i}-{j}: {share:.2%}" for i, j, share in pairs),
                ]
            )
            print(*rows[-1], flush=True)

    lines = [
        *script_report_header(
            f"Neighbour purity: {data.describe()}",
            "neighbor_purity.py",
            sys.argv[1:],
            args.seeds,
        ),
        f"- scaler: `{args.scaler}`; autoencoder batch size {args.batch_size}",
        "",
        "Purity at k: the share of each row's k nearest other rows that have "
        "its label, over all rows. Crossing pairs: the three class pairs "
        f"joined by the most of the {k_max}-neighbour edges, as shares of "
        "all edges.",
        "",
        format_markdown_table(
            [
                "seed",
                "neighbor_space",
                *(f"purity at {k}" for k in args.n_neighbors),
                f"crossing pairs at {k_max}",
            ],
            rows,
        ),
    ]
    output = args.output or RESULTS / f"neighbor_purity_{args.dataset}.md"
    output.write_text("\n".join(lines) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
