"""Views for the consistency terms: the neighbour search, the Views class and
their use by the estimators."""

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

from sknclust import GMVAEClustering, NeuralMixtureEM, _views
from sknclust._data import TrainingSet
from sknclust._neighbors import N_COMPONENTS, graph_partition, nearest_neighbors
from sknclust._views import Views


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


def test_sparse_scaled_matrix_matches_rows():
    X = sp.random(30, 8, density=0.4, random_state=0, format="csr") * 5
    scale = np.arange(1.0, 9.0)
    ts = TrainingSet(X, np.zeros(8), scale, device="cpu", batch_size=8, seed=0)
    np.testing.assert_allclose(
        ts.scaled_matrix().toarray(), ts.rows(np.arange(30)).numpy(), rtol=1e-6
    )


# ---------------------------------------------------------------------- views
def test_neighbour_view_draws_from_each_rows_neighbours():
    X = np.random.RandomState(7).randn(300, 2).astype(np.float32)
    ts = _training_set(X)
    views = Views(None, n_neighbors=5).prepare(ts)
    assert views.uses_neighbors
    table = nearest_neighbors(ts, 5).numpy()
    index = torch.tensor([7, 7, 7, 123, 250])
    torch.manual_seed(0)
    drawn = torch.cat([views(ts.rows(index), index) for _ in range(40)]).numpy()
    rows = ts.data.numpy()
    for position, row in enumerate(index.tolist() * 40):
        # Each view is one of that row's neighbours, never the row itself.
        assert any(np.array_equal(drawn[position], rows[j]) for j in table[row])
        assert not np.array_equal(drawn[position], rows[row])
    # Different neighbours are drawn for the same row.
    assert len({tuple(v) for v in drawn[::5].round(6)}) > 1
    views.release()
    assert views._neighbors is None and views._rows is None


def test_image_views_are_warps_without_a_search(monkeypatch):
    monkeypatch.setattr(
        _views, "nearest_neighbors", lambda *a: pytest.fail("searched neighbours")
    )
    X = np.random.RandomState(8).rand(20, 16).astype(np.float32)
    ts = _training_set(X)
    views = Views((1, 4, 4)).prepare(ts)
    assert not views.uses_neighbors
    x = ts.rows(torch.arange(20))
    torch.manual_seed(0)
    warped = views(x, torch.arange(20))
    torch.manual_seed(0)
    torch.testing.assert_close(warped, _views.image_augment(x, (1, 4, 4)))
    assert not torch.equal(warped, x)


def test_a_single_row_has_noise_for_a_view():
    ts = _training_set(np.ones((1, 3), dtype=np.float32))
    views = Views(None).prepare(ts)
    x = ts.rows(torch.arange(1))
    view = views(x, torch.arange(1))
    assert view.shape == (1, 3) and not torch.equal(view, x)


# ----------------------------------------------------------------- estimators
@pytest.fixture(scope="module")
def blobs():
    centers = [(-6, -4), (6, -4), (0, 6)]
    return make_blobs(n_samples=300, centers=centers, random_state=0)


NEIGHBOR_VIEWS = dict(n_neighbors=5, hidden_dims=(32,), device="cpu")


def _fitted_state(est):
    """Attributes of a fitted estimator that hold tensors or views."""
    return [
        name
        for name, value in vars(est).items()
        if isinstance(value, (torch.Tensor, Views))
    ]


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
    assert _fitted_state(est) == []


def test_neighbour_views_are_reproducible(blobs):
    X, _ = blobs
    params = dict(n_clusters=3, batch_size=100, max_epochs=3, random_state=0)
    a = NeuralMixtureEM(**params, **NEIGHBOR_VIEWS).fit(X)
    b = NeuralMixtureEM(**params, **NEIGHBOR_VIEWS).fit(X)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_neighbour_table_is_not_pickled(blobs, tmp_path):
    X, _ = blobs
    est = NeuralMixtureEM(
        n_clusters=3, batch_size=100, max_epochs=1, random_state=0, **NEIGHBOR_VIEWS
    ).fit(X)
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert _fitted_state(loaded) == []


