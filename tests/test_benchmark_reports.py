"""Merging a partial benchmark rerun into its report keeps every row attributed."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from run_defaults import merge_reports  # noqa: E402


def _report(command, date, estimators):
    return {
        "command": command,
        "date": date,
        "results": [{"estimator": e, "seed": s} for e in estimators for s in (0, 1)],
    }


def test_merge_keeps_other_rows_and_names_their_command_and_machine():
    old = {**_report("first", "d1", ["A", "B", "C"]), "machine": "m1"}
    merged = merge_reports(old, _report("second", "d2", ["B"]))

    assert sorted({r["estimator"] for r in merged["results"]}) == ["A", "B", "C"]
    assert [r for r in merged["results"] if r["estimator"] == "B"] == [
        {"estimator": "B", "seed": 0},
        {"estimator": "B", "seed": 1},
    ]
    assert merged["command"] == "second"
    assert merged["earlier"] == [
        {"command": "first", "machine": "m1", "date": "d1", "estimators": ["A", "C"]}
    ]


def test_merge_drops_commands_whose_rows_were_all_rerun():
    old = _report("first", "d1", ["A", "B", "C"])
    once = merge_reports(old, _report("second", "d2", ["B"]))
    twice = merge_reports(once, _report("third", "d3", ["A", "C"]))

    # "first" no longer holds a row; "second" still holds B's.
    assert twice["earlier"] == [
        {"command": "second", "date": "d2", "estimators": ["B"]}
    ]
    assert sorted({r["estimator"] for r in twice["results"]}) == ["A", "B", "C"]


def test_merge_narrows_an_earlier_command_to_the_rows_it_still_holds():
    old = _report("first", "d1", ["A", "B", "C"])
    once = merge_reports(old, _report("second", "d2", ["B"]))
    twice = merge_reports(once, _report("third", "d3", ["C"]))

    assert twice["earlier"] == [
        {"command": "first", "date": "d1", "estimators": ["A"]},
        {"command": "second", "date": "d2", "estimators": ["B"]},
    ]


def test_stream_rerun_attributes_kept_result_and_memory_rows():
    from argparse import Namespace

    from run_partial_fit import _keep_other_rows

    old = {
        "command": "first",
        "machine": "m1",
        "date": "d1",
        "results": [{"estimator": e, "fit_ACC": 0.0} for e in ("A", "B", "C")],
        "memory": [{"estimator": "B"}],
    }
    report = {"results": [{"estimator": "C"}], "memory": []}
    args = Namespace(estimators=["C"], memory_estimators=[])
    _keep_other_rows(report, old, args, {"A": 0.9, "B": 0.8})

    assert report["results"] == [
        {"estimator": "C"},
        {"estimator": "A", "fit_ACC": 0.9},
        {"estimator": "B", "fit_ACC": 0.8},
    ]
    assert report["memory"] == [{"estimator": "B"}]
    assert report["earlier"] == [
        {
            "command": "first",
            "machine": "m1",
            "date": "d1",
            "estimators": ["A", "B", "B (memory)"],
        }
    ]


def test_stream_rerun_of_accuracy_keeps_memory_attributed_to_its_run():
    # B's accuracy came from "first", its memory from "second"; a third run
    # redoes B's accuracy only. The memory row stays with "second", and
    # "first" no longer claims any row of B.
    from argparse import Namespace

    from run_partial_fit import _keep_other_rows

    old = {
        "command": "second",
        "date": "d2",
        "results": [{"estimator": "B", "fit_ACC": 0.0}],
        "memory": [{"estimator": "B"}],
        "earlier": [{"command": "first", "date": "d1", "estimators": ["B"]}],
    }
    report = {"results": [{"estimator": "B"}], "memory": []}
    args = Namespace(estimators=["B"], memory_estimators=[])
    _keep_other_rows(report, old, args, {})

    assert report["memory"] == [{"estimator": "B"}]
    assert report["earlier"] == [
        {"command": "second", "date": "d2", "estimators": ["B (memory)"]}
    ]


def test_thread_table_compares_only_rows_from_one_machine(tmp_path):
    from make_page import THREADS1, _machine_lines, _threads_section

    def report(machine, earlier):
        rows = [
            {"estimator": e, "seed": 0, "ACC": acc, "NMI": 0.0}
            for e, acc in (("DeepKMeans", 0.8), ("NeuralMixtureEM", 0.9))
        ]
        for r in rows:
            r.update(fit_seconds=1.0, smallest_cluster=0.1)
        return {
            "command": "c",
            "machine": machine,
            "date": "d",
            "seeds": [0],
            "results": rows,
            "earlier": earlier,
        }

    (tmp_path / THREADS1).mkdir()
    # Both DeepKMeans rows come from machine m1; NeuralMixtureEM's two-thread
    # row was rerun on m2.
    # The thread count in a machine's description does not make it another.
    m1, m2 = "m1, torch with {} thread(s)", "m2, torch with {} thread(s)"
    earlier = {"command": "a", "machine": m1.format(2), "date": "d"}
    two = report(m2.format(2), [{**earlier, "estimators": ["DeepKMeans"]}])
    (tmp_path / "usps_images.json").write_text(json.dumps(two))
    one = report(m1.format(1), [])
    (tmp_path / THREADS1 / "usps_images.json").write_text(json.dumps(one))

    text = "\n".join(_threads_section(tmp_path))
    assert "| DeepKMeans |" in text
    assert "| NeuralMixtureEM |" not in text
    assert "Not compared: NeuralMixtureEM" in text
    # The two-thread table itself says where its rows ran.
    assert _machine_lines(two) == [
        "Rows of DeepKMeans: m1, torch with 2 thread(s).",
        "Rows of NeuralMixtureEM: m2, torch with 2 thread(s).",
    ]
    assert _machine_lines(one) == []


def test_table_names_its_machine_when_the_page_has_several():
    from make_page import _machine_lines

    rows = [{"estimator": e, "seed": 0} for e in ("DeepKMeans", "GMVAEClustering")]
    report = {"machine": "m1", "date": "d2", "results": rows}
    # GMVAEClustering's row was kept from an earlier run on the same machine.
    earlier = {"machine": "m1", "date": "d1", "estimators": ["GMVAEClustering"]}
    report["earlier"] = [earlier]
    # One machine on the whole page: the page's header says it, the table not.
    assert _machine_lines(report, page_machines=1) == []
    # Several on the page: the table says which one ran it, and when.
    assert _machine_lines(report, page_machines=2) == ["Machine: m1; d1, d2."]


def test_stream_table_compares_with_the_fit_the_mnist_table_shows(tmp_path):
    from make_page import _partial_fit_section

    stream = {
        "chunks": 10,
        "chunk_size": 7000,
        "passes": 2,
        "seed": 0,
        "command": "c",
        "machine": "m",
        "date": "d",
        "results": [
            # fit's accuracy when the stream ran, before the MNIST rerun.
            {
                "estimator": e,
                "partial_fit_ACC": 0.8,
                "fit_ACC": 0.7,
                "partial_fit_seconds": 1,
            }
            for e in ("DeepKMeans", "GMVAEClustering")
        ],
    }
    (tmp_path / "partial_fit.json").write_text(json.dumps(stream))
    fitted = [
        {"estimator": "DeepKMeans", "seed": seed, "ACC": acc}
        for seed, acc in ((0, 0.9), (1, 0.95))
    ]
    (tmp_path / "mnist_images.json").write_text(json.dumps({"results": fitted}))

    text = "\n".join(_partial_fit_section(tmp_path))
    # The stream's seed in the MNIST table now; the stored value where the
    # table has no row for the estimator.
    assert "| DeepKMeans | 0.800 | 0.900 |" in text
    assert "| GMVAEClustering | 0.800 | 0.700 |" in text
