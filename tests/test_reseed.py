"""Re-seeding of starved clusters (sknclust/_reseed.py)."""

import numpy as np
import pytest
import torch

from sknclust._reseed import (
    merge_plan,
    redundant_pair,
    split_axis,
    split_head,
    starved_pairs,
    view_swap_rate,
)


def test_starved_pairs_pair_each_starved_cluster_with_a_large_one():
    # Sizes 50, 30, 0, 19, 1 of 100 rows: clusters 2 (empty) and 4 (1%) fall
    # under 0.2/5 = 4%; they take the two largest clusters, largest first.
    labels = torch.tensor([0] * 50 + [1] * 30 + [3] * 19 + [4])
    assert starved_pairs(labels, 5) == [(2, 0), (4, 1)]
    assert starved_pairs(torch.tensor([0, 1, 2] * 10), 3) == []


def test_split_axis_separates_two_groups():
    rng = np.random.default_rng(0)
    left = rng.normal(size=(40, 3)) + [-5, 0, 0]
    right = rng.normal(size=(60, 3)) + [5, 0, 0]
    points = torch.as_tensor(np.vstack([left, right]), dtype=torch.float32)
    centre, axis, side = split_axis(points)
    assert abs(float(axis[0])) > 0.99  # the axis joins the two groups
    assert float(axis.norm()) == pytest.approx(1.0)
    # Each group lies wholly on one side, the two on different sides.
    assert side[:40].all() != side[40:].all()
    assert side[:40].all() == side[:40].any() and side[40:].all() == side[40:].any()
    assert torch.allclose(centre, points.mean(0))


def test_split_head_gives_each_logit_one_half():
    # Two groups apart along the first input; logit 1 varies along the last
    # one only and wins every row, so cluster 2 is empty.
    rng = np.random.default_rng(1)
    h = rng.normal(size=(60, 4))
    h[:30, 0] -= 5
    h[30:, 0] += 5
    h = torch.as_tensor(h, dtype=torch.float32)
    head = torch.nn.Linear(4, 3)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[1] = 10.0
        head.weight[1, 3] = 1.0
        split_head(head, h, 2, 1)
        labels = head(h).argmax(1)
    halves = {
        tuple(labels[:30].unique().tolist()),
        tuple(labels[30:].unique().tolist()),
    }
    assert halves == {(1,), (2,)}


def test_a_redundant_pair_stands_out_against_other_pairs():
    rate = np.array(
        [
            [0.0, 0.10, 0.01, 0.0],
            [0.10, 0.0, 0.0, 0.0],
            [0.01, 0.0, 0.0, 0.05],
            [0.0, 0.0, 0.05, 0.0],
        ]
    )
    # (0, 1) swap ten times what 0 swaps with 2; (2, 3) only five times.
    assert redundant_pair(rate) == (0, 1)
    rate[0, 1] = rate[1, 0] = 0.07
    assert redundant_pair(rate) is None
    # Under the bar however much it stands out.
    assert redundant_pair(np.array([[0, 0.02, 0], [0.02, 0, 0], [0, 0, 0]])) is None
    # Two clusters: no third one to compare with or to re-seed from.
    assert redundant_pair(np.array([[0, 0.5], [0.5, 0]])) is None


def test_merge_plan_joins_the_smaller_half_and_splits_the_largest_other():
    rate = torch.tensor(
        [
            [0.0, 0.10, 0.01, 0.0],
            [0.10, 0.0, 0.0, 0.0],
            [0.01, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
        ]
    )
    # Clusters 0 and 1 hold one class; 1 is the smaller, 3 the largest other.
    labels = torch.tensor([0] * 5 + [1] * 3 + [2] * 4 + [3] * 6)
    assert merge_plan(rate, labels, 4) == (1, 0, 3)
    # A donor with a single member cannot be split.
    labels = torch.tensor([0] * 5 + [1] * 3 + [2] + [3])
    assert merge_plan(rate, labels, 4) is None
    # No pair stands out: nothing to merge.
    rate[0, 1] = rate[1, 0] = 0.05
    assert merge_plan(rate, labels, 4) is None


def test_view_swap_rate_counts_crossings_both_ways():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
    # One view of cluster 0 lands in 1, one of 1 in 0, one of 2 in 0.
    view_labels = torch.tensor([0, 0, 0, 1, 0, 1, 0, 2])
    rate = view_swap_rate(labels, view_labels, 3)
    torch.testing.assert_close(rate, rate.T)
    # (1 + 1) crossings over 4 + 2 rows; (0 + 1) over 4 + 2; none between 1, 2.
    assert rate[0, 1] == pytest.approx(2 / 6)
    assert rate[0, 2] == pytest.approx(1 / 6)
    assert rate[1, 2] == 0