def test_gmvae_has_no_consistency_term_without_image_shape(blobs, monkeypatch):
    # Nearest-neighbour views are NeuralMixtureEM's; GMVAE rows without
    # image_shape train on the bound alone, so no view is ever drawn.
    monkeypatch.setattr(
        _views.Views, "__call__", lambda *a, **k: pytest.fail("drew a view")
    )
    monkeypatch.setattr(
        _views, "nearest_neighbors", lambda *a, **k: pytest.fail("searched")
    )
    X, _ = blobs
    est = GMVAEClustering(
        3, hidden_dims=(16,), embedding_dim=4, max_epochs=3, random_state=0
    ).fit(X)
    assert est.consistency_weight > 0 and _fitted_state(est) == []


# Each estimator with a consistency term, and its neighbours per row.
CONSISTENT = [(NeuralMixtureEM, dict(n_neighbors=3), 3)]


@pytest.mark.parametrize(
    "cls, params, n_neighbors", CONSISTENT, ids=[c.__name__ for c, *_ in CONSISTENT]
)
def test_non_image_rows_take_neighbour_views(cls, params, n_neighbors, monkeypatch):
    searches = []
    search = _views.nearest_neighbors

    def spy(training_set, k):
        searches.append((training_set.n_samples, k))
        return search(training_set, k)

    monkeypatch.setattr(_views, "nearest_neighbors", spy)
    monkeypatch.setattr(
        _views, "image_augment", lambda *a, **k: pytest.fail("warped a row")
    )
    X, _ = make_blobs(n_samples=40, centers=2, n_features=3, random_state=0)
    kw = dict(hidden_dims=(16,), batch_size=16, max_epochs=3, random_state=0)
    cls(2, **kw, **params).fit(X)
    # One search per fit, on the training rows.
    assert searches == [(40, n_neighbors)]
    # Without the consistency term there are no views and nothing to search.
    searches.clear()
    cls(2, consistency_weight=0, **kw, **params).fit(X)
    assert searches == []


@pytest.mark.parametrize("cls", [NeuralMixtureEM, GMVAEClustering])
@pytest.mark.parametrize("n_samples", [2, 3, 5])
def test_neighbour_views_work_on_tiny_data(cls, n_samples):
    # Fewer rows than neighbours asked for: each row draws from all the others.
    X = np.random.RandomState(n_samples).randn(n_samples, 3)
    est = cls(2, hidden_dims=(8,), embedding_dim=2, max_epochs=3, random_state=0)
    est.fit(X)
    assert set(est.labels_) == {0, 1}
    assert np.isfinite(est.predict_proba(X)).all()
    assert np.isfinite(est.score(X))


def test_n_neighbors_is_validated(blobs):
    with pytest.raises(ValueError, match="n_neighbors"):
        NeuralMixtureEM(n_clusters=3, n_neighbors=0).fit(blobs[0])


def test_neighbour_views_on_sparse_input(blobs):
    X, y = blobs
    # Non-negative, as tf-idf is; sparse input is divided by its largest value.
    X = sp.csr_matrix(X - X.min(0))
    est = NeuralMixtureEM(
        n_clusters=3, batch_size=300, max_epochs=60, random_state=1, **NEIGHBOR_VIEWS
    ).fit(X)
    assert adjusted_rand_score(y, est.labels_) > 0.9


def test_graph_partition_of_blobs():
    # Five blobs in 150 dimensions (searched in the 100-component projection).
    X, y = make_blobs(n_samples=400, centers=5, n_features=150, random_state=0)
    labels = graph_partition(_training_set(X.astype(np.float32)), 5, 10, 0)
    assert labels.dtype == torch.int64 and labels.shape == (400,)
    assert adjusted_rand_score(y, labels.numpy()) == 1.0


def test_graph_partition_declines_too_few_rows():
    # Two rows a part at most: no graph to cut, the caller starts at random.
    X = np.random.RandomState(0).randn(6, 3).astype(np.float32)
    assert graph_partition(_training_set(X), 3, 10, 0) is None
    assert graph_partition(_training_set(X), 2, 10, 0) is not None
