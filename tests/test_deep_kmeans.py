"""DeepKMeans-specific behaviour: strategies, schedules, centroids, score."""

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from sknclust import DeepKMeans
from sknclust._deep_kmeans import dkm_alpha_schedule

FAST = dict(hidden_dims=(16,), pretrain_epochs=15, max_epochs=15, batch_size=32)


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(n_samples=150, centers=3, n_features=6, random_state=2)


@pytest.mark.parametrize("strategy", ["soft", "alternating", "gumbel"])
def test_strategies_recover_blobs(blobs, strategy):
    X, y = blobs
    est = DeepKMeans(3, strategy=strategy, random_state=0, **FAST).fit(X)
    assert adjusted_rand_score(y, est.labels_) > 0.9
    assert est.cluster_centers_.shape == (3, 3)
    # labels are the nearest centroid in the embedding
    Z = est.transform(X)
    nearest = ((Z[:, None, :] - est.cluster_centers_[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(nearest, est.labels_)


def test_alpha_schedule_follows_the_paper():
    alphas = dkm_alpha_schedule(0.1, 40)
    np.testing.assert_allclose(alphas[:4], [0.1, 0.42, 0.75, 1.08], atol=0.01)
    assert math.isclose(alphas[9], 3.2, rel_tol=0.05)
    assert math.isclose(alphas[39], 28.1, rel_tol=0.05)


def test_embedding_dim_defaults_to_n_clusters(blobs):
    X, _ = blobs
    assert DeepKMeans(3, random_state=0, **FAST).fit(X).transform(X).shape == (150, 3)
    est = DeepKMeans(3, embedding_dim=5, random_state=0, **FAST).fit(X)
    assert est.transform(X).shape == (150, 5)
    assert est.get_feature_names_out().shape == (5,)


def test_alternating_moves_centroids_without_gradients(blobs):
    X, _ = blobs
    est = DeepKMeans(3, strategy="alternating", random_state=0, **FAST).fit(X)
    assert not est.module_.centroids.requires_grad
    frozen = DeepKMeans(
        3, strategy="alternating", random_state=0, **{**FAST, "max_epochs": 1}
    ).fit(X)
    assert not np.allclose(est.cluster_centers_, frozen.cluster_centers_)


def test_corruption_changes_pretraining(blobs):
    X, _ = blobs
    clean = DeepKMeans(3, corruption=0.0, random_state=0, **FAST).fit(X)
    noisy = DeepKMeans(3, corruption=0.5, random_state=0, **FAST).fit(X)
    assert not np.allclose(clean.transform(X), noisy.transform(X))
    with pytest.raises(ValueError, match="corruption"):
        DeepKMeans(3, corruption=1.0, **FAST).fit(X)


@pytest.mark.parametrize("strategy", ["soft", "alternating", "gumbel"])
def test_augment_trains_on_views(blobs, strategy):
    X, y = blobs
    est = DeepKMeans(3, strategy=strategy, augment=True, random_state=0, **FAST)
    seen = []
    original = est._augment

    def spy(x):
        seen.append(x.shape[0])
        return original(x)

    est._augment = spy
    est.fit(X)
    # one view per batch: 5 batches of 32 rows, pretraining and clustering
    assert len(seen) == 5 * (len(est.history_["pretrain"]) + est.n_iter_)
    assert adjusted_rand_score(y, est.labels_) > 0.9


def test_augmented_alternating_loss_by_hand(blobs):
    X, _ = blobs
    est = DeepKMeans(3, augment=True, corruption=0.0, random_state=0, **FAST).fit(X)
    module = est.module_
    x = torch.as_tensor(X[:20], dtype=torch.float32)
    # A view far from the rows: its own nearest centroids would differ.
    est._augment = lambda rows: rows + 5.0
    est._counts = torch.ones(3)
    with torch.no_grad():
        labels = module.sq_distances(module.autoencoder.encoder(x)).argmin(1)
        z, x_hat = module(x + 5.0)
        d = ((z - module.centroids[labels]) ** 2).sum(1) / est._distance_scale
        recon = ((x + 5.0 - x_hat) ** 2).sum(1) / est._recon_scale
        expected = (recon + 0.5 * d).mean()
        assert not torch.equal(labels, module.sq_distances(z).argmin(1))
        loss = est._alternating_loss(module, x, None)
    torch.testing.assert_close(loss, expected)


def test_score_prefers_a_trained_model(blobs):
    X, _ = blobs
    trained = DeepKMeans(3, random_state=0, **FAST).fit(X)
    barely = DeepKMeans(
        3, random_state=0, **{**FAST, "pretrain_epochs": 0, "max_epochs": 1}
    ).fit(X)
    assert np.isfinite(trained.score(X))
    assert trained.score(X) > barely.score(X)


def test_predict_proba_softness_follows_alpha(blobs):
    X, _ = blobs
    proba = DeepKMeans(3, random_state=0, **FAST).fit(X).predict_proba(X)
    assert proba.max(1).mean() > 0.9


@pytest.mark.parametrize(
    "params, match",
    [
        ({"strategy": "hard"}, "strategy"),
        ({"alpha": 0}, "alpha"),
        ({"cluster_weight": -1}, "cluster_weight"),
        ({"hidden_dims": (16, 0)}, "hidden_dims"),
        ({"hidden_dims": [16]}, "hidden_dims"),
    ],
)
def test_bad_parameters(blobs, params, match):
    with pytest.raises(ValueError, match=match):
        DeepKMeans(3, **{**FAST, **params}).fit(blobs[0])
