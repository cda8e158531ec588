"""The spectral step before k-means (sknclust/_spectral.py)."""

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics import adjusted_rand_score

from sknclust._spectral import spectral_partition


def test_follows_the_shape_of_classes_where_kmeans_cannot():
    # Two interleaved half-circles: no pair of balls separates them, their
    # nearest-neighbour graph does. 600 rows take the sparse eigensolver.
    X, y = make_moons(600, noise=0.05, random_state=0)
    labels = spectral_partition(X, 2, random_state=0)
    assert adjusted_rand_score(y, labels) > 0.95
    kmeans = KMeans(2, n_init=10, random_state=0).fit_predict(X)
    assert adjusted_rand_score(y, kmeans) < 0.5


def test_separates_a_graph_in_pieces():
    # Far-apart blobs leave the graph in three pieces, and the leading
    # eigenvalue is threefold: all three eigenvectors are needed.
    X, y = make_blobs(150, centers=3, n_features=6, random_state=2)
    assert adjusted_rand_score(y, spectral_partition(X, 3, random_state=0)) == 1.0


def test_small_inputs_populate_every_cluster():
    rng = np.random.default_rng(0)
    for n in (4, 5, 12):
        labels = spectral_partition(rng.normal(size=(n, 3)), 4, random_state=0)
        assert labels.shape == (n,)
        assert set(labels) == set(range(4))


def test_same_seed_same_partition():
    X, _ = make_blobs(800, centers=5, n_features=4, cluster_std=2.0, random_state=1)
    first = spectral_partition(X, 5, random_state=3)
    np.testing.assert_array_equal(first, spectral_partition(X, 5, random_state=3))
