"""Choosing one of several training runs (sknclust._runs)."""

import numpy as np
import pytest
import torch

from sknclust._runs import RunSelection, agreements, check_index, select_run

TRUTH = np.arange(60) % 3
RENAMED = (TRUTH + 1) % 3
MERGED = np.where(TRUTH == 2, 1, 0)


def test_check_index_is_evenly_spaced_and_bounded():
    np.testing.assert_array_equal(check_index(5, 10).numpy(), np.arange(5))
    np.testing.assert_array_equal(
        check_index(1001, 11).numpy(), np.arange(0, 1001, 100)
    )
    index = check_index(1000, 7).numpy()
    assert len(index) == 7 and index[0] == 0 and index[-1] == 999
    assert (np.diff(index) > 0).all()


def test_agreements_are_mean_nmi_with_the_others():
    values = agreements([TRUTH, RENAMED, MERGED])
    # TRUTH and RENAMED agree perfectly; MERGED agrees less with both.
    assert values[0] == pytest.approx(values[1])
    assert values[2] < values[0] < 1.0


@pytest.mark.parametrize(
    "losses, partitions, kept",
    [
        # The merged run has the lowest loss; the agreeing runs win.
        ([1.0, 2.0, 1.5], [MERGED, TRUTH, RENAMED], 2),
        # Two runs: agreement cannot pick, the loss decides.
        ([2.0, 1.0], [TRUTH, MERGED], 1),
        # All agree: the lowest loss.
        ([3.0, 1.0, 2.0], [TRUTH, RENAMED, TRUTH], 1),
    ],
)
def test_select_run(losses, partitions, kept):
    assert select_run(losses, partitions) == kept


class _Estimator:
    """What RunSelection needs of an estimator: a network it can rebuild."""

    n_features_in_ = 3
    device_ = "cpu"

    def __init__(self):
        self.built = 0
        self.module_ = self._build_module(3)

    def _build_module(self, n_features):
        module = torch.nn.Linear(n_features, 1)
        with torch.no_grad():
            module.bias.fill_(self.built)  # the number of the run
        self.built += 1
        return module


def _scripted(losses, partitions):
    """Training and partition callbacks reporting each run's set loss and labels."""
    estimator = _Estimator()
    runs = []

    def train_run():
        run = len(runs)
        runs.append(int(estimator.module_.bias.detach()))
        return [{"epoch": 1, "train_loss": losses[run]}]

    def partition(training_set):
        return partitions[len(runs) - 1]

    return estimator, runs, train_run, partition


@pytest.mark.parametrize(
    "losses, partitions, kept",
    [
        # Runs 1 to 3 agree; of those, run 1 has the lowest loss.
        ([1.0, 2.0, 3.0, 2.5], [MERGED, TRUTH, RENAMED, TRUTH], 1),
        # Two runs: the lower loss.
        ([2.0, 1.0], [TRUTH, MERGED], 1),
        ([1.0], [MERGED], 0),
    ],
)
def test_run_selection_trains_fresh_networks_and_keeps_one(losses, partitions, kept):
    estimator, runs, train_run, partition = _scripted(losses, partitions)
    history = RunSelection(len(losses)).fit(estimator, train_run, partition, None)
    # Every run trained its own, freshly built network.
    assert runs == list(range(len(losses)))
    # The kept run's weights are back in module_, and its history returned.
    assert float(estimator.module_.bias.detach()) == kept
    assert history == [{"epoch": 1, "train_loss": losses[kept]}]
