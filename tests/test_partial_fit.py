"""partial_fit: training on a stream of chunks, for every deep clusterer."""

import io

import joblib
import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from sknclust import DeepKMeans, GMVAEClustering, NeuralMixtureEM
from sknclust._data import RunningScaling, fit_scaling
from sknclust._deep_kmeans import _update_centroids

SMALL = {
    DeepKMeans: dict(hidden_dims=(16,), pretrain_epochs=10, max_epochs=3),
    NeuralMixtureEM: dict(hidden_dims=(16,), max_epochs=3, batch_size=32),
    GMVAEClustering: dict(hidden_dims=(32,), max_epochs=20, batch_size=16),
}
# ARI a four-chunk stream of three blobs reaches with these small settings.
# GMVAE's temperature anneals over thousands of steps, which a stream of a
# few dozen has not taken: it separates the blobs only partly.
STREAM_ARI = {DeepKMeans: 0.9, NeuralMixtureEM: 0.9, GMVAEClustering: 0.4}
ESTIMATORS = list(SMALL)
ids = [c.__name__ for c in ESTIMATORS]


@pytest.fixture(scope="module")
def stream():
    X, y = make_blobs(n_samples=240, centers=3, n_features=5, random_state=0)
    return X, y, np.array_split(np.arange(len(X)), 4)


def _stream_fit(cls, X, chunks, **params):
    est = cls(3, random_state=0, **SMALL[cls], **params)
    for chunk in chunks:
        est.partial_fit(X[chunk])
    return est


@pytest.mark.parametrize("cls", ESTIMATORS, ids=ids)
def test_partial_fit_learns_a_stream(cls, stream):
    X, y, chunks = stream
    est = _stream_fit(cls, X, chunks)
    assert est.labels_.shape == (len(chunks[-1]),)
    np.testing.assert_array_equal(est.labels_, est.predict(X[chunks[-1]]))
    assert adjusted_rand_score(y, est.predict(X)) > STREAM_ARI[cls]
    # Every call trains max_epochs more epochs; the step count grows with them.
    phase = "cluster" if cls is DeepKMeans else next(iter(est.history_))
    assert len(est.history_[phase]) == 4 * est.max_epochs
    assert est.n_steps_ > 0
    assert est.transform(X[:2]).shape == (2, est.embedding_dim)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=ids)
def test_partial_fit_is_reproducible_and_pickles_mid_stream(cls, stream):
    X, _, chunks = stream
    straight = _stream_fit(cls, X, chunks)
    # Save after two chunks, load, and go on: the state that partial_fit
    # carries (optimiser, schedule, counts, scaling) travels with the model.
    est = _stream_fit(cls, X, chunks[:2])
    buffer = io.BytesIO()
    joblib.dump(est, buffer)
    buffer.seek(0)
    resumed = joblib.load(buffer)
    for chunk in chunks[2:]:
        resumed.partial_fit(X[chunk])
    np.testing.assert_allclose(resumed.transform(X), straight.transform(X))
    np.testing.assert_array_equal(resumed.predict(X), straight.predict(X))


@pytest.mark.parametrize("cls", ESTIMATORS, ids=ids)
def test_partial_fit_after_fit_continues(cls, stream):
    X, _, chunks = stream
    est = cls(3, random_state=0, **SMALL[cls]).fit(X)
    before = est.predict(X)
    steps = est.n_steps_
    est.partial_fit(X[chunks[0]])
    assert est.n_steps_ > steps
    # One more chunk refines the fitted model rather than starting over.
    assert adjusted_rand_score(before, est.predict(X)) > 0.9


@pytest.mark.parametrize("cls", ESTIMATORS, ids=ids)
def test_bad_chunks_leave_the_model_as_it_was(cls, stream):
    X, _, chunks = stream
    est = _stream_fit(cls, X, chunks[:1])
    state = joblib.hash(est.module_.state_dict()), est.n_steps_
    proba = est.predict_proba(X)
    nan = X[chunks[1]].copy()
    nan[0, 0] = np.nan
    # Each error names the problem.
    bad = {"4 features": X[chunks[1], :4], "0 sample": X[:0], "NaN": nan}
    for problem, chunk in bad.items():
        with pytest.raises(ValueError, match=problem):
            est.partial_fit(chunk)
    assert (joblib.hash(est.module_.state_dict()), est.n_steps_) == state
    np.testing.assert_array_equal(est.predict_proba(X), proba)
    # A model fitted on other features refuses the chunk too.
    fitted = cls(3, random_state=0, **SMALL[cls]).fit(X[:, :4])
    with pytest.raises(ValueError, match="features"):
        fitted.partial_fit(X[chunks[0]])


def test_first_chunk_needs_n_clusters_rows(stream):
    X, _, _ = stream
    with pytest.raises(ValueError, match="n_clusters"):
        DeepKMeans(5, **SMALL[DeepKMeans]).partial_fit(X[:3])


