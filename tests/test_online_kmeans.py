"""OnlineKMeans: sequential k-means with forgetting, through its public API."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.cluster import MiniBatchKMeans
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from sknclust import OnlineKMeans

MODES = ["exponential", "linear"]


def blob(rng, center, n, scale=0.3):
    return rng.normal(center, scale, size=(n, len(center)))


def state(model):
    """Everything a failed call must leave as it was."""
    return {
        name: pickle.dumps(value)
        for name, value in vars(model).items()
        if name.endswith("_")
    }


def prequential_error(model, chunks):
    """Mean squared distance of each chunk to the model before it updates it."""
    errors = []
    for i, chunk in enumerate(chunks):
        if i:
            errors.append(-model.score(chunk) / len(chunk))
        model.partial_fit(chunk)
    return float(np.mean(errors))


@pytest.mark.parametrize("forgetting", MODES)
def test_without_decay_each_centroid_is_the_mean_of_its_points(forgetting):
    rng = np.random.RandomState(0)
    X = np.vstack([blob(rng, c, 60) for c in ([0, 0], [4, 0], [0, 4])])
    X = X[rng.permutation(len(X))]
    model = OnlineKMeans(n_clusters=3, decay=0.0, forgetting=forgetting)
    seeds = X[:3]  # three rows: the first chunk seeds each centroid on one
    model.partial_fit(seeds)
    order = [np.flatnonzero((seeds == c).all(1))[0] for c in model.cluster_centers_]
    sums, counts = seeds[order].copy(), np.ones(3)
    start = 3
    for size in (1, 1, 7, 30, 2, 50, 1, 60):  # any chunk size, including one row
        chunk = X[start : start + size]
        start += size
        labels = model.predict(chunk)  # the assignment before the update
        model.partial_fit(chunk)
        np.add.at(sums, labels, chunk)
        counts += np.bincount(labels, minlength=3)
        np.testing.assert_allclose(model.cluster_centers_, sums / counts[:, None])
        np.testing.assert_array_equal(model.counts_, counts)
    assert model.n_steps_ == 9


@pytest.mark.parametrize("forgetting", MODES)
def test_decay_recycles_a_vanished_centroid_onto_new_data(forgetting):
    rng = np.random.RandomState(0)
    a, b, c = [0.0, 0.0], [10.0, 0.0], [0.0, 10.0]
    decay = {"exponential": 0.01, "linear": 0.2}[forgetting]
    models = [
        OnlineKMeans(n_clusters=2, decay=d, forgetting=forgetting, random_state=0)
        for d in (decay, 0.0)
    ]
    for model in models:
        for _ in range(2):  # clusters a and b
            model.partial_fit(np.vstack([blob(rng, a, 25), blob(rng, b, 25)]))
        for _ in range(12):  # b vanishes
            model.partial_fit(blob(rng, a, 50))
    forgetful, sequential = models
    # The centroid of b ran out of count and was recycled onto a's rows;
    # without decay it stays on b, whose count never drops.
    assert np.linalg.norm(forgetful.cluster_centers_ - b, axis=1).min() > 5
    assert np.linalg.norm(sequential.cluster_centers_ - b, axis=1).min() < 0.5
    assert sequential.counts_.min() >= 50

    test = np.vstack([blob(rng, a, 50), blob(rng, c, 50)])
    for model in models:
        for _ in range(3):  # c appears
            model.partial_fit(np.vstack([blob(rng, a, 25), blob(rng, c, 25)]))
    # The spare centroid takes the new cluster; sequential k-means pulls the
    # centroid of a towards c instead, keeping the other on the empty place of b.
    labels = forgetful.predict(test)
    assert len(set(labels[:50])) == len(set(labels[50:])) == 1
    assert labels[0] != labels[50]
    assert len(set(sequential.predict(test))) == 1


def test_tracks_a_drifting_stream_better_than_minibatch_kmeans():
    rng = np.random.RandomState(0)
    phases = [([0, 0], [6, 0], [0, 6]), ([0, 0], [6, 6], [-6, 3])]
    chunks = [
        np.vstack([blob(rng, c, 30, scale=0.5) for c in centers])
        for centers in phases
        for _ in range(15)
    ]
    online = prequential_error(OnlineKMeans(n_clusters=3, random_state=0), chunks)
    minibatch = prequential_error(
        MiniBatchKMeans(n_clusters=3, n_init=3, random_state=0), chunks
    )
    assert online < 0.8 * minibatch


def test_matches_minibatch_kmeans_on_a_stationary_stream():
    rng = np.random.RandomState(1)
    centers = ([0, 0], [6, 0], [0, 6])
    chunks = [np.vstack([blob(rng, c, 30) for c in centers]) for _ in range(20)]
    online = prequential_error(OnlineKMeans(n_clusters=3, random_state=0), chunks)
    minibatch = prequential_error(
        MiniBatchKMeans(n_clusters=3, n_init=3, random_state=0), chunks
    )
    assert online < 1.05 * minibatch


def test_fit_then_partial_fit_continues():
    rng = np.random.RandomState(0)
    X = np.vstack([blob(rng, [0, 0], 100), blob(rng, [5, 5], 100)])
    model = OnlineKMeans(n_clusters=2, batch_size=50, max_iter=2, random_state=0)
    model.fit(X)
    assert model.n_iter_ == 2 and model.n_steps_ == 8
    np.testing.assert_array_equal(model.labels_, model.predict(X))
    assert model.inertia_ == pytest.approx(-model.score(X))
    before = model.cluster_centers_.copy()

    model.partial_fit(blob(rng, [0.5, 0], 40))
    assert model.n_steps_ == 9
    moved = np.linalg.norm(model.cluster_centers_ - before, axis=1)
    near = np.argmin(np.linalg.norm(before - [0, 0], axis=1))
    assert moved[near] > 0 and moved[1 - near] == 0
    assert model.labels_.shape == (40,)

    model.fit(X)  # fit starts again from scratch
    assert model.n_steps_ == 8


def test_transform_predict_and_score_agree():
    rng = np.random.RandomState(0)
    X = np.vstack([blob(rng, [0, 0, 0], 40), blob(rng, [3, 3, 3], 40)])
    model = OnlineKMeans(n_clusters=2, random_state=0).fit(X)
    distances = model.transform(X)
    expected = np.linalg.norm(X[:, None] - model.cluster_centers_[None], axis=2)
    np.testing.assert_allclose(distances, expected, atol=1e-10)
    np.testing.assert_array_equal(model.predict(X), distances.argmin(1))
    assert model.score(X) == pytest.approx(-(distances.min(1) ** 2).sum())
    assert list(model.get_feature_names_out()) == ["onlinekmeans0", "onlinekmeans1"]


def test_sparse_input_gives_the_dense_result():
    rng = np.random.RandomState(0)
    X = np.vstack([blob(rng, [0, 0, 0, 0], 40), blob(rng, [3, 0, 3, 0], 40)])
    X[np.abs(X) < 0.3] = 0
    dense = OnlineKMeans(n_clusters=2, batch_size=16, random_state=0).fit(X)
    sparse = OnlineKMeans(n_clusters=2, batch_size=16, random_state=0)
    sparse.fit(sp.csr_matrix(X))
    np.testing.assert_allclose(sparse.cluster_centers_, dense.cluster_centers_)
    np.testing.assert_allclose(sparse.transform(sp.csr_matrix(X)), dense.transform(X))


def test_reproducible_and_leaves_inputs_and_global_rng_alone():
    rng = np.random.RandomState(0)
    X = np.vstack([blob(rng, [0, 0], 60), blob(rng, [4, 0], 60), blob(rng, [0, 4], 60)])
    X_copy = X.copy()
    global_state = np.random.get_state()[1].copy()

    def stream(model):
        for chunk in np.array_split(X, 6):
            model.partial_fit(chunk)
        return model

    a = stream(OnlineKMeans(n_clusters=3, decay=0.01, random_state=7))
    b = stream(OnlineKMeans(n_clusters=3, decay=0.01, random_state=7))
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    np.testing.assert_array_equal(a.counts_, b.counts_)
    c = OnlineKMeans(n_clusters=3, random_state=7).fit(X)
    d = OnlineKMeans(n_clusters=3, random_state=7).fit(X)
    np.testing.assert_array_equal(c.cluster_centers_, d.cluster_centers_)
    OnlineKMeans(n_clusters=3).fit(X)  # random_state=None: fresh entropy
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)


def test_bad_chunks_raise_and_leave_the_model_as_it_was():
    rng = np.random.RandomState(0)
    X = blob(rng, [0, 0, 0], 30)
    model = OnlineKMeans(n_clusters=3, random_state=0).fit(X)
    model.partial_fit(X[:10])
    before = state(model)
    nan = X[:5].copy()
    nan[2, 1] = np.nan
    bad = {
        "X has 2 features, but OnlineKMeans is expecting 3": X[:5, :2],
        "0 sample": X[:0],
        "NaN": nan,
        "infinity": np.where(nan == nan, nan, np.inf),
    }
    for message, chunk in bad.items():
        # fit may change the number of features, partial_fit may not
        methods = [model.partial_fit] + [model.fit] * ("features" not in message)
        for method in methods:
            with pytest.raises(ValueError, match=message):
                method(chunk)
            assert state(model) == before
    with pytest.raises(ValueError, match="X has 4 features"):
        model.predict(rng.normal(size=(3, 4)))
    # partial_fit after a fit on other features, when the chunk is valid
    model.fit(rng.normal(size=(20, 4)))
    before = state(model)
    with pytest.raises(ValueError, match="expecting 4 features"):
        model.partial_fit(X[:10])
    assert state(model) == before


def test_first_chunk_smaller_than_n_clusters_leaves_it_unfitted():
    model = OnlineKMeans(n_clusters=4)
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=4"):
        model.partial_fit(np.ones((3, 2)))
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
    assert not hasattr(model, "n_features_in_")
    model.partial_fit(np.arange(10.0).reshape(5, 2))  # works afterwards
    assert model.n_features_in_ == 2


def test_pickled_model_predicts_and_continues_the_same():
    rng = np.random.RandomState(0)
    X = np.vstack([blob(rng, [0, 0], 50), blob(rng, [4, 4], 50)])
    model = OnlineKMeans(n_clusters=3, decay=0.05, random_state=0)
    model.partial_fit(X[:40])
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict(X), model.predict(X))
    for m in (model, copy):  # the private RNG travels too: same recycling
        for chunk in np.array_split(X[40:], 3):
            m.partial_fit(chunk)
    np.testing.assert_array_equal(copy.cluster_centers_, model.cluster_centers_)


@pytest.mark.parametrize("chunk_size", [1, 10, 500])
def test_exponential_counts_settle_at_share_over_decay_whatever_the_chunks(
    chunk_size,
):
    rng = np.random.RandomState(0)
    X = np.vstack([blob(rng, [0, 0], 1000), blob(rng, [8, 0], 1000)])
    X = X[rng.permutation(len(X))]
    model = OnlineKMeans(n_clusters=2, decay=0.01, random_state=0)
    model.partial_fit(X[:10])
    for start in range(10, len(X), chunk_size):
        model.partial_fit(X[start : start + chunk_size])
    # the counts add up to 1 / decay, and each centroid, holding about half
    # of the recent stream, to about 0.5 / decay
    assert model.counts_.sum() == pytest.approx(100, rel=1e-6)
    np.testing.assert_allclose(model.counts_, 50, rtol=0.2)
