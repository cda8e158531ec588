"""The runner behind ``sknclust benchmark``: datasets, fits, tables, reports.

The estimators it knows, each built with its defaults, are in
:mod:`sknclust._registry`.
"""

import datetime
import json
import math
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.preprocessing import StandardScaler
from sklearn.utils import resample

from sknclust._registry import (  # noqa: F401 (the command line's names)
    ESTIMATORS,
    EstimatorSpec,
    ImageShape,
    deep,
    embeds,
    make_estimator,
    set_params,
)
from sknclust.metrics import clustering_accuracy


@dataclass
class Dataset:
    """Samples to benchmark on, with labels when known.

    ``image_shape`` is the natural ``(C, H, W)`` of the rows, if they are images.
    """

    name: str
    X: np.ndarray
    y: np.ndarray | None
    image_shape: ImageShape | None = None

    def describe(self) -> str:
        text = f"{self.name}: {self.X.shape[0]} samples, {self.X.shape[1]} features"
        if self.y is not None:
            text += f", {np.unique(self.y).size} classes"
        return text


# scikit-learn's embedded tables, by name: features in different units, so
# they are standardised as a user would (a StandardScaler in a pipeline).
TABULAR = {
    "iris": "load_iris",
    "wine": "load_wine",
    "breast_cancer": "load_breast_cancer",
}


def load_dataset(dataset: str, data_dir=None) -> Dataset:
    """``"digits"``, ``"iris"``, ``"wine"``, ``"breast_cancer"`` (embedded in
    scikit-learn), ``"mnist"``, ``"usps"`` or a file.

    The three tables are standardised. Files are read with
    :func:`sknclust.datasets._files.load_array_file`.
    """
    if dataset in TABULAR:
        from sklearn import datasets as sk_datasets

        X, y = getattr(sk_datasets, TABULAR[dataset])(return_X_y=True)
        return Dataset(dataset, StandardScaler().fit_transform(X), y)
    if dataset == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return Dataset("digits", X, y, (1, 8, 8))
    if dataset in ("mnist", "usps"):
        from sknclust import datasets

        loader = datasets.load_mnist if dataset == "mnist" else datasets.load_usps
        X, y = loader(data_dir, return_X_y=True)
        side = 28 if dataset == "mnist" else 16
        return Dataset(dataset, X, y, (1, side, side))
    from sknclust.datasets._files import FILE_SUFFIXES, load_array_file

    if not dataset.lower().endswith(FILE_SUFFIXES):
        raise ValueError(
            f"Unknown dataset {dataset!r}: use "
            f"{', '.join(['digits', *TABULAR, 'mnist', 'usps'])} or a "
            f"{'/'.join(FILE_SUFFIXES)} file."
        )
    X, y = load_array_file(dataset)
    return Dataset(Path(dataset).stem, X, y)


def subsample(data: Dataset, max_samples: int | None, random_state=0) -> Dataset:
    """At most ``max_samples`` rows, stratified by label, in their original order.

    The same rows are used for every estimator and seed.
    """
    n = len(data.X)
    if max_samples is None or max_samples >= n:
        return data
    stratify = data.y
    if stratify is not None and np.unique(stratify, return_counts=True)[1].min() < 2:
        stratify = None  # a singleton class cannot be stratified
    rows = resample(
        np.arange(n),
        replace=False,
        n_samples=max_samples,
        stratify=stratify,
        random_state=random_state,
    )
    rows.sort()
    y = None if data.y is None else data.y[rows]
    return Dataset(data.name, data.X[rows], y, data.image_shape)


@dataclass
class Result:
    """One fit of one estimator with one seed."""

    estimator: str
    seed: int
    fit_seconds: float
    labels: np.ndarray
    scores: dict[str, float] = field(default_factory=dict)


def _nmi(labels_true, labels_pred) -> float:
    return normalized_mutual_info_score(
        labels_true, labels_pred, average_method="arithmetic"
    )


METRICS: dict[str, Callable[[Any, Any], float]] = {
    "ACC": clustering_accuracy,
    "NMI": _nmi,
    "ARI": adjusted_rand_score,
}
CAPTION = (
    "ACC: accuracy under the best one-to-one matching of clusters to classes "
    "(Hungarian algorithm); NMI: normalized mutual information with "
    "average_method='arithmetic'; ARI: adjusted Rand index; fit [s]: wall-clock "
    "seconds of fit_predict."
)


