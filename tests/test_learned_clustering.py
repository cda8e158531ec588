"""LearnedClustering: learning to cluster sets of unseen classes."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from sknclust import LearnedClustering

# Small and quick: 2-D points, up to three clusters per set.
FAST = dict(
    max_clusters=3,
    hidden_dims=(32,),
    embedding_dim=16,
    set_size=(10, 40),
    n_sets=6400,
)


def _blobs(n_classes, per_class, seed, scale=0.3):
    """Points around ``n_classes`` random centres in [-10, 10]^2."""
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-10, 10, size=(n_classes, 2))
    y = np.repeat(np.arange(n_classes), per_class)
    return centres[y] + rng.normal(scale=scale, size=(y.size, 2)), y


def _new_set(k, per_class, seed):
    """A set of ``k`` far-apart classes that no training class matches."""
    rng = np.random.RandomState(seed)
    angles = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(k) / k
    centres = 6 * np.column_stack([np.cos(angles), np.sin(angles)])
    y = np.repeat(np.arange(k), per_class)
    return centres[y] + rng.normal(scale=0.3, size=(y.size, 2)), y


@pytest.fixture(scope="module")
def fitted():
    X, y = _blobs(60, 30, seed=0)
    return LearnedClustering(random_state=0, **FAST).fit(X, y)


def test_clusters_unseen_classes_and_finds_k(fitted):
    hits, scores = 0, []
    for seed in range(12):
        k = seed % 3 + 1
        X, y = _new_set(k, 10, seed=100 + seed)
        labels = fitted.predict(X)
        hits += labels.max() + 1 == k
        scores.append(adjusted_rand_score(y, labels))
    assert hits >= 10
    assert np.mean(scores) > 0.8


def test_labels_are_populated_int64(fitted):
    X, _ = _new_set(3, 8, seed=1)
    labels = fitted.predict(X)
    assert labels.dtype == np.int64
    k = labels.max() + 1
    np.testing.assert_array_equal(np.unique(labels), np.arange(k))
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 3)
    assert np.all(proba[:, k:] == 0)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)
    np.testing.assert_array_equal(proba.argmax(1), labels)


def test_n_clusters_proba_is_a_distribution(fitted):
    X, _ = _new_set(2, 10, seed=2)
    pk = fitted.predict_n_clusters_proba(X)
    assert pk.shape == (3,)
    assert np.all(pk >= 0)
    assert pk.sum() == pytest.approx(1)
    assert fitted.predict(X).max() + 1 == np.argmax(pk) + 1
    # At most as many clusters as rows.
    two = fitted.predict_n_clusters_proba(X[:2])
    assert two[2] == 0
    assert fitted.predict(X[:1]).tolist() == [0]


def test_nothing_about_a_set_is_stored(fitted):
    before = set(vars(fitted))
    fitted.predict(_new_set(2, 5, seed=3)[0])
    assert set(vars(fitted)) == before


def test_permuting_rows_permutes_labels(fitted):
    X, _ = _new_set(3, 10, seed=4)
    order = np.random.RandomState(0).permutation(len(X))
    labels = fitted.predict(X)
    np.testing.assert_array_equal(fitted.predict(X[order]), labels[order])
    np.testing.assert_allclose(
        fitted.predict_n_clusters_proba(X[order]),
        fitted.predict_n_clusters_proba(X),
        atol=1e-6,
    )


def test_large_sets_are_clustered_in_chunks(fitted):
    # 600 rows: 15 chunks of 40, merged.
    X, y = _new_set(2, 300, seed=5)
    labels = fitted.predict(X)
    assert labels.shape == (600,)
    assert adjusted_rand_score(y, labels) == pytest.approx(1)
    small = np.concatenate([np.flatnonzero(y == c)[:15] for c in range(2)])
    assert adjusted_rand_score(labels[small], fitted.predict(X[small])) == 1
    # The chunks follow the rows' content, not their order.
    order = np.random.RandomState(1).permutation(len(X))
    np.testing.assert_array_equal(fitted.predict(X[order]), labels[order])
    proba = fitted.predict_proba(X)
    assert proba.shape == (600, 3)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)


def test_a_known_number_of_clusters_is_used_as_given(fitted):
    # n_clusters acts at prediction only: no refit, and the network's own
    # estimate of k is still reported.
    fixed = pickle.loads(pickle.dumps(fitted))
    X, y = _new_set(3, 10, seed=7)
    large, _ = _new_set(2, 300, seed=8)
    for k in (1, 2, 3):
        fixed.set_params(n_clusters=k)
        assert np.unique(fixed.predict(X)).tolist() == list(range(k))
        assert np.unique(fixed.predict(large)).tolist() == list(range(k))
        np.testing.assert_allclose(
            fixed.predict_n_clusters_proba(X), fitted.predict_n_clusters_proba(X)
        )
    assert adjusted_rand_score(y, fixed.predict(X)) > 0.9
    np.testing.assert_allclose(fixed.predict_proba(X)[:, :3].sum(1), 1, rtol=1e-6)
    with pytest.raises(ValueError, match="n_clusters=3 exceeds the 2 rows"):
        fixed.predict(X[:2])
    fixed.set_params(n_clusters=4)
    with pytest.raises(ValueError, match="n_clusters=4 exceeds max_clusters=3"):
        fixed.predict(X)


def test_transform_is_per_row(fitted):
    X, _ = _new_set(2, 10, seed=6)
    Z = fitted.transform(X)
    assert Z.shape == (20, 16)
    np.testing.assert_allclose(fitted.transform(X[:5]), Z[:5], rtol=1e-5, atol=1e-6)
    assert fitted.get_feature_names_out()[0] == "learnedclustering0"


def test_missing_y_says_what_is_needed():
    X, _ = _blobs(4, 10, seed=0)
    with pytest.raises(ValueError, match="requires y to be passed.*labelled"):
        LearnedClustering(**FAST).fit(X)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(set_size=(10, 5)), "set_size"),
        (dict(set_size=(2, 6)), "must exceed 2 \\* max_clusters"),
        (dict(hidden_dims=(0,)), "hidden_dims"),
        (dict(image_shape=(3, 3)), "image_shape"),
        (dict(n_clusters=4), "n_clusters=4 exceeds max_clusters=3"),
    ],
)
def test_bad_parameters(params, match):
    X, y = _blobs(4, 10, seed=0)
    with pytest.raises(ValueError, match=match):
        LearnedClustering(**{**FAST, **params}).fit(X, y)


def test_continuous_y_is_rejected():
    X, _ = _blobs(4, 10, seed=0)
    with pytest.raises(ValueError, match="Unknown label type"):
        LearnedClustering(**FAST).fit(X, np.linspace(0, 1, len(X)))


def test_reproducible_and_global_rngs_untouched():
    X, y = _blobs(10, 10, seed=1)
    params = {**FAST, "n_sets": 160}
    torch_state = torch.random.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()
    a = LearnedClustering(random_state=3, **params).fit(X, y)
    b = LearnedClustering(random_state=3, **params).fit(X, y)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    np.testing.assert_array_equal(a.predict(X[:30]), b.predict(X[:30]))


def test_pickle_round_trip(fitted):
    X, _ = _new_set(3, 10, seed=7)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(again.transform(X), fitted.transform(X))


def test_dtype_follows_input(fitted):
    X, _ = _new_set(2, 10, seed=8)
    for dtype in (np.float32, np.float64):
        Xd = X.astype(dtype)
        assert fitted.transform(Xd).dtype == dtype
        assert fitted.predict_proba(Xd).dtype == dtype
        assert fitted.predict_n_clusters_proba(Xd).dtype == dtype
    np.testing.assert_allclose(
        fitted.transform(X), fitted.transform(X.astype(np.float32)), atol=1e-4
    )
    assert X.dtype == np.float64  # input untouched


def test_images_use_the_convolutional_encoder(two_shapes):
    X, y = two_shapes
    model = LearnedClustering(
        max_clusters=2, image_shape=(8, 8), set_size=(6, 12), n_sets=160
    ).fit(X, y)
    assert model.predict(X[::8]).shape == (10,)
    assert model.transform(X[:3]).shape == (3, 64)
