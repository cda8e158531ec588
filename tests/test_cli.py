"""Tests of the ``sknclust`` command line, run in-process through ``main``."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

import sknclust
from sknclust import _benchmark
from sknclust.cli import main, parse_param
from sknclust.metrics import clustering_accuracy


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=90, centers=3, cluster_std=0.5, random_state=0)
    return X, y


def _read_labels(path):
    lines = path.read_text().splitlines()
    assert lines[0] == "label"
    return np.array([int(v) for v in lines[1:]])


def _markdown_rows(text):
    """Data rows of the markdown tables, as lists of cells."""
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("| ---")
    ]


def test_benchmark_digits_baselines(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["benchmark", "--estimators", "KMeans", "GaussianMixture", "--n-seeds", "2"]
    argv += ["--max-samples", "300", "--output-dir", str(out), "--threads", "1"]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert "digits: 300 samples, 64 features, 10 classes" in stdout
    assert re.search(r"\[4/4\] GaussianMixture seed=1: ACC=0\.\d{3}", stdout)
    assert "average_method='arithmetic'" in stdout
    table = {
        line.split()[0]: line
        for line in stdout.splitlines()
        if re.search(r"\d ± \d", line) and not line.startswith("Mean")
    }
    assert set(table) == {"KMeans", "GaussianMixture"}

    markdown = (out / "benchmark_digits.md").read_text()
    assert markdown.startswith("# Clustering benchmark: digits")
    assert "- seeds: 0, 1" in markdown
    assert re.search(r"- date: \d{4}-\d\d-\d\d", markdown)
    assert "CPUs (" in markdown and "with 1 thread(s)" in markdown
    assert "- command: `sknclust benchmark --estimators KMeans GaussianMixture" in (
        markdown
    )
    rows = _markdown_rows(markdown)
    assert rows[0] == [
        "estimator",
        "ACC",
        "ACC min",
        "NMI",
        "ARI",
        "fit [s]",
        "smallest cluster",
    ]
    summary = {r[0]: r for r in rows[1:3]}
    kmeans_acc = float(summary["KMeans"][1].split(" ± ")[0])
    assert 0.6 < kmeans_acc <= 1.0  # k-means gets ~0.8 on digits
    per_seed = [r for r in rows if len(r) == 8 and r[1] in {"0", "1"}]
    assert len(per_seed) == 4
    # The summary mean and minimum are those of the per-seed values.
    seeds_acc = [float(r[2]) for r in per_seed if r[0] == "KMeans"]
    assert kmeans_acc == pytest.approx(np.mean(seeds_acc), abs=1e-3)
    assert float(summary["KMeans"][2]) == pytest.approx(min(seeds_acc), abs=1e-3)

    report = json.loads((out / "benchmark_digits.json").read_text())
    assert (report["dataset"], report["n_samples"], report["seeds"]) == (
        "digits",
        300,
        [0, 1],
    )
    fits = [r for r in report["results"] if r["estimator"] == "KMeans"]
    assert [r["ACC"] for r in fits] == pytest.approx(seeds_acc, abs=1e-4)
    assert all(0 < r["smallest_cluster"] <= 0.1 for r in fits)

    png = out / "benchmark_digits.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](benchmark_digits.png)" in markdown


def test_benchmark_explicit_seeds_without_matplotlib(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now fails
    argv = ["benchmark", "--estimators", "KMeans", "--seeds", "3", "5", "3"]
    argv += ["--max-samples", "200", "--output-dir", str(tmp_path)]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert "matplotlib is not installed" in stdout
    assert "[2/2] KMeans seed=5" in stdout and "[3/" not in stdout
    assert not (tmp_path / "benchmark_digits.png").exists()
    assert "- seeds: 3, 5" in (tmp_path / "benchmark_digits.md").read_text()


def test_benchmark_unlabelled_file(tmp_path, capsys, blobs):
    X, _ = blobs
    np.save(tmp_path / "points.npy", X)
    argv = ["benchmark", "--dataset", str(tmp_path / "points.npy")]
    argv += ["--estimators", "KMeans", "--n-seeds", "1", "--output-dir", str(tmp_path)]
    assert main(argv) == 2
    assert "pass --n-clusters" in capsys.readouterr().err
    assert main([*argv, "--n-clusters", "3"]) == 0
    stdout = capsys.readouterr().out
    assert "ACC" not in stdout
    assert re.search(r"KMeans\s+\S+ ± \S+\s+30 30 30", stdout)
    markdown = (tmp_path / "benchmark_points.md").read_text()
    assert "cluster sizes (first seed)" in markdown


class _Broken(KMeans):
    """An estimator whose fit fails, as a buggy deep estimator might."""

    def fit_predict(self, X, y=None):
        raise RuntimeError("diverged")


def test_benchmark_labelled_npz_and_failure_exit_code(
    tmp_path, capsys, blobs, monkeypatch
):
    spec = _benchmark.EstimatorSpec(lambda k, seed, shape: _Broken(k))
    monkeypatch.setitem(_benchmark.ESTIMATORS, "Broken", spec)
    X, y = blobs
    np.savez(tmp_path / "blobs.npz", X=X, y=y)
    argv = ["benchmark", "--dataset", str(tmp_path / "blobs.npz"), "--n-seeds", "2"]
    argv += ["--output-dir", str(tmp_path), "--estimators", "Broken", "KMeans"]
    # The failing estimator is reported and skipped; the others still run.
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "[1/4] Broken seed=0: FAILED RuntimeError: diverged" in captured.out
    assert "[4/4] KMeans seed=1: ACC=1.000" in captured.out
    assert "Broken failed: RuntimeError: diverged" in captured.err
    markdown = (tmp_path / "benchmark_blobs.md").read_text()
    assert "**Broken failed:** `RuntimeError: diverged`" in markdown
    assert "| Broken |" not in markdown and "| KMeans |" in markdown


def test_benchmark_report_name(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["benchmark", "--estimators", "KMeans", "--n-seeds", "1"]
    argv += ["--max-samples", "200", "--output-dir", str(out)]
    assert main([*argv, "--report-name", "kmeans only"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in out.glob("*.md")) == ["kmeans_only.md"]
    assert "KMeans" in (out / "kmeans_only.md").read_text()


@pytest.mark.parametrize("name, shape", [("iris", (150, 4)), ("wine", (178, 13))])
def test_benchmark_tables_are_standardised(name, shape, tmp_path, capsys):
    data = _benchmark.load_dataset(name)
    assert data.X.shape == shape
    # Features in different units: each one standardised, as in a pipeline.
    np.testing.assert_allclose(data.X.mean(0), 0, atol=1e-9)
    np.testing.assert_allclose(data.X.std(0), 1)
    argv = ["benchmark", "--dataset", name, "--estimators", "KMeans"]
    argv += ["--n-seeds", "1", "--output-dir", str(tmp_path)]
    assert main(argv) == 0
    report = json.loads((tmp_path / f"benchmark_{name}.json").read_text())
    assert report["n_clusters"] == 3
    assert report["results"][0]["ACC"] > 0.8  # k-means finds these classes


def test_benchmark_all_failed_writes_report_only(tmp_path, capsys, blobs):
    np.save(tmp_path / "x.npy", blobs[0])
    argv = ["benchmark", "--dataset", str(tmp_path / "x.npy"), "--n-seeds", "1"]
    argv += ["--estimators", "KMeans", "--n-clusters", "3", "--param", "tol=-1"]
    assert main([*argv, "--output-dir", str(tmp_path)]) == 1
    assert "InvalidParameterError" in capsys.readouterr().err
    assert (tmp_path / "benchmark_x.md").exists()
    assert not (tmp_path / "benchmark_x.png").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--estimators", "NoSuchThing"], "Unknown estimator 'NoSuchThing'"),
        (["--estimators", "KMeans", "--param", "bogus=1"], "no parameter 'bogus'"),
        (["--estimators", "KMeans", "--param", "n_init"], "expects key=value"),
        (["--dataset", "missing.csv"], "Data file not found: missing.csv"),
        (["--images", "--image-shape", "1", "8", "9"], "holds 72 values"),
        (["--dataset", "Digits"], "Unknown dataset 'Digits'"),
    ],
)
def test_benchmark_usage_errors(extra, message, tmp_path, capsys):
    assert main(["benchmark", "--output-dir", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing was written


def test_benchmark_mnist_missing_data_dir(tmp_path, capsys):
    assert main(["benchmark", "--dataset", "mnist", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "mnist") in err and "SKNCLUST_DATA" in err


def test_argparse_errors_return_2(capsys):
    assert main(["benchmark", "--n-seeds", "x"]) == 2
    assert main(["benchmark", "--n-seeds", "0"]) == 2
    assert main(["benchmark", "--max-samples", "-5"]) == 2
    assert main(["cluster"]) == 2
    assert main([]) == 2
    assert "usage: sknclust" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["csv", "npy", "npz"])
def test_cluster_formats(fmt, tmp_path, capsys, blobs):
    X, y = blobs
    path = tmp_path / f"data.{fmt}"
    if fmt == "csv":
        # The label column is read as labels, not as a feature.
        rows = [f"{a},{b},{t}" for (a, b), t in zip(X, y * 1000, strict=True)]
        path.write_text("\n".join(["f0,f1,label", *rows]) + "\n")
    elif fmt == "npy":
        np.save(path, X)
    else:
        np.savez(path, X=X, y=y)
    output = tmp_path / "sub" / "labels.csv"
    argv = ["cluster", str(path), "--estimator", "KMeans", "--n-clusters", "3"]
    assert main([*argv, "-o", str(output), "--random-state", "0"]) == 0
    labels = _read_labels(output)
    assert labels.shape == (90,)
    assert clustering_accuracy(y, labels) == 1.0
    assert "cluster sizes: 30 30 30" in capsys.readouterr().out


def test_cluster_params_reach_pipeline_final_step(tmp_path, blobs):
    X, y = blobs
    np.save(tmp_path / "x.npy", X)
    argv = ["cluster", str(tmp_path / "x.npy"), "--estimator", "GaussianMixture"]
    argv += ["--n-clusters", "3", "-o", str(tmp_path / "l.csv")]
    assert main([*argv, "--param", "covariance_type='full'"]) == 0
    assert clustering_accuracy(y, _read_labels(tmp_path / "l.csv")) == 1.0
    estimator = _benchmark.make_estimator(
        "GaussianMixture", 3, params={"covariance_type": "spherical"}
    )
    assert estimator[-1].covariance_type == "spherical"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--estimator", "Nope"], "Unknown estimator 'Nope'"),
        (["--estimator", "KMeans", "--param", "bogus=2"], "no parameter 'bogus'"),
        (["--estimator", "KMeans", "--param", "n_init=-1"], "n_init"),
        (["--estimator", "KMeans", "--param", "=3"], "expects key=value"),
        (["--estimator", "KMeans", "--image-shape", "1", "2", "2"], "holds 4 values"),
    ],
)
def test_cluster_usage_errors(extra, message, tmp_path, capsys, blobs):
    np.save(tmp_path / "x.npy", blobs[0])
    argv = ["cluster", str(tmp_path / "x.npy"), "--n-clusters", "3"]
    assert main([*argv, "-o", str(tmp_path / "l.csv"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "l.csv").exists()


def test_cluster_bad_files(tmp_path, capsys):
    argv = ["--estimator", "KMeans", "--n-clusters", "2", "-o", str(tmp_path / "o")]
    assert main(["cluster", str(tmp_path / "absent.npy"), *argv]) == 2
    assert str(tmp_path / "absent.npy") in capsys.readouterr().err
    (tmp_path / "text.csv").write_text("a,b\n1,x\n")
    assert main(["cluster", str(tmp_path / "text.csv"), *argv]) == 2
    assert "numbers only" in capsys.readouterr().err
    (tmp_path / "data.txt").write_text("1 2\n")
    assert main(["cluster", str(tmp_path / "data.txt"), *argv]) == 2
    assert "Unsupported data file" in capsys.readouterr().err


def test_parse_param_literals():
    assert parse_param("hidden_dims=(16, 8)") == ("hidden_dims", (16, 8))
    assert parse_param("tol=1e-3") == ("tol", 1e-3)
    assert parse_param("scaler=None") == ("scaler", None)
    assert parse_param("device=cuda:0") == ("device", "cuda:0")
    assert parse_param("name=a=b") == ("name", "a=b")


def test_registry_entries_build_with_seed():
    assert list(_benchmark.ESTIMATORS)[:2] == ["KMeans", "GaussianMixture"]
    kmeans = _benchmark.make_estimator("KMeans", 4, 7)
    assert (kmeans.n_clusters, kmeans.n_init, kmeans.random_state) == (4, 10, 7)
    built = _benchmark.make_estimator("KMeans", 3, 0, params={"tol": 0.1})
    assert (built.max_iter, built.tol) == (300, 0.1)  # explicit params win


@pytest.mark.parametrize("image_shape", [None, (1, 8, 8)])
def test_registry_deep_estimators_use_their_defaults(image_shape):
    # Only the facts of the data set are passed: n_clusters, random_state and
    # image_shape; everything else is the estimator's default.
    for name in ("DeepKMeans", "NeuralMixtureEM", "GMVAEClustering"):
        built = _benchmark.make_estimator(name, 10, 3, image_shape)
        defaults = getattr(sknclust, name)().get_params()
        facts = {"n_clusters": 10, "random_state": 3, "image_shape": image_shape}
        assert built.get_params() == {**defaults, **facts}


def test_python_dash_m_entry_point(tmp_path):
    command = [sys.executable, "-m", "sknclust", "cluster", str(tmp_path / "no.npy")]
    command += ["--estimator", "KMeans", "--n-clusters", "2", "-o", "x.csv"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("sknclust: error: Data file not found")
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(
    not hasattr(sknclust, "DeepKMeans"), reason="sknclust.DeepKMeans not available"
)
def test_deep_kmeans_cluster_and_benchmark(tmp_path, capsys, blobs):
    X, y = blobs
    np.save(tmp_path / "x.npy", X)
    tiny = ["--param", "hidden_dims=(16,)", "--param", "pretrain_epochs=2"]
    tiny += ["--param", "max_epochs=2", "--param", "device=cpu"]
    argv = ["cluster", str(tmp_path / "x.npy"), "--estimator", "DeepKMeans"]
    argv += ["--n-clusters", "3", "-o", str(tmp_path / "l.csv"), "--random-state", "0"]
    assert main([*argv, *tiny]) == 0
    labels = _read_labels(tmp_path / "l.csv")
    assert labels.shape == (90,) and set(labels) <= {0, 1, 2}

    argv = ["benchmark", "--estimators", "DeepKMeans", "--n-seeds", "1"]
    argv += ["--max-samples", "200", "--output-dir", str(tmp_path)]
    assert main([*argv, *tiny, "--param", "strategy=gumbel"]) == 0
    stdout = capsys.readouterr().out
    assert re.search(r"DeepKMeans seed=0: ACC=0\.\d{3}", stdout)
    assert (tmp_path / "benchmark_digits.png").exists()


def test_benchmark_real_usps_subset(data_dir, tmp_path, capsys):
    argv = ["benchmark", "--dataset", "usps", "--data-dir", str(data_dir)]
    argv += ["--estimators", "KMeans", "--n-seeds", "1", "--max-samples", "400"]
    assert main([*argv, "--output-dir", str(tmp_path)]) == 0
    stdout = capsys.readouterr().out
    assert "usps: 400 samples, 256 features, 10 classes" in stdout
    acc = float(re.search(r"KMeans seed=0: ACC=(\S+)", stdout).group(1))
    assert 0.4 < acc <= 1.0  # k-means reaches ~0.65 on USPS
    assert (tmp_path / "benchmark_usps.md").exists()


def test_per_seed_table_reports_smallest_cluster():
    labels = np.array([0] * 97 + [1] * 2 + [2])
    result = _benchmark.Result("X", 3, 1.5, labels, {"ACC": 0.5})
    header, rows = _benchmark.per_seed_table([result])
    row = dict(zip(header, rows[0], strict=True))
    assert row["clusters found"] == "3"
    assert row["smallest cluster"] == "1.0%"
    assert row["ACC"] == "0.5000"


def test_machine_description_names_cpu_threads_and_device(tmp_path, monkeypatch):
    text = _benchmark.machine_description()
    assert "CPUs (" in text and "thread(s)" in text and "device " in text
    assert torch.backends.cpu.get_cpu_capability() in text
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\n")
    assert _benchmark._cpu_model(cpuinfo) == "Test CPU 9000"
    monkeypatch.setattr(_benchmark.platform, "processor", lambda: "")
    assert _benchmark._cpu_model(tmp_path / "missing") == "unknown CPU"
