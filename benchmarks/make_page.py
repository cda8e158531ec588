"""Build ``docs/benchmarks.md`` (and the README's headline table) from the
JSON results of ``run_defaults.py`` (and its one-thread rerun in
``threads1/``), ``run_gmvae_mnist.py``, ``run_partial_fit.py`` and
``run_dask.py``, and its "Peer library" section from those of
``run_peers.py`` (``peers_<dataset>.json``).

One table per configuration: each estimator with its defaults, ACC mean ± std
with its minimum and maximum over the seeds, NMI, fit time and the smallest
cluster's share. The machine, command and date are stated once per page (they
are the same for every file written by one ``run_defaults.py`` session; where
they differ, the table says so).

    python benchmarks/make_page.py
"""

import argparse
import json
import re
import statistics
from pathlib import Path

from run_defaults import CONFIGS, ESTIMATORS, seed_accuracies  # a sibling script

from sknclust._benchmark import format_markdown_table

PEERS = "peers_"
# Reports of run_defaults.py rerun with one torch thread (--output-dir).
THREADS1 = "threads1"
PEER_TITLES = {"digits": "digits, flat rows", "usps": "USPS, flat rows"}


def _title(name) -> str:
    """A configuration's table title (its name where run_defaults.py has none)."""
    return CONFIGS[name].title if name in CONFIGS else name


def _by_estimator(report) -> dict:
    """The report's rows grouped by estimator, in the order they first appear."""
    by_name = {}
    for r in report["results"]:
        by_name.setdefault(r["estimator"], []).append(r)
    return by_name


def _ordered(names):
    """``names`` with run_defaults.py's estimators first, in its order (the
    order a ``--replace`` rerun leaves in a report is not)."""
    known = [n for n in ESTIMATORS if n in names]
    return known + [n for n in names if n not in ESTIMATORS]


def _in_estimator_order(rows):
    """Result rows sorted as :func:`_ordered` sorts their estimators."""
    order = _ordered(list(dict.fromkeys(r["estimator"] for r in rows)))
    return sorted(rows, key=lambda r: order.index(r["estimator"]))


def _table(report):
    rows = []
    by_name = _by_estimator(report)
    for name in _ordered(list(by_name)):
        runs = by_name[name]
        acc = [r["ACC"] for r in runs]
        nmi = [r["NMI"] for r in runs]
        fit = [r["fit_seconds"] for r in runs]
        std = statistics.pstdev(acc)
        rows.append(
            [
                name,
                f"{statistics.mean(acc):.3f} ± {std:.3f}",
                f"{min(acc):.3f}",
                f"{max(acc):.3f}",
                f"{statistics.mean(nmi):.3f}",
                f"{statistics.mean(fit):.1f}",
                f"{min(r['smallest_cluster'] for r in runs):.1%}",
                ", ".join(str(r["seed"]) for r in runs),
            ]
        )
    header = ["estimator", "ACC", "min", "max", "NMI", "fit [s]", "smallest cluster"]
    header.append("seeds")
    return format_markdown_table(header, rows)


def _defaults_reports(results_dir: Path) -> dict:
    """The reports written by ``run_defaults.py`` (one per configuration)."""
    return {
        name: report
        for name, report in _reports(results_dir).items()
        if "seeds" in report
        and "smallest_cluster" in (report.get("results") or [{}])[0]
    }