def fit_once(estimator: BaseEstimator, X, y=None, *, name: str = "", seed: int = 0):
    """Fit ``estimator`` on ``X``, timing ``fit_predict``, and score it on ``y``."""
    start = time.perf_counter()
    labels = np.asarray(estimator.fit_predict(X))
    seconds = time.perf_counter() - start
    scores = {} if y is None else {k: float(f(y, labels)) for k, f in METRICS.items()}
    return Result(name, seed, seconds, labels, scores)


def summarise(results: Sequence[Result]) -> dict[str, dict[str, tuple[float, float]]]:
    """Mean and standard deviation of each score and of fit time, per estimator."""
    by_name: dict[str, list[Result]] = {}
    for result in results:
        by_name.setdefault(result.estimator, []).append(result)
    summary = {}
    for name, runs in by_name.items():
        columns = {k: [r.scores[k] for r in runs] for k in runs[0].scores}
        columns["fit [s]"] = [r.fit_seconds for r in runs]
        summary[name] = {
            k: (float(np.mean(v)), float(np.std(v))) for k, v in columns.items()
        }
    return summary


def smallest_share(labels: np.ndarray) -> float:
    """Share of the samples in the smallest cluster found."""
    sizes = np.unique(labels, return_counts=True)[1]
    return float(sizes.min() / sizes.sum())


def cluster_sizes(labels: np.ndarray) -> str:
    """Cluster sizes, largest first, separated by spaces."""
    sizes = np.sort(np.unique(labels, return_counts=True)[1])[::-1]
    return " ".join(map(str, sizes))


