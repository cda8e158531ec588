"""Nearest-neighbour views: the search itself and its use by the estimators."""

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

from sknclust import GMVAEClustering, NeuralMixtureEM, _neighbors
from sknclust._data import TrainingSet
from sknclust._neighbors import (
    AUTOENCODER_EMBEDDING,
    AUTOENCODER_EPOCHS,
    N_COMPONENTS,
    autoencoder_embedding,
    nearest_neighbors,
)


def _training_set(X):
    n_features = X.shape[1]
    return TrainingSet(
        X,
        np.zeros(n_features),
        np.ones(n_features),
        device="cpu",
        batch_size=64,
        seed=0,
    )


def _reference(X, k):
    # Column 0 of scikit-learn's answer is the row itself.
    found = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)[1]
    return found[:, 1:]


def test_exact_below_the_projection_width():
    X = np.random.RandomState(0).randn(700, 12).astype(np.float32)
    found = nearest_neighbors(_training_set(X), 5)
    assert found.dtype == torch.long and found.shape == (700, 5)
    np.testing.assert_array_equal(found.numpy(), _reference(X, 5))


def test_a_row_is_never_its_own_neighbour():
    X = np.random.RandomState(1).randn(50, 3).astype(np.float32)
    found = nearest_neighbors(_training_set(X), 49).numpy()
    assert not (found == np.arange(50)[:, None]).any()
    # Every other row once: all 49 of them.
    np.testing.assert_array_equal(np.sort(found, 1), _others(50))


def _others(n):
    return np.array([[j for j in range(n) if j != i] for i in range(n)])


def test_fewer_rows_than_neighbours():
    X = np.random.RandomState(2).randn(4, 3).astype(np.float32)
    found = nearest_neighbors(_training_set(X), 10)
    assert found.shape == (4, 3)


def test_wide_data_is_searched_on_its_leading_components():
    # 20 informative directions and many of small variance: the projection
    # keeps the neighbours.
    rng = np.random.RandomState(3)
    scale = np.r_[np.full(20, 10.0), np.full(280, 0.1)].astype(np.float32)
    X = rng.randn(400, 300).astype(np.float32) * scale
    assert X.shape[1] > N_COMPONENTS
    found = nearest_neighbors(_training_set(X), 5).numpy()
    reference = _reference(X, 5)
    shared = [len(set(a) & set(b)) for a, b in zip(found, reference, strict=True)]
    overlap = np.mean(shared) / 5
    assert overlap > 0.95


@pytest.mark.parametrize("n_features", [50, 300])
def test_sparse_rows(n_features):
    # Two groups of unit-norm documents with disjoint vocabularies, each using
    # half of its group's words: every neighbour of a row is in its group.
    rng = np.random.RandomState(4)
    half = n_features // 2
    rows = []
    for group in (0, 1):
        block = sp.csr_matrix((rng.rand(60, half) < 0.5).astype(np.float32))
        pad = sp.csr_matrix((60, half), dtype=np.float32)
        rows.append(sp.hstack([block, pad] if group == 0 else [pad, block]))
    X = normalize(sp.vstack(rows).tocsr())
    found = nearest_neighbors(_training_set(X), 5).numpy()
    group = np.repeat([0, 1], 60)
    assert found.shape == (120, 5)
    assert (group[found] == group[:, None]).all()


def test_search_in_a_given_embedding():
    rng = np.random.RandomState(5)
    X = rng.randn(200, 30).astype(np.float32)
    embedding = rng.randn(200, 4).astype(np.float32)
    found = nearest_neighbors(_training_set(X), 6, torch.from_numpy(embedding))
    np.testing.assert_array_equal(found.numpy(), _reference(embedding, 6))