def _report(results_dir: Path, name: str):
    """The report ``<name>.json`` of a single benchmark, or None before it ran."""
    path = results_dir / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _partial_fit_section(results_dir: Path) -> list:
    """The streaming benchmark of ``run_partial_fit.py``, when it has run."""
    report = _report(results_dir, "partial_fit")
    if report is None:
        return []
    # fit's accuracy as the MNIST table shows it now: that table may have
    # been rerun since the stream was.
    fitted = _report(results_dir, "mnist_images") or {"results": []}
    fit_acc = seed_accuracies(fitted, report["seed"])
    rows = []
    for r in _in_estimator_order(report["results"]):
        fit = fit_acc.get(r["estimator"], r["fit_ACC"])
        rows.append(
            [
                r["estimator"],
                f"{r['partial_fit_ACC']:.3f}",
                "" if fit is None else f"{fit:.3f}",
                f"{r['partial_fit_seconds']:.0f}",
            ]
        )
    lines = [
        "**MNIST as a stream (`partial_fit`)**",
        "",
        f"The 70,000 images in {report['chunks']} shuffled chunks of "
        f"{report['chunk_size']:,}, {report['passes']} passes of `partial_fit`, "
        f"defaults with `image_shape=(1, 28, 28)`, seed {report['seed']}; "
        "`fit` is the same estimator fitted on all rows at once (the MNIST "
        "table above). Command: `" + report["command"] + "`; "
        f"{report['machine']}; {report['date']}.",
        *_earlier_runs(report),
        "",
        format_markdown_table(
            ["estimator", "ACC, partial_fit", "ACC, fit", "partial_fit [s]"], rows
        ),
        "",
    ]
    if report.get("memory"):
        memory = [
            [
                m["estimator"],
                f"{m['peak_mib_1_chunk']:.0f}",
                f"{m['peak_mib_10_chunks']:.0f}",
                f"{m['ratio']:.2f}",
                f"{m['training_mib_1_chunk']:.0f}",
                f"{m['training_mib_10_chunks']:.0f}",
            ]
            for m in _in_estimator_order(report["memory"])
        ]
        header = ["estimator", "peak, 1 chunk [MiB]", "peak, 10 chunks [MiB]"]
        header += ["ratio", "above data, 1 chunk", "above data, 10 chunks"]
        lines += [
            "Peak resident memory of a process that loads MNIST and runs "
            "`partial_fit` over one chunk or over ten (one epoch a chunk); "
            "'above data' subtracts what the process held after loading the "
            "data and libraries.",
            "",
            format_markdown_table(header, memory),
            "",
        ]
    return lines


def _earlier_runs(report: dict) -> list:
    """One line for each earlier run whose rows a report kept."""
    # run_defaults.py records no machine for an earlier run: say none rather
    # than lend it the report's own.
    return [
        f"Rows of {', '.join(run['estimators'])} from an earlier run: "
        f"`{run['command']}`; "
        + (f"{run['machine']}; " if "machine" in run else "")
        + f"{run['date']}."
        for run in report.get("earlier", [])
    ]


def _row_machines(report: dict) -> dict:
    """The machine of each estimator's rows in a report, None where unrecorded."""
    machines = {r["estimator"]: report.get("machine") for r in report["results"]}
    for run in report.get("earlier", []):
        for estimator in run["estimators"]:
            machines[estimator] = run.get("machine")
    return machines


def _run_dates(report: dict) -> set:
    """The dates of a report's own run and of the earlier runs it keeps rows of."""
    return {run["date"] for run in [report, *report.get("earlier", [])]}


def _machine_lines(report: dict, page_machines: int = 1) -> list:
    """Which estimators ran on which machine, when a table mixes machines;
    the table's one machine and date when the page has several."""
    by_machine = {}
    for estimator, machine in _row_machines(report).items():
        by_machine.setdefault(machine, []).append(estimator)
    if len(by_machine) < 2:
        if page_machines < 2:
            return []
        (machine,) = by_machine
        dates = ", ".join(sorted(_run_dates(report)))
        return [f"Machine: {machine or 'not recorded'}; {dates}."]
    return [
        f"Rows of {', '.join(_ordered(estimators))}: "
        + (machine or "machine not recorded")
        + "."
        for machine, estimators in by_machine.items()
    ]


def _cpu(machine: str) -> str:
    """A machine description without its torch thread count."""
    return re.sub(r" with \d+ thread\(s\)", "", machine)


