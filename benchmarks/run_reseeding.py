"""NeuralMixtureEM on unbalanced blobs: what re-seeding in the warm-up costs.

During the warm-up (uniform mixing weights), a component holding under
``_STARVED_IN_WARMUP / K`` of the points is re-seeded by splitting the largest
one. A true cluster that small is re-seeded too. This script fits three 2-D
blobs, one large and two small, with the default settings and with the
warm-up re-seeding switched off (the bar set to 0; re-seeding after the
warm-up is unchanged), and reports the adjusted Rand index per seed.

Writes ``benchmarks/results/neural_mixture_reseeding_blobs.md``.

    python benchmarks/run_reseeding.py --seeds 0 1 2 --threads 1
"""

import argparse
import datetime
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

import sknclust._neural_mixture as nm
from sknclust import NeuralMixtureEM
from sknclust._benchmark import format_markdown_table, machine_description

RESULTS = Path(__file__).parent / "results"
CENTERS = [(-6, -4), (6, -4), (0, 6)]
SIZES = [(200, 200, 200), (400, 100, 100), (420, 90, 90), (450, 75, 75), (480, 60, 60)]
SETTINGS = dict(hidden_dims=(32,), batch_size=300, max_epochs=30, device="cpu")


def ari(X, y, seed, bar):
    default = nm._STARVED_IN_WARMUP
    nm._STARVED_IN_WARMUP = bar
    try:
        est = NeuralMixtureEM(n_clusters=3, random_state=seed, **SETTINGS).fit(X)
    finally:
        nm._STARVED_IN_WARMUP = default
    return adjusted_rand_score(y, est.labels_)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    default = nm._STARVED_IN_WARMUP
    rows = []
    for sizes in SIZES:
        X, y = make_blobs(n_samples=list(sizes), centers=CENTERS, random_state=0)
        small = min(sizes) / sum(sizes) * 3
        for bar, name in [(default, f"default ({default}/K)"), (0.0, "off")]:
            scores = [ari(X, y, seed, bar) for seed in args.seeds]
            rows.append(
                [
                    "/".join(map(str, sizes)),
                    f"{small:.2f}/K",
                    name,
                    " ".join(f"{s:.2f}" for s in scores),
                    f"{np.mean(scores):.2f}",
                ]
            )
            print(*rows[-1], sep=" | ", flush=True)
    command = "python benchmarks/run_reseeding.py " + " ".join(sys.argv[1:])
    table = format_markdown_table(
        ["blob sizes", "smallest blob", "warm-up re-seeding", "ARI per seed", "mean"],
        rows,
    )
    text = f"""# NeuralMixtureEM: warm-up re-seeding on unbalanced blobs

- data: three 2-D Gaussian blobs (`make_blobs`, centres {CENTERS}, data seed 0)
- estimator: `NeuralMixtureEM(n_clusters=3, hidden_dims=(32,), batch_size=300,
  max_epochs=30)`, the defaults otherwise (learned weights after a warm-up
  of 15 epochs with uniform ones)
- seeds: {", ".join(map(str, args.seeds))}
- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
- machine: {machine_description()}
- command: `{command}`

"Smallest blob" is its share of the points in units of 1/K. "off" sets the
warm-up bar to 0, so only the re-seeding after the warm-up (bar
{nm._STARVED}/K) runs.

{table}
"""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "neural_mixture_reseeding_blobs.md").write_text(text)


if __name__ == "__main__":
    main()
