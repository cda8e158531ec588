"""Several runs a fit: which run each selection rule keeps.

For every seed, one fit of the estimator with the registry's settings for the
dataset (plus any ``--param``) records, for each of its ``n_init`` training
runs, the final training loss, the run's agreement with the other runs (mean
NMI of their partitions of the check rows) and the run's accuracy on those
rows (ACC of the partition the agreement is measured on: for
NeuralMixtureEM, the batch-standardised posterior before the inference
statistics are stored; for GMVAEClustering, the argmax of q(y|x)). The
report gives the accuracy of the run that ``run_selection="loss"`` keeps, of
the one ``"agreement"`` keeps, the mean over runs and the best run.

Writes ``benchmarks/results/selection_<dataset>.md`` (NeuralMixtureEM) or
``selection_gmvae_<dataset>.md`` (GMVAEClustering).

    python benchmarks/run_selection.py --dataset usps --seeds 0 1 2 3 4 --threads 1
    python benchmarks/run_selection.py --estimator GMVAEClustering --dataset digits \
        --param n_init=5 --seeds 0 1 2 3 4 --threads 1
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

import sknclust._runs as runs_module
from sknclust import GMVAEClustering, NeuralMixtureEM
from sknclust._benchmark import (
    format_markdown_table,
    load_dataset,
    script_report_header,
)
from sknclust._registry import _GMVAE_PARAMS, _NEURAL_MIXTURE_PARAMS
from sknclust.cli import parse_param
from sknclust.metrics import clustering_accuracy

RESULTS = Path(__file__).parent / "results"
# Estimator, registry settings, report stem, and what its check partition is.
ESTIMATORS = {
    "NeuralMixtureEM": (
        NeuralMixtureEM,
        _NEURAL_MIXTURE_PARAMS,
        "selection",
        "the batch-standardised posterior",
    ),
    "GMVAEClustering": (
        GMVAEClustering,
        _GMVAE_PARAMS,
        "selection_gmvae",
        "the argmax of q(y|x)",
    ),
}


def inspect_fit(estimator, X, y, seed, params):
    """Per-run loss, agreement and ACC of one fit, and the runs each rule keeps."""
    captured = []
    select = runs_module.select_run

    def spy(losses, partitions, selection, verbose=0):
        captured.append((losses, partitions))
        return select(losses, partitions, selection, verbose)

    runs_module.select_run = spy
    try:
        estimator(random_state=seed, **params).fit(X)
    finally:
        runs_module.select_run = select
    losses, partitions = captured[-1]
    y_check = y[runs_module.check_index(len(X)).numpy()]
    agreement = runs_module.agreements(partitions)
    rows = [
        {
            "run": i,
            "loss": losses[i],
            "agreement": agreement[i],
            "acc": clustering_accuracy(y_check, labels),
        }
        for i, labels in enumerate(partitions)
    ]
    kept = {rule: select(losses, partitions, rule) for rule in ("loss", "agreement")}
    return rows, kept


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--estimator", default="NeuralMixtureEM", choices=ESTIMATORS)
    parser.add_argument(
        "--dataset", default="usps", choices=["digits", "usps", "mnist"]
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, args.data_dir)
    estimator, registry, stem, partition = ESTIMATORS[args.estimator]
    params = {
        "n_clusters": len(np.unique(data.y)),
        **registry[args.dataset],
        **dict(parse_param(p) for p in args.param),
    }
    if params.get("n_init", 1) < 3:
        parser.error("the rules differ only with n_init of 3 or more")

    table, picks = [], {"loss": [], "agreement": [], "mean": [], "best": []}
    for seed in args.seeds:
        rows, kept = inspect_fit(estimator, data.X, data.y, seed, params)
        accs = [r["acc"] for r in rows]
        for rule in ("loss", "agreement"):
            picks[rule].append(accs[kept[rule]])
        picks["mean"].append(np.mean(accs))
        picks["best"].append(max(accs))
        for r in rows:
            marks = [rule for rule in ("loss", "agreement") if kept[rule] == r["run"]]
            table.append(
                [
                    str(seed),
                    str(r["run"]),
                    f"{r['loss']:.4f}",
                    f"{r['agreement']:.3f}",
                    f"{r['acc']:.3f}",
                    ", ".join(marks),
                ]
            )
            print(*table[-1], flush=True)

    summary = [
        [what, f"{np.mean(v):.3f} ± {np.std(v):.3f}", ", ".join(f"{a:.3f}" for a in v)]
        for what, v in (
            ('run kept by `run_selection="loss"`', picks["loss"]),
            ('run kept by `run_selection="agreement"`', picks["agreement"]),
            ("mean over runs", picks["mean"]),
            ("best run", picks["best"]),
        )
    ]
    lines = [
        *script_report_header(
            f"{args.estimator} run selection: {args.dataset}",
            "run_selection.py",
            sys.argv[1:],
            args.seeds,
        ),
        f"- settings: {', '.join(f'`{k}={v}`' for k, v in params.items())}",
        "",
        "ACC is on the check rows (all rows up to 10,000, evenly spaced above), "
        f"from {partition} at the end of each run.",
        "",
        format_markdown_table(["ACC of", "mean ± std over seeds", "per seed"], summary),
        "",
        "## Per run",
        "",
        format_markdown_table(
            ["seed", "run", "final loss", "agreement (mean NMI)", "ACC", "kept by"],
            table,
        ),
    ]
    output = args.output or RESULTS / f"{stem}_{args.dataset}.md"
    output.write_text("\n".join(lines) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