def _threads_section(results_dir: Path) -> list:
    """The same seeds at one thread beside the two-thread table, when run.

    Rows measured on two different machines are left out: the CPU's kernels
    move a fit as a thread count does, so the gap would mix the two.
    """
    lines = []
    for name, one in _defaults_reports(results_dir / THREADS1).items():
        two = _report(results_dir, name)
        if two is None:
            continue
        acc = {(r["estimator"], r["seed"]): r["ACC"] for r in two["results"]}
        machines_one, machines_two = _row_machines(one), _row_machines(two)
        rows, elsewhere = [], []
        by_name = _by_estimator(one)
        for estimator in _ordered(list(by_name)):
            pairs = [
                (acc[estimator, r["seed"]], r["ACC"])
                for r in by_name[estimator]
                if (estimator, r["seed"]) in acc
            ]
            if not pairs:
                continue
            machine_one = machines_one[estimator]
            machine_two = machines_two.get(estimator)
            if machine_one and machine_two and _cpu(machine_one) != _cpu(machine_two):
                elsewhere.append(estimator)
                continue
            rows.append(
                [
                    estimator,
                    ", ".join(f"{a:.3f}" for a, _ in pairs),
                    ", ".join(f"{b:.3f}" for _, b in pairs),
                    f"{max(abs(a - b) for a, b in pairs):.3f}",
                ]
            )
        header = ["estimator", "ACC, 2 threads", "ACC, 1 thread", "largest gap"]
        seeds = ", ".join(map(str, one["seeds"]))
        lines += [
            f"**Thread count: {_title(name)}**",
            "",
            "The same fits (seeds "
            f"{seeds}) with one torch thread instead of two. On a CPU, a "
            "thread count changes the order of floating-point sums, so a fit "
            "is reproducible for a given seed and thread count; this table "
            "shows how far the outcome moves between thread counts. Command: "
            f"`{one['command']}`; {one['machine']}; {one['date']}.",
            *_earlier_runs(one),
            *(
                [
                    f"Not compared: {', '.join(elsewhere)}, whose one-thread "
                    "and two-thread rows come from different machines."
                ]
                if elsewhere
                else []
            ),
            "",
            format_markdown_table(header, rows),
            "",
        ]
    return lines


def _gmvae_mnist_section(results_dir: Path) -> list:
    """The embedding, generation and few-label figures of ``run_gmvae_mnist.py``."""
    report = _report(results_dir, "gmvae_mnist")
    if report is None:
        return []
    lines = ["**GMVAEClustering on MNIST: embedding, generation, 100 labels**", ""]
    if "unsupervised" in report:
        task = report["unsupervised"]
        rows = [
            [
                str(r["seed"]),
                f"{r['acc']:.3f}",
                f"{100 * r['knn_error']:.2f}%",
                f"{100 * r['generation']:.1f}%",
                f"{r['min_share']:.1%}",
                f"{r['seconds']:.0f}",
            ]
            for r in task["runs"]
        ]
        header = ["seed", "ACC", "5-NN error of transform", "generation"]
        header += ["smallest cluster", "fit [s]"]
        lines += [
            "Fitted with its defaults on all 70,000 images. 5-NN error: a "
            "5-nearest-neighbour classifier on `transform` of the 60,000 "
            "training images, scored on the 10,000 test images. Generation: "
            "the share of `sample(cluster=c)` draws (500 per cluster) that a "
            "5-nearest-neighbour classifier on real training images assigns "
            "to the class matched to cluster c. Command: "
            f"`{task['command']}`; {task['machine']}; {task['date']}.",
            "",
            format_markdown_table(header, rows),
            "",
        ]
    if "semi" in report:
        task = report["semi"]
        rows = [
            [str(r["seed"]), f"{r['test_accuracy']:.3f}", f"{r['seconds']:.0f}"]
            for r in task["runs"]
        ]
        lines += [
            "Semi-supervised: `fit(X, y)` on the 60,000 training images with "
            "10 labels per class (the other entries of `y` are -1), accuracy "
            "of `predict` on the 10,000 test images. Command: "
            f"`{task['command']}`; {task['machine']}; {task['date']}.",
            "",
            format_markdown_table(["seed", "test accuracy", "fit [s]"], rows),
            "",
        ]
    return lines


