"""Tests of sknclust.metrics.clustering_accuracy."""

import itertools

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from sknclust.metrics import clustering_accuracy


def _brute_force_accuracy(labels_true, labels_pred):
    """Best accuracy over every injective cluster -> class map (small cases)."""
    classes, clusters = np.unique(labels_true), np.unique(labels_pred)
    best = 0
    # Pad the classes with "no class" slots so every cluster can stay unmatched.
    slots = list(classes) + [None] * len(clusters)
    for image in itertools.permutations(slots, len(clusters)):
        mapping = dict(zip(clusters, image, strict=True))
        hits = sum(
            mapping[p] == t for t, p in zip(labels_true, labels_pred, strict=True)
        )
        best = max(best, hits)
    return best / len(labels_true)


def test_permuted_labels_score_one():
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    permuted = np.array([2, 0, 1])[y]
    assert clustering_accuracy(y, permuted) == 1.0


def test_hand_computed_value():
    # Cluster 0 -> class 0 (2 hits), cluster 1 -> class 1 (3 hits): 5 of 6.
    assert clustering_accuracy([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1]) == pytest.approx(
        5 / 6
    )


def test_more_clusters_than_classes_count_unmatched_as_errors():
    # Only two of the four singleton clusters can be matched.
    assert clustering_accuracy([0, 0, 1, 1], [0, 1, 2, 3]) == 0.5


def test_fewer_clusters_than_classes():
    assert clustering_accuracy([0, 1, 2, 3], [7, 7, 7, 7]) == 0.25
    assert clustering_accuracy([0, 0, 0, 1, 2], [5, 5, 5, 6, 6]) == 0.8


def test_string_and_float_labels():
    assert clustering_accuracy(["a", "a", "b", "c"], [1.0, 1.0, 2.0, 2.0]) == 0.75


@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=25)
    pred = rng.integers(0, 2 + seed % 3, size=25)  # 2, 3 or 4 clusters
    assert clustering_accuracy(y, pred) == pytest.approx(_brute_force_accuracy(y, pred))


def test_symmetric_and_equal_to_accuracy_when_aligned():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=200)
    noisy = np.where(rng.random(200) < 0.2, rng.integers(0, 4, size=200), y)
    assert clustering_accuracy(y, noisy) == pytest.approx(clustering_accuracy(noisy, y))
    # Mostly-correct labels are already best aligned with the identity map.
    assert clustering_accuracy(y, noisy) == pytest.approx(accuracy_score(y, noisy))


def test_returns_python_float():
    assert type(clustering_accuracy([0, 1], [1, 0])) is float


@pytest.mark.parametrize(
    "labels_true, labels_pred, match",
    [
        ([0, 1, 1], [0, 1], "inconsistent numbers of samples"),
        ([[0, 1], [1, 0]], [0, 1], "1D"),
        ([], [], "at least one sample"),
    ],
)
def test_invalid_input(labels_true, labels_pred, match):
    with pytest.raises(ValueError, match=match):
        clustering_accuracy(labels_true, labels_pred)