def test_gmvae_partial_fit_refuses_partial_labels(stream):
    X, y, chunks = stream
    labels = y[chunks[0]].copy()
    labels[5:] = -1
    est = GMVAEClustering(3, **SMALL[GMVAEClustering])
    with pytest.raises(ValueError, match="semi-supervised"):
        est.partial_fit(X[chunks[0]], labels)
    assert not hasattr(est, "module_")


def test_scaling_statistics_merge_chunk_by_chunk():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 6)) * np.arange(1, 7) + np.arange(6)
    for method in ("pixels", "centre", "sparse"):
        running = RunningScaling(method, X.shape[1])
        for chunk in np.array_split(X, 7):
            running.update(chunk)
        for got, want in zip(
            running.offset_scale(), fit_scaling(X, method), strict=True
        ):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


class _Centroids(torch.nn.Module):
    def __init__(self, centroids):
        super().__init__()
        self.centroids = torch.nn.Parameter(torch.as_tensor(centroids))


def test_online_kmeans_step_without_decay_is_a_running_mean():
    module = _Centroids(torch.zeros(2, 1))
    counts = torch.zeros(2)
    z = torch.tensor([[1.0], [3.0], [10.0]])
    _update_centroids(module, z[:2], torch.tensor([0, 0]), counts)
    _update_centroids(module, z[2:], torch.tensor([0]), counts)
    assert module.centroids[0].item() == pytest.approx((1 + 3 + 10) / 3)
    assert module.centroids[1].item() == 0.0  # never hit, never moved
    assert counts.tolist() == [3.0, 0.0]


def test_decay_recycles_a_centroid_the_stream_left():
    # Centroid 1 receives nothing: its count decays to zero and it moves to
    # the row farthest from its centroid, while centroid 0 keeps its weight.
    module = _Centroids(torch.tensor([[0.0], [50.0]]))
    counts = torch.tensor([10.0, 2.0])
    z = torch.tensor([[0.1], [-0.1], [0.0], [4.0]])
    labels = torch.zeros(4, dtype=torch.long)
    _update_centroids(module, z, labels, counts, decay=1.0)
    assert counts[0].item() == pytest.approx(10 + 4 - 2)
    assert counts[1].item() == pytest.approx(1.0)
    assert module.centroids[1].item() == pytest.approx(4.0)


def test_deep_kmeans_stream_trains_at_the_rates_of_fit(stream, monkeypatch):
    # Pretraining on a chunk is a whole phase, as in fit: its rate decays.
    # Clustering goes on over chunks at a constant rate, starting where fit's
    # clustering phase starts.
    from sknclust import _base

    calls = []
    run_phase = _base.run_phase

    def spy(name, *args, **kw):
        calls.append((name, kw["lr_schedule"], kw["learning_rate"]))
        return run_phase(name, *args, **kw)

    monkeypatch.setattr(_base, "run_phase", spy)
    X, _, chunks = stream
    DeepKMeans(3, random_state=0, **SMALL[DeepKMeans]).fit(X)
    (_, _, pretrain_rate), (_, _, cluster_rate) = calls
    calls.clear()
    _stream_fit(DeepKMeans, X, chunks[:2])
    one_chunk = [("pretrain", "cosine", pretrain_rate), ("cluster", None, cluster_rate)]
    assert calls == 2 * one_chunk


def test_deep_kmeans_stream_pretrains_on_its_first_five_chunks(stream):
    # The autoencoder learns from the rows of several chunks, not the first
    # one alone; then the stream only clusters. After fit, nothing pretrains.
    X, y, _ = stream
    chunks = np.array_split(np.arange(len(X)), 8)
    params = {**SMALL[DeepKMeans], "pretrain_epochs": 2}
    est = DeepKMeans(3, random_state=0, **params)
    for chunk in chunks:
        est.partial_fit(X[chunk])
    assert len(est.history_["pretrain"]) == 5 * 2
    assert len(est.history_["cluster"]) == 8 * est.max_epochs
    assert adjusted_rand_score(y, est.predict(X)) > 0.9
    fitted = DeepKMeans(3, random_state=0, **params).fit(X)
    fitted.partial_fit(X[chunks[0]])
    assert len(fitted.history_["pretrain"]) == 2


@pytest.mark.parametrize("cls", ESTIMATORS, ids=ids)
def test_partial_fit_trains_at_the_current_learning_rate(cls, stream):
    # Adam moves each weight by about the learning rate a step, whatever the
    # gradient: at 1e-12 a chunk leaves the network where it was, if the
    # rate set between calls is the one used rather than the first call's.
    X, _, chunks = stream
    est = _stream_fit(cls, X, chunks[:2])
    before = {k: v.clone() for k, v in est.module_.state_dict().items()}
    est.set_params(learning_rate=1e-12).partial_fit(X[chunks[2]])
    weights = [k for k in before if k.endswith("weight")]
    assert weights
    for key in weights:
        torch.testing.assert_close(
            est.module_.state_dict()[key], before[key], rtol=0, atol=1e-9
        )
