"""Re-seeding of starved clusters (sknclust/_reseed.py)."""

import numpy as np
import pytest
import torch

from sknclust._reseed import split_axis, split_head, starved_pairs


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