def test_autoencoder_embedding_keeps_the_groups():
    # Three groups in 40 dimensions: the 10-d code keeps them apart, so the
    # neighbours found in it share their row's group.
    X, group = make_blobs(
        n_samples=240, n_features=40, centers=3, cluster_std=2.0, random_state=6
    )
    X = X.astype(np.float32)
    ts = _training_set(X)
    torch.manual_seed(0)
    embedding, history = autoencoder_embedding(ts)
    assert embedding.shape == (240, AUTOENCODER_EMBEDDING)
    assert embedding.dtype == torch.float32
    assert len(history) == AUTOENCODER_EPOCHS
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    found = nearest_neighbors(ts, 5, embedding).numpy()
    assert (group[found] == group[:, None]).mean() > 0.98
    # The same RNG state and shuffling seed give the same embedding.
    torch.manual_seed(0)
    again, _ = autoencoder_embedding(_training_set(X))
    np.testing.assert_array_equal(embedding.numpy(), again.numpy())


def test_sparse_scaled_matrix_matches_rows():
    X = sp.random(30, 8, density=0.4, random_state=0, format="csr") * 5
    scale = np.arange(1.0, 9.0)
    ts = TrainingSet(X, np.zeros(8), scale, device="cpu", batch_size=8, seed=0)
    np.testing.assert_allclose(
        ts.scaled_matrix().toarray(), ts.rows(np.arange(30)).numpy(), rtol=1e-6
    )


# ----------------------------------------------------------------- estimators
@pytest.fixture(scope="module")
def blobs():
    centers = [(-6, -4), (6, -4), (0, 6)]
    return make_blobs(n_samples=300, centers=centers, random_state=0)


NEIGHBOR_VIEWS = dict(views="neighbors", n_neighbors=5, hidden_dims=(32,), device="cpu")


def test_neural_mixture_with_neighbour_views(blobs):
    X, y = blobs
    est = NeuralMixtureEM(
        n_clusters=3,
        batch_size=300,
        max_epochs=60,
        random_state=1,
        **NEIGHBOR_VIEWS,
    ).fit(X)
    assert adjusted_rand_score(y, est.labels_) > 0.9
    # The neighbour table is a training aid, not fitted state.
    assert not hasattr(est, "_neighbors") and not hasattr(est, "_neighbor_rows")


def test_neighbour_views_are_reproducible_and_change_the_fit(blobs):
    X, _ = blobs
    params = dict(n_clusters=3, batch_size=100, max_epochs=3, random_state=0)
    a = NeuralMixtureEM(**params, **NEIGHBOR_VIEWS).fit(X)
    b = NeuralMixtureEM(**params, **NEIGHBOR_VIEWS).fit(X)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    augmented = NeuralMixtureEM(**params, **{**NEIGHBOR_VIEWS, "views": "augment"}).fit(
        X
    )
    assert not np.allclose(a.predict_proba(X), augmented.predict_proba(X))
    # The cross-entropy form takes its one view from the neighbours too.
    cross = dict(params, consistency="cross_entropy")
    c = NeuralMixtureEM(**cross, **NEIGHBOR_VIEWS).fit(X)
    c_augmented = NeuralMixtureEM(**cross, **{**NEIGHBOR_VIEWS, "views": "augment"})
    assert not np.allclose(c.predict_proba(X), c_augmented.fit(X).predict_proba(X))


def test_neighbour_view_draws_from_each_rows_neighbours(blobs):
    X, _ = blobs
    est = NeuralMixtureEM(n_clusters=3, **NEIGHBOR_VIEWS)
    ts = _training_set(X.astype(np.float32))
    est._prepare_views(ts)
    index = torch.tensor([7, 7, 7, 123, 250])
    torch.manual_seed(0)
    views = torch.cat([est._neighbor_view(index) for _ in range(40)])
    table = est._neighbors.numpy()
    rows = ts.data.numpy()
    for position, row in enumerate(index.tolist() * 40):
        view = views[position].numpy()
        # Each view is one of that row's neighbours, never the row itself.
        assert any(np.array_equal(view, rows[j]) for j in table[row])
        assert not np.array_equal(view, rows[row])
    # Different neighbours are drawn for the same row.
    assert len({tuple(v) for v in views[::5].numpy().round(6)}) > 1