def _dask_section(results_dir: Path) -> list:
    """The Dask benchmark of ``run_dask.py``, when it has run."""
    report = _report(results_dir, "dask")
    if report is None:
        return []
    grid, inc = report["grid_search"], report["incremental_mnist"]
    same = "the same" if grid["same_best_params"] else "different"
    gap = grid["max_score_difference"]
    scores = (
        "identical scores" if gap == 0 else f"scores that differ by at most {gap:.1e}"
    )
    return [
        "**Dask**",
        "",
        f"A `GridSearchCV` of {grid['candidates']} `DeepKMeans` candidates on "
        "digits (2 folds) took "
        f"{grid['seconds_n_jobs_2']:.0f} s with `n_jobs=2` and "
        f"{grid['seconds_dask']:.0f} s on a 2-worker `LocalCluster` "
        f"({grid['time_ratio']:.2f} times), with {same} best parameters and "
        f"{scores}. "
        f"MNIST as a dask array of {inc['chunks']} chunks: `Incremental` fitted "
        f"{inc['estimator']} through `partial_fit` in {inc['fit_seconds']:.0f} s "
        f"(one pass, ACC {inc['ACC']:.3f}) and `ParallelPostFit` predicted all "
        f"rows in {inc['predict_seconds']:.0f} s. Command: "
        f"`{report['command']}`; {report['machine']}; {report['date']}.",
        "",
    ]


def _reports(results_dir: Path, peers: bool = False) -> dict:
    """The JSON reports by file stem: ``run_peers.py``'s or the others."""
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(results_dir.glob("*.json"))
        if path.stem.startswith(PEERS) == peers
    }


def _peer_table(report):
    rows = []
    for name, runs in _by_estimator(report).items():
        acc = [r["ACC"] for r in runs]
        rows.append(
            [
                name,
                runs[0]["library"],
                f"{statistics.mean(acc):.3f} ± {statistics.pstdev(acc):.3f}",
                f"{statistics.mean(r['NMI'] for r in runs):.3f}",
                f"{statistics.mean(r['fit_seconds'] for r in runs):.1f}",
                str(len(runs)),
            ]
        )
    header = ["estimator", "library", "ACC", "NMI", "fit [s]", "fits"]
    return format_markdown_table(header, rows)


def peers_section(results_dir: Path) -> str:
    """The "Peer library" section: sknclust beside ClustPy, one run each."""
    reports = _reports(results_dir, peers=True)
    if not reports:
        return ""
    lines = [
        "# Peer library",  # level 1: a section under benchmarks.rst's title
        "",
        "sknclust beside [ClustPy](https://github.com/collinleiber/ClustPy): "
        "its DEC, IDEC, DCN, DKM and VaDE, sknclust's deep estimators and "
        "KMeans, each with its defaults (only `n_clusters` and `random_state` "
        "are given), fitted one after another in one process with the same "
        "number of torch threads on the same cores, so that the fit times "
        "compare within the table (not with the tables above, run at another "
        "time with another thread count). All take the same flat rows, pixel "
        "values mapped to [0, 1]. "
        "ClustPy imports torchvision, which does not load beside the "
        "development pin's CPU torch, so the run has its own environment:",
        "",
        "```",
        "bash benchmarks/peers_env.sh",
        ".venv-peers/bin/python benchmarks/run_peers.py --dataset digits --threads 1",
        ".venv-peers/bin/python benchmarks/run_peers.py --dataset usps --seeds 0 "
        "--threads 1",
        "python benchmarks/make_page.py",
        "```",
        "",
    ]
    for report in reports.values():
        dataset = report["dataset"]
        seeds = ", ".join(map(str, report["seeds"]))
        packages = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
        lines += [
            f"**{PEER_TITLES.get(dataset, dataset)}**",
            "",
            f"{report['n_samples']} samples, {report['n_features']} features, "
            f"n_clusters={report['n_clusters']}; seeds {seeds}; "
            f"{report['threads']} torch thread(s). ACC is mean ± std over the "
            "fits; fit time is the mean wall-clock seconds of `fit_predict`.",
            "",
            *(
                f"- rows of {', '.join(run['estimators'])}: `{run['command']}` "
                f"({run['date']})"
                for run in report.get("earlier", [])
            ),
            f"- command: `{report['command']}`",
            f"- machine: {report['machine']}",
            f"- packages: {packages}",
            f"- date: {report['date']}",
            "",
            _peer_table(report),
            "",
        ]
        for estimator, message in report.get("failures", {}).items():
            lines += [f"{estimator} failed: `{message}`", ""]
    return "\n".join(lines)


