"""DeepKMeans-specific behaviour: strategies, schedules, centroids, views, score."""

import copy
import math

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from sknclust import DeepKMeans
from sknclust._deep_kmeans import (
    _alternating_loss,
    _ClusterState,
    _start_centers,
    _update_centroids,
    dkm_alpha_schedule,
)

FAST = dict(hidden_dims=(16,), pretrain_epochs=15, max_epochs=15, batch_size=32)


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(n_samples=150, centers=3, n_features=6, random_state=2)


@pytest.mark.parametrize("strategy", ["soft", "alternating", "gumbel"])
def test_strategies_recover_blobs(blobs, strategy):
    X, y = blobs
    est = DeepKMeans(3, strategy=strategy, random_state=0, **FAST).fit(X)
    assert adjusted_rand_score(y, est.labels_) > 0.9
    assert est.cluster_centers_.shape == (3, 10)
    # labels are the nearest centroid in the embedding
    Z = est.transform(X)
    nearest = ((Z[:, None, :] - est.cluster_centers_[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(nearest, est.labels_)
    # and each centroid sits at the centre of its cluster's embeddings
    means = np.stack([Z[est.labels_ == k].mean(0) for k in range(3)])
    gaps = np.linalg.norm(est.cluster_centers_[:, None] - est.cluster_centers_, axis=2)
    offsets = np.linalg.norm(means - est.cluster_centers_, axis=1)
    assert offsets.max() < 0.1 * gaps[gaps > 0].min()


def test_alpha_schedule_follows_the_paper():
    alphas = dkm_alpha_schedule(0.1, 40)
    np.testing.assert_allclose(alphas[:4], [0.1, 0.42, 0.75, 1.08], atol=0.01)
    assert math.isclose(alphas[9], 3.2, rel_tol=0.05)
    assert math.isclose(alphas[39], 28.1, rel_tol=0.05)


def test_embedding_dim(blobs):
    X, _ = blobs
    assert DeepKMeans(3, random_state=0, **FAST).fit(X).transform(X).shape == (150, 10)
    est = DeepKMeans(3, embedding_dim=5, random_state=0, **FAST).fit(X)
    assert est.transform(X).shape == (150, 5)
    assert est.cluster_centers_.shape == (3, 5)
    assert est.get_feature_names_out().shape == (5,)


def test_online_centroid_step_is_a_running_mean():
    # DCN's step: each centroid is the mean of every embedding assigned to it
    # so far, counted from its count at the start.
    module = torch.nn.Module()
    module.centroids = torch.nn.Parameter(torch.zeros(2, 2), requires_grad=False)
    counts = torch.zeros(2)
    z = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    _update_centroids(module, z, torch.tensor([0, 0, 1]), counts)
    torch.testing.assert_close(module.centroids.data, torch.tensor([[2.0, 0], [0, 4]]))
    # Centroid 1 gets no row and stays; centroid 0 averages three rows.
    _update_centroids(module, torch.tensor([[5.0, 3.0]]), torch.tensor([0]), counts)
    torch.testing.assert_close(module.centroids.data, torch.tensor([[3.0, 1], [0, 4]]))
    torch.testing.assert_close(counts, torch.tensor([3.0, 1.0]))


def test_alternating_trains_centroids_without_gradients(blobs, monkeypatch):
    X, _ = blobs
    steps = []
    monkeypatch.setattr(
        "sknclust._deep_kmeans._update_centroids",
        lambda *args: steps.append(args[0].centroids.requires_grad),
    )
    est = DeepKMeans(3, strategy="alternating", random_state=0, **FAST).fit(X)
    # One online step per batch (5 batches of at most 32 rows), never a gradient.
    assert len(steps) == 5 * est.n_iter_ and not any(steps)
    assert not est.module_.centroids.requires_grad


def test_alternating_loss_pulls_the_view_to_the_rows_centroid(blobs):
    X, _ = blobs
    est = DeepKMeans(3, random_state=0, **FAST).fit(X)
    module = copy.deepcopy(est.module_)
    x = torch.as_tensor(X[:20], dtype=torch.float32)
    state = _ClusterState(None)
    # A view far from the rows: its own nearest centroids would differ.
    state.view = lambda rows: rows + 5.0
    state.distance_scale, state.recon_scale = 2.0, 3.0
    state.counts = torch.ones(3)
    with torch.no_grad():
        labels = module.sq_distances(module.autoencoder.encoder(x)).argmin(1)
        z, x_hat = module(x + 5.0)
        d = ((z - module.centroids[labels]) ** 2).sum(1) / 2.0
        recon = ((x + 5.0 - x_hat) ** 2).sum(1) / 3.0
        expected = (recon + 0.7 * 0.5 * d).mean()
        assert not torch.equal(labels, module.sq_distances(z).argmin(1))
        loss = _alternating_loss(module, x, state, 0.7)
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("strategy", ["soft", "alternating", "gumbel"])
def test_image_rows_train_on_warps_with_the_mlp(strategy, record_warps, two_shapes):
    # Warps in every pretraining step; in the clustering phase only
    # "alternating" pulls a warp to the centroid of its image.
    import sknclust._deep_kmeans as module

    warped = record_warps(module)
    X, y = two_shapes
    est = DeepKMeans(
        2, strategy=strategy, image_shape=(8, 8), random_state=0, **FAST
    ).fit(X)
    batches = 3  # 80 rows in batches of 32
    cluster = est.n_iter_ if strategy == "alternating" else 0
    assert len(warped) == batches * (len(est.history_["pretrain"]) + cluster)
    assert set(warped) == {(1, 8, 8)}
    layers = list(est.module_.modules())
    assert not any(isinstance(m, torch.nn.Conv2d) for m in layers)
    assert any(isinstance(m, torch.nn.Linear) and m.out_features == 16 for m in layers)
    assert adjusted_rand_score(y, est.labels_) == 1.0


def test_non_image_rows_are_not_warped(blobs, monkeypatch):
    monkeypatch.setattr(
        "sknclust._deep_kmeans.image_augment",
        lambda *a, **k: pytest.fail("warped a non-image row"),
    )
    DeepKMeans(3, strategy="alternating", random_state=0, **FAST).fit(blobs[0])


def test_pretraining_stops_once_the_loss_stalls(blobs):
    X, _ = blobs
    est = DeepKMeans(3, random_state=0, **{**FAST, "pretrain_epochs": 300}).fit(X)
    pretrain = [row["train_loss"] for row in est.history_["pretrain"]]
    assert 10 < len(pretrain) < 300
    assert pretrain[-1] < pretrain[0]
    # The clustering phase runs every epoch it is given.
    assert len(est.history_["cluster"]) == est.n_iter_ == 15
    skipped = DeepKMeans(3, random_state=0, **{**FAST, "pretrain_epochs": 0}).fit(X)
    assert "pretrain" not in skipped.history_


def test_score_prefers_a_trained_model(blobs):
    X, _ = blobs
    trained = DeepKMeans(3, random_state=0, **FAST).fit(X)
    barely = DeepKMeans(
        3, random_state=0, **{**FAST, "pretrain_epochs": 0, "max_epochs": 1}
    ).fit(X)
    assert np.isfinite(trained.score(X))
    assert trained.score(X) > barely.score(X)


def test_predict_proba_is_confident_after_annealing(blobs):
    X, _ = blobs
    proba = DeepKMeans(3, random_state=0, **FAST).fit(X).predict_proba(X)
    assert proba.max(1).mean() > 0.9


@pytest.mark.parametrize(
    "params, match",
    [
        ({"strategy": "hard"}, "strategy"),
        ({"cluster_weight": -1}, "cluster_weight"),
        ({"embedding_dim": None}, "embedding_dim"),
        ({"embedding_dim": 0}, "embedding_dim"),
        ({"pretrain_epochs": -1}, "pretrain_epochs"),
        ({"hidden_dims": (16, 0)}, "hidden_dims"),
        ({"hidden_dims": [16]}, "hidden_dims"),
    ],
)
def test_bad_parameters(blobs, params, match):
    with pytest.raises(ValueError, match=match):
        DeepKMeans(3, **{**FAST, **params}).fit(blobs[0])


def test_pretraining_length_does_not_follow_max_epochs():
    # max_epochs is the clustering phase's; pretrain_epochs=None keeps its own
    # step budget (at least eleven epochs before it can stop early).
    X, _ = make_blobs(n_samples=40, centers=2, n_features=3, random_state=0)
    est = DeepKMeans(2, hidden_dims=(8,), max_epochs=3, random_state=0).fit(X)
    assert est.n_iter_ == len(est.history_["cluster"]) == 3
    assert len(est.history_["pretrain"]) > 10


@pytest.fixture(scope="module")
def four_shapes():
    """Noisy 8x8 images with one bright half each (top, bottom, left, right),
    40 of each shape, with their labels."""
    halves = np.zeros((4, 8, 8))
    halves[0, :4] = halves[1, 4:] = halves[2, :, :4] = halves[3, :, 4:] = 1
    rows = np.repeat(halves.reshape(4, 64), 40, axis=0)
    noise = np.random.RandomState(0).normal(scale=0.05, size=rows.shape)
    return rows + noise, np.repeat(np.arange(4), 40)


def _check_state(est, X):
    """The training set and fitted state that a clustering epoch's end sees."""
    from sknclust._data import TrainingSet

    training_set = TrainingSet(
        np.asarray(X, dtype=np.float32),
        est._offset,
        est._scale,
        device="cpu",
        batch_size=len(X),
        seed=0,
    )
    state = _ClusterState(est._image_shape)
    state.counts = torch.full((est.n_clusters,), 40.0)
    with torch.no_grad():
        z = est.module_.autoencoder.encoder(training_set.rows(torch.arange(len(X))))
    return training_set, state, z


def _split_left_merge_top_bottom(est, z, y):
    """Centroids with the left-half shape split between two and the top- and
    bottom-half shapes sharing one: no centroid is starved, but warps of a
    left-half image cross between its two halves."""
    with torch.no_grad():
        left = z[y == 2] - z[y == 2].mean(0)
        side = left @ torch.linalg.svd(left)[2][0] > 0
        est.module_.centroids[0] = z[y == 2][side].mean(0)
        est.module_.centroids[1] = z[y == 2][~side].mean(0)
        est.module_.centroids[2] = z[y == 3].mean(0)
        est.module_.centroids[3] = z[y <= 1].mean(0)


@pytest.fixture(scope="module")
def four_shapes_fitted(four_shapes):
    X, y = four_shapes
    est = DeepKMeans(4, image_shape=(8, 8), random_state=0, **FAST).fit(X)
    assert adjusted_rand_score(y, est.labels_) == 1.0
    return est


def test_a_class_split_in_two_is_merged_and_the_shared_cluster_split(
    four_shapes, four_shapes_fitted
):
    X, y = four_shapes
    est = copy.deepcopy(four_shapes_fitted)
    training_set, state, z = _check_state(est, X)
    _split_left_merge_top_bottom(est, z, y)
    broken = est.predict(X)
    assert len(np.unique(broken[y == 2])) == 2
    assert len(np.unique(broken[y <= 1])) == 1
    assert est._repair_split(training_set, z, state)
    assert adjusted_rand_score(y, est.predict(X)) == 1.0
    assert float(state.counts.sum()) == pytest.approx(160.0)


def test_a_sound_partition_is_not_repaired(four_shapes, four_shapes_fitted):
    X, _ = four_shapes
    est = four_shapes_fitted
    training_set, state, z = _check_state(est, X)
    centroids = est.module_.centroids.detach().clone()
    assert not est._repair_split(training_set, z, state)
    torch.testing.assert_close(est.module_.centroids.detach(), centroids)


@pytest.mark.parametrize("image_shape", [None, (8, 8)])
def test_pretraining_of_small_data_stops_at_the_most_epochs(
    blobs, monkeypatch, image_shape
):
    # A budget that no small data set spends: the most epochs bind, with
    # image warps or without.
    monkeypatch.setattr("sknclust._deep_kmeans._PRETRAIN_BUDGET", (10**6, 1, 6))
    X, _ = blobs
    X = np.abs(np.resize(X, (len(X), 64)))
    params = {**FAST, "pretrain_epochs": None, "max_epochs": 1}
    est = DeepKMeans(3, image_shape=image_shape, random_state=0, **params).fit(X)
    assert len(est.history_["pretrain"]) == 6


@pytest.mark.parametrize("data_seed", [0, 1])
def test_finds_separated_clusters_of_unequal_sizes(data_seed):
    # 40%, 20%, 10% and 10% of the rows, well apart. A start that favours
    # parts of equal size halves the largest blob and joins the two small
    # ones (ACC 0.66 and 0.74 with modularity's choice alone).
    X, y = make_blobs(
        n_samples=[300, 150, 75, 75], n_features=10, random_state=data_seed
    )
    labels = DeepKMeans(4, random_state=0, **FAST).fit_predict(X)
    assert adjusted_rand_score(y, labels) == 1.0


def test_centroids_start_at_the_parts_of_the_neighbour_graph():
    # Two long parallel stripes: k-means halves both across their length,
    # which holds most of the variance; the neighbour graph keeps each whole.
    rng = np.random.RandomState(0)
    stripes = [np.c_[rng.uniform(-8, 8, 200), rng.normal(c, 0.2, 200)] for c in (-1, 1)]
    Z = np.vstack(stripes)
    kmeans = KMeans(2, n_init=10, random_state=0).fit(Z).cluster_centers_
    assert np.abs(kmeans[:, 1]).max() < 0.5  # k-means' centres: between the stripes
    centers = _start_centers(Z, 2, 0)
    np.testing.assert_allclose(np.sort(centers[:, 1]), [-1, 1], atol=0.05)
    # Too few rows for a graph of two parts: k-means' centroids.
    few = Z[::100]
    expected = KMeans(2, n_init=10, random_state=0).fit(few).cluster_centers_
    np.testing.assert_allclose(_start_centers(few, 2, 0), expected)
