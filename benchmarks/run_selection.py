"""NeuralMixtureEM with several runs a fit: which run each selection rule keeps.

For every seed, one fit with the registry's settings for the dataset (plus any
``--param``) records, for each of its ``n_init`` training runs, the final
training loss, the run's agreement with the other runs (mean NMI of their
partitions of the check rows) and the run's accuracy on those rows (ACC of
the argmax of the batch-standardised posterior, before the inference
statistics are stored). The report gives the accuracy of the run that
``run_selection="loss"`` keeps, of the one ``"agreement"`` keeps, the mean
over runs and the best run.

Writes ``benchmarks/results/selection_<dataset>.md``.

    python benchmarks/run_selection.py --dataset usps --seeds 0 1 2 3 4 --threads 1
"""

import argparse
import datetime
import sys
from pathlib import Path

import numpy as np
import torch

import sknclust._neural_mixture as neural_mixture
from sknclust import NeuralMixtureEM
from sknclust._benchmark import format_markdown_table, load_dataset, machine_description
from sknclust._registry import _NEURAL_MIXTURE_PARAMS
from sknclust.cli import parse_param
from sknclust.metrics import clustering_accuracy

RESULTS = Path(__file__).parent / "results"


def _check_index(n_samples):
    """The rows NeuralMixtureEM checks: evenly spaced, at most its limit."""
    count = min(n_samples, neural_mixture._SPLIT_ROWS)
    return torch.linspace(0, n_samples - 1, count).round().long().numpy()


def inspect_fit(X, y, seed, params):
    """Per-run loss, agreement and ACC of one fit, and the runs each rule keeps."""
    captured = []
    select = neural_mixture._select_run

    def spy(runs, selection, verbose=0):
        captured.append(runs)
        return select(runs, selection, verbose)

    neural_mixture._select_run = spy
    try:
        NeuralMixtureEM(random_state=seed, **params).fit(X)
    finally:
        neural_mixture._select_run = select
    runs = captured[-1]
    y_check = y[_check_index(len(X))]
    rows = []
    for i, (history, _, labels) in enumerate(runs):
        others = [r[2] for j, r in enumerate(runs) if j != i]
        rows.append(
            {
                "run": i,
                "loss": history[-1]["train_loss"],
                "agreement": np.mean([neural_mixture.nmi(labels, o) for o in others]),
                "acc": clustering_accuracy(y_check, labels),
            }
        )
    kept = {rule: select(runs, rule) for rule in ("loss", "agreement")}
    return rows, kept


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    params = {
        "n_clusters": len(np.unique(data.y)),
        **_NEURAL_MIXTURE_PARAMS[args.dataset],
        **dict(parse_param(p) for p in args.param),
    }
    if params.get("n_init", 1) < 3:
        parser.error("the rules differ only with n_init of 3 or more")

    table, picks = [], {"loss": [], "agreement": [], "mean": [], "best": []}
    for seed in args.seeds:
        rows, kept = inspect_fit(data.X, data.y, seed, params)
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
    command = "python benchmarks/run_selection.py " + " ".join(sys.argv[1:])
    lines = [
        f"# NeuralMixtureEM run selection: {args.dataset}",
        "",
        f"- command: `{command.strip()}`",
        f"- machine: {machine_description()}",
        f"- seeds: {', '.join(map(str, args.seeds))}; date {datetime.date.today()}",
        f"- settings: {', '.join(f'`{k}={v}`' for k, v in params.items())}",
        "",
        "ACC is on the check rows (all rows up to 10,000, evenly spaced above), "
        "from the batch-standardised posterior at the end of each run.",
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
    output = args.output or RESULTS / f"selection_{args.dataset}.md"
    output.write_text("\n".join(lines) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
