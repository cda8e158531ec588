"""Choosing one of several training runs (sknclust._runs)."""

import numpy as np
import pytest

from sknclust._runs import agreements, check_index, select_run

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
    "losses, partitions, selection, kept",
    [
        # The merged run has the lowest loss; the agreeing runs win.
        ([1.0, 2.0, 1.5], [MERGED, TRUTH, RENAMED], "agreement", 2),
        ([1.0, 2.0, 1.5], [MERGED, TRUTH, RENAMED], "loss", 0),
        # Two runs: agreement cannot pick, the loss decides.
        ([2.0, 1.0], [TRUTH, MERGED], "agreement", 1),
        # All agree: the lowest loss.
        ([3.0, 1.0, 2.0], [TRUTH, RENAMED, TRUTH], "agreement", 1),
    ],
)
def test_select_run(losses, partitions, selection, kept):
    assert select_run(losses, partitions, selection) == kept
