"""The partition of the neighbour graph that starts GMVAEClustering and
NeuralMixtureEM on rows without image_shape."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits, make_blobs
from sklearn.metrics import adjusted_rand_score

from sknclust._graph import merge_parts, modularity, modularity_partition
from sknclust.metrics import clustering_accuracy


def _graph(edges, n):
    rows, cols = np.array(edges).T
    graph = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return (graph + graph.T).tocsr()


def test_modularity_of_two_triangles_joined_by_an_edge():
    # 7 edges; each triangle holds 3 and has degree 7: Q = 2 (3/7 - 1/4) = 5/14.
    graph = _graph([(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3)], 6)
    assert modularity(np.array([0, 0, 0, 1, 1, 1]), graph) == pytest.approx(5 / 14)
    assert modularity(np.zeros(6, dtype=int), graph) == pytest.approx(0.0)


def test_merge_parts_rejoins_the_pieces_of_each_clique():
    # Two cliques of six nodes, each cut into three pieces of two.
    edges = [
        (i, j) for c in (0, 6) for i in range(c, c + 6) for j in range(i + 1, c + 6)
    ]
    graph = _graph(edges, 12)
    pieces = np.repeat(np.arange(6), 2)
    merged = merge_parts(pieces, graph, 2)
    assert adjusted_rand_score(np.repeat([0, 1], 6), merged) == 1.0
    assert modularity(merged, graph) > modularity(pieces, graph)


def test_modularity_partition_of_blobs_is_exact_and_seeded_only_by_the_solver():
    X, y = make_blobs(n_samples=300, centers=4, n_features=10, random_state=0)
    labels = modularity_partition(X, 4, 10, 0)
    assert adjusted_rand_score(y, labels) == 1.0
    np.testing.assert_array_equal(modularity_partition(X, 4, 10, 0), labels)


def test_modularity_partition_follows_the_classes_of_digits():
    # K-way spectral parts of this graph score 0.80: the ones are cut in pieces
    # while other classes share a part; the merged over-segmentation keeps
    # the classes apart.
    X, y = load_digits(return_X_y=True)
    labels = modularity_partition(X / 16, 10, 10, 0)
    assert len(np.unique(labels)) == 10
    assert clustering_accuracy(y, labels) >= 0.9


def _ring_and_two_groups(group_size):
    """A ring of 120 points (radius 10) and two tight groups of
    ``group_size`` points far from it, in that order."""
    angles = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    ring = 10 * np.c_[np.cos(angles), np.sin(angles)]
    rng = np.random.RandomState(0)
    groups = [
        np.array(c) + 0.05 * rng.normal(size=(group_size, 2))
        for c in ((30, 0), (0, 30))
    ]
    return np.concatenate([ring, *groups])


def test_modularity_partition_keeps_separated_groups_of_unequal_sizes():
    # Modularity prefers halving the ring and joining the two groups of 15
    # (0.61 against 0.34 for the three groups, which cut no edge): its prior
    # for parts of equal size. The partition that cuts no edge is kept.
    labels = modularity_partition(_ring_and_two_groups(15), 3, 10, 0)
    assert adjusted_rand_score(np.repeat([0, 1, 2], [120, 15, 15]), labels) == 1.0


def test_modularity_partition_holds_no_starved_part_of_a_cleaner_cut():
    # Groups of 6 points (4.5% of the rows, under a fifth of an equal
    # share): the partition that cuts no edge would make them clusters that
    # training re-seeds at once, so modularity's pick stands, with the two
    # groups in one part.
    labels = modularity_partition(_ring_and_two_groups(6), 3, 4, 0)
    assert len(np.unique(labels[-12:])) == 1
    assert np.bincount(labels).min() >= 0.2 * 132 / 3