def build(results_dir: Path) -> str:
    reports = _defaults_reports(results_dir)
    names = [n for n in CONFIGS if n in reports] + sorted(set(reports) - set(CONFIGS))
    if not names:
        return "No benchmark results yet: run `python benchmarks/run_defaults.py`.\n"
    machines = {
        machine
        for n in names
        for machine in _row_machines(reports[n]).values()
        if machine
    }
    dates = sorted(set().union(*(_run_dates(reports[n]) for n in names)))
    lines = [
        "Every estimator runs with its defaults; only `n_clusters` (the number "
        "of classes) and, for image rows, `image_shape` come from the data set. "
        "The tables (iris, wine, breast cancer) are standardised first, as a "
        "user would for features in different units. "
        "ACC is the accuracy under the best one-to-one matching of clusters to "
        "classes; mean ± std, min and max are over the seeds listed in each "
        "row; fit time is the wall-clock time of `fit_predict`.",
        "",
        "- command: `python benchmarks/run_defaults.py --data-dir ../shared/data`, "
        "then `python benchmarks/make_page.py`",
        f"- machine: {'; '.join(sorted(machines))}",
        f"- date: {', '.join(dates)}",
        "",
    ]
    for name in names:
        report = reports[name]
        lines += [
            f"**{_title(name)}**",
            "",
            f"{report['n_samples']} samples, {report['n_features']} features, "
            f"n_clusters={report['n_clusters']}.",
            *_machine_lines(report, len(machines)),
            "",
            _table(report),
            "",
        ]
    lines += _threads_section(results_dir)
    lines += _gmvae_mnist_section(results_dir)
    lines += _partial_fit_section(results_dir)
    lines += _dask_section(results_dir)
    peers = peers_section(results_dir)
    return "\n".join(lines) + ("\n" + peers if peers else "")


README_START = "<!-- benchmark table: written by benchmarks/make_page.py -->"
README_END = "<!-- end of benchmark table -->"


def headline(results_dir: Path) -> str:
    """Mean ACC of every estimator in every configuration, one row each."""
    reports = _defaults_reports(results_dir)
    names = [n for n in CONFIGS if n in reports]
    estimators = []
    for name in names:
        for r in reports[name]["results"]:
            if r["estimator"] not in estimators:
                estimators.append(r["estimator"])
    rows = []
    for estimator in _ordered(estimators):
        row = [estimator]
        for name in names:
            acc = [
                r["ACC"]
                for r in reports[name]["results"]
                if r["estimator"] == estimator
            ]
            row.append(f"{statistics.mean(acc):.3f}" if acc else "")
        rows.append(row)
    return format_markdown_table(["ACC (mean over seeds)", *names], rows)


def update_readme(path: Path, results_dir: Path) -> None:
    """Replace the table between the README's markers."""
    text = path.read_text(encoding="utf-8")
    start, end = text.index(README_START), text.index(README_END)
    table = headline(results_dir)
    text = text[: start + len(README_START)] + "\n" + table + "\n" + text[end:]
    path.write_text(text, encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="benchmarks/results")
    parser.add_argument("--output", default="docs/benchmarks.md")
    parser.add_argument("--readme", default="README.md")
    args = parser.parse_args(argv)
    results_dir = Path(args.results_dir)
    Path(args.output).write_text(build(results_dir), encoding="utf-8")
    print(f"wrote {args.output}")
    if any(results_dir.glob("*.json")):
        update_readme(Path(args.readme), results_dir)
        print(f"updated the table in {args.readme}")


if __name__ == "__main__":
    main()