def summary_table(results: Sequence[Result]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the summary table, values as ``mean ± std``.

    Without labels the scores are replaced by the cluster sizes of each
    estimator's first seed.
    """
    first = {}
    for result in results:
        first.setdefault(result.estimator, result)
    scored = bool(results) and bool(results[0].scores)
    header = ["estimator", *(METRICS if scored else []), "fit [s]"]
    if scored:
        header[2:2] = ["ACC min"]
    header.append("smallest cluster" if scored else "cluster sizes (first seed)")
    rows = []
    for name, cols in summarise(results).items():
        runs = [r for r in results if r.estimator == name]
        row = [name]
        for key, (mean, std) in cols.items():
            digits = 2 if key == "fit [s]" else 3
            row.append(f"{mean:.{digits}f} ± {std:.{digits}f}")
        if scored:
            row.insert(2, f"{min(r.scores['ACC'] for r in runs):.3f}")
            row.append(f"{min(smallest_share(r.labels) for r in runs):.1%}")
        else:
            row.append(cluster_sizes(first[name].labels))
        rows.append(row)
    return header, rows


def per_seed_table(results: Sequence[Result]) -> tuple[list[str], list[list[str]]]:
    """One row per fit: scores, seconds, clusters found and the smallest's share."""
    keys = list(results[0].scores) if results else []
    header = [
        "estimator",
        "seed",
        *keys,
        "fit [s]",
        "clusters found",
        "smallest cluster",
    ]
    rows = []
    for r in results:
        rows.append(
            [r.estimator, str(r.seed)]
            + [f"{r.scores[k]:.4f}" for k in keys]
            + [f"{r.fit_seconds:.2f}", str(np.unique(r.labels).size)]
            + [f"{smallest_share(r.labels):.1%}"]
        )
    return header, rows


def format_text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain-text table with aligned columns."""
    lines = [list(header), *map(list, rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    lines.insert(1, ["-" * w for w in widths])
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def format_markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """GitHub-flavoured markdown table."""
    lines = [list(header), ["---"] * len(header), *map(list, rows)]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def _cpu_model(cpuinfo="/proc/cpuinfo") -> str:
    """The CPU's model name, as far as the system says."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name") and ":" in line:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_description() -> str:
    """Platform, CPU, thread count and the device ``device="auto"`` resolves to."""
    try:
        from sknclust._device import resolve_device

        device = str(resolve_device("auto"))
    except Exception as exc:  # the header must not fail because of torch
        device = f"unavailable ({type(exc).__name__})"
    import torch

    # The vector extensions torch uses pick its CPU kernels, and with them the
    # order of floating-point sums: fits differ between machines that differ
    # here, even when the model names read the same.
    capability = torch.backends.cpu.get_cpu_capability()
    return (
        f"{platform.platform()}, {os.cpu_count()} CPUs ({_cpu_model()}, "
        f"{capability}), "
        f"torch {torch.__version__} with {torch.get_num_threads()} thread(s), "
        f"device {device}"
    )


def run_benchmark(
    data: Dataset,
    names: Sequence[str],
    seeds: Sequence[int],
    *,
    n_clusters: int,
    image_shape: ImageShape | None = None,
    params: Mapping[str, Any] | None = None,
    output_dir=".",
    report_name: str | None = None,
    command: str = "",
    log: Callable[[str], None] = print,
) -> tuple[list[Result], dict[str, str], dict[str, Path]]:
    """Fit every estimator with every seed, then write the report files.

    The files are ``<report_name>.md`` and ``.png`` in ``output_dir``;
    ``report_name`` defaults to ``benchmark_<dataset>``.

    Every estimator is built (and its parameters checked) before any fit, so a
    typo fails at once. A fit that raises is reported and the estimator's other
    seeds are skipped; the others go on.

    Returns
    -------
    results : list of Result
        Successful fits, in order.
    failures : dict of str to str
        Error message by estimator name.
    paths : dict of str to Path
        ``"markdown"`` and, when matplotlib is available, ``"figure"``.
    """
    for name in names:
        make_estimator(name, n_clusters, seeds[0], image_shape, params=params)
    results, failures, fitted = [], {}, {}
    n_runs, run = len(names) * len(seeds), 0
    for name in names:
        for i, seed in enumerate(seeds):
            run += 1
            estimator = make_estimator(
                name, n_clusters, seed, image_shape, params=params
            )
            try:
                result = fit_once(estimator, data.X, data.y, name=name, seed=seed)
            except Exception as exc:  # one broken estimator must not sink the rest
                failures[name] = f"{type(exc).__name__}: {exc}"
                log(f"[{run}/{n_runs}] {name} seed={seed}: FAILED {failures[name]}")
                run += len(seeds) - i - 1
                break
            fitted.setdefault(name, estimator)
            results.append(result)
            scores = "".join(f"{k}={v:.3f} " for k, v in result.scores.items())
            log(
                f"[{run}/{n_runs}] {name} seed={seed}: {scores}"
                f"fit {result.fit_seconds:.2f} s"
            )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    stem = _safe_name(report_name or f"benchmark_{data.name}")
    paths = {"markdown": output_dir / f"{stem}.md"}
    figure = output_dir / f"{stem}.png"
    if _write_figure(figure, data, fitted, results, log):
        paths["figure"] = figure
    paths["markdown"].write_text(
        _markdown_report(data, seeds, n_clusters, command, results, failures, paths),
        encoding="utf-8",
    )
    paths["json"] = output_dir / f"{stem}.json"
    paths["json"].write_text(
        json.dumps(
            _json_report(data, seeds, n_clusters, image_shape, command, results),
            indent=1,
        ),
        encoding="utf-8",
    )
    return results, failures, paths


def _json_report(data, seeds, n_clusters, image_shape, command, results):
    """The run's facts and per-fit results, for pages built from them."""
    return {
        "dataset": data.name,
        "n_samples": int(data.X.shape[0]),
        "n_features": int(data.X.shape[1]),
        "n_clusters": n_clusters,
        "image_shape": list(image_shape) if image_shape else None,
        "seeds": list(seeds),
        "date": datetime.date.today().isoformat(),
        "machine": machine_description(),
        "command": command,
        "results": [
            {
                "estimator": r.estimator,
                "seed": r.seed,
                "fit_seconds": round(r.fit_seconds, 3),
                "smallest_cluster": round(smallest_share(r.labels), 5),
                **{k: round(v, 5) for k, v in r.scores.items()},
            }
            for r in results
        ],
    }


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _markdown_report(data, seeds, n_clusters, command, results, failures, paths):
    when = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    lines = [
        f"# Clustering benchmark: {data.name}",
        "",
        f"- dataset: {data.describe()}; n_clusters={n_clusters}",
        f"- seeds: {', '.join(map(str, seeds))}",
        f"- date: {when}",
        f"- machine: {machine_description()}",
        f"- command: `{command}`",
        "",
    ]
    if results:
        caption = f"Mean ± std over {len(seeds)} seed(s)."
        if results[0].scores:
            caption += " " + CAPTION
        lines += [caption, "", format_markdown_table(*summary_table(results)), ""]
        lines += [
            "## Per-seed results",
            "",
            format_markdown_table(*per_seed_table(results)),
        ]
    for name, message in failures.items():
        lines.append(f"\n**{name} failed:** `{message}`")
    if "figure" in paths:
        lines += ["", f"![2-D views and scores]({paths['figure'].name})"]
    return "\n".join(lines) + "\n"


def _write_figure(path, data, fitted, results, log) -> bool:
    if not results:
        return False
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        log("matplotlib is not installed: the figure is skipped.")
        return False
    rng = np.random.default_rng(0)
    n_plot = min(len(data.X), 3000)  # enough to see the structure, cheap to draw
    rows = np.sort(rng.choice(len(data.X), n_plot, replace=False))
    first = {}
    for result in results:
        first.setdefault(result.estimator, result)
    input_view = None
    panels = []
    for name, estimator in fitted.items():
        result = first[name]
        if embeds(name):
            points = view_2d(np.asarray(estimator.transform(data.X[rows])))
            source = "PCA of embedding"
        else:
            if input_view is None:
                input_view = view_2d(StandardScaler().fit_transform(data.X[rows]))
            points, source = input_view, "PCA of standardised input"
        title = f"{name} (seed {result.seed})\n{source}"
        if "ACC" in result.scores:
            title += f", ACC {result.scores['ACC']:.3f}"
        panels.append((title, points, result.labels[rows]))
    plot_benchmark(path, panels, summarise(results), data.describe())
    return True


def view_2d(X2: np.ndarray) -> np.ndarray:
    """PCA projection to two dimensions (input already scaled as wanted)."""
    n_components = min(2, X2.shape[1], X2.shape[0])
    projected = PCA(n_components=n_components, random_state=0).fit_transform(X2)
    if n_components < 2:
        projected = np.column_stack([projected, np.zeros(len(projected))])
    return projected


def plot_benchmark(path, panels, summary, title: str) -> None:
    """Save one scatter panel per estimator plus a bar panel of the scores.

    Parameters
    ----------
    path : path-like
        PNG file to write.
    panels : list of (str, ndarray, ndarray)
        ``(title, points of shape (n, 2), cluster labels of shape (n,))``.
    summary : dict
        Output of :func:`summarise`; bars are drawn when it holds scores.
    title : str
        Figure title.
    """
    # A bare Figure draws with Agg and leaves pyplot's global state alone.
    from matplotlib.figure import Figure

    metrics = [k for k in METRICS if all(k in s for s in summary.values())]
    n_panels = len(panels) + bool(metrics and summary)
    n_cols = min(3, n_panels)
    n_rows = math.ceil(n_panels / n_cols)
    fig = Figure(figsize=(4.2 * n_cols, 3.8 * n_rows))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for ax, (name, points, labels) in zip(axes.flat, panels, strict=False):
        codes = np.unique(labels, return_inverse=True)[1]
        cmap = "tab10" if codes.max() < 10 else "tab20" if codes.max() < 20 else "turbo"
        ax.scatter(points[:, 0], points[:, 1], c=codes, s=4, cmap=cmap, linewidths=0)
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    if metrics and summary:
        ax = axes.flat[len(panels)]
        width = 0.8 / len(metrics)
        x = np.arange(len(summary))
        for i, metric in enumerate(metrics):
            means = [s[metric][0] for s in summary.values()]
            stds = [s[metric][1] for s in summary.values()]
            ax.bar(
                x + (i - (len(metrics) - 1) / 2) * width,
                means,
                width,
                yerr=stds,
                label=metric,
                capsize=2,
            )
        ax.set_xticks(x, list(summary), rotation=30, ha="right", fontsize=8)
        # ARI can be negative.
        lowest = min(s[m][0] - s[m][1] for s in summary.values() for m in metrics)
        ax.set_ylim(min(0.0, lowest - 0.05), 1.0)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_title("scores (mean ± std over seeds)", fontsize=10)
        ax.legend(fontsize=8)
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