def test_neighbour_table_is_not_pickled(blobs, tmp_path):
    X, _ = blobs
    est = NeuralMixtureEM(
        n_clusters=3, batch_size=100, max_epochs=1, random_state=0, **NEIGHBOR_VIEWS
    ).fit(X)
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert not hasattr(loaded, "_neighbors")


def test_gmvae_with_neighbour_views(blobs):
    X, y_true = blobs
    y = np.full_like(y_true, -1)
    y[::30] = y_true[::30]
    params = dict(
        n_clusters=3,
        hidden_dims=(32,),
        embedding_dim=4,
        batch_size=64,
        max_epochs=5,
        consistency_weight=4.0,
        consistency_threshold=0.0,
        device="cpu",
        random_state=0,
    )
    neighbors = GMVAEClustering(views="neighbors", n_neighbors=5, **params).fit(X, y)
    again = GMVAEClustering(views="neighbors", n_neighbors=5, **params).fit(X, y)
    augmented = GMVAEClustering(**params).fit(X, y)
    proba = neighbors.predict_proba(X)
    np.testing.assert_array_equal(proba, again.predict_proba(X))
    assert not np.allclose(proba, augmented.predict_proba(X))
    assert not hasattr(neighbors, "_neighbors")


@pytest.mark.parametrize("Estimator", [NeuralMixtureEM, GMVAEClustering])
def test_views_parameter_is_validated(blobs, Estimator):
    X, _ = blobs
    with pytest.raises(ValueError, match="views"):
        Estimator(n_clusters=3, views="knn").fit(X)
    with pytest.raises(ValueError, match="n_neighbors"):
        Estimator(n_clusters=3, n_neighbors=0).fit(X)
    with pytest.raises(ValueError, match="neighbor_space"):
        Estimator(n_clusters=3, neighbor_space="umap").fit(X)


@pytest.mark.parametrize("Estimator", [NeuralMixtureEM, GMVAEClustering])
def test_neighbours_searched_in_an_autoencoder_embedding(blobs, Estimator, monkeypatch):
    # A narrow autoencoder keeps the test fast; the search is the same.
    monkeypatch.setattr(_neighbors, "AUTOENCODER_DIMS", (32,))
    X, _ = blobs
    params = dict(
        n_clusters=3,
        batch_size=100,
        max_epochs=2,
        random_state=0,
        consistency_weight=1.0,
        **NEIGHBOR_VIEWS,
    )
    est = Estimator(**params, neighbor_space="autoencoder").fit(X)
    # The autoencoder's training is part of the fit's history.
    assert len(est.history_["neighbor_autoencoder"]) == AUTOENCODER_EPOCHS
    again = Estimator(**params, neighbor_space="autoencoder").fit(X)
    np.testing.assert_array_equal(est.predict_proba(X), again.predict_proba(X))
    pca = Estimator(**params).fit(X)
    assert "neighbor_autoencoder" not in pca.history_
    assert not np.allclose(est.predict_proba(X), pca.predict_proba(X))
    # Without neighbour views there is nothing to search for.
    augment = Estimator(**{**params, "views": "augment"}, neighbor_space="autoencoder")
    assert "neighbor_autoencoder" not in augment.fit(X).history_


def test_neighbour_views_on_sparse_input(blobs):
    X, y = blobs
    # Non-negative, as tf-idf is; sparse input is scaled by maxabs.
    X = sp.csr_matrix(X - X.min(0))
    est = NeuralMixtureEM(
        n_clusters=3, batch_size=300, max_epochs=60, random_state=1, **NEIGHBOR_VIEWS
    ).fit(X)
    assert adjusted_rand_score(y, est.labels_) > 0.9
