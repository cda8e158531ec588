"""Tests specific to GMVAEClustering (the common sklearn checks live elsewhere)."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from torch.nn import functional as F

from sknclust._gmvae import (
    GMVAEClustering,
    _consistency,
    categorical_kl_uniform,
    gaussian_kl,
    marginal_kl_uniform,
)
from sknclust._start import GraphStart

FAST = dict(hidden_dims=(32,), embedding_dim=2, learning_rate=1e-2, random_state=0)


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(n_samples=300, centers=3, n_features=10, random_state=0)


@pytest.fixture(scope="module")
def fitted(blobs):
    X, _ = blobs
    return GMVAEClustering(n_clusters=3, max_epochs=40, **FAST).fit(X)


def test_clusters_blobs(blobs, fitted):
    X, y = blobs
    assert adjusted_rand_score(y, fitted.labels_) > 0.8
    assert fitted.reconstruction_ == "gaussian"
    assert fitted.n_iter_ == len(fitted.history_["train"]) == 40
    np.testing.assert_array_equal(fitted.predict(X), fitted.labels_)


def test_predict_proba_and_transform(blobs, fitted):
    X, _ = blobs
    proba = fitted.predict_proba(X)
    assert proba.shape == (300, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(proba.argmax(1), fitted.predict(X))
    Z = fitted.transform(X)
    assert Z.shape == (300, 2)
    assert Z.dtype == X.dtype
    assert np.isfinite(fitted.score(X))


def test_inverse_transform(blobs, fitted):
    X, _ = blobs
    X_hat = fitted.inverse_transform(fitted.transform(X))
    assert X_hat.shape == X.shape
    assert X_hat.dtype == np.float64
    assert fitted.inverse_transform(
        fitted.transform(X[:5]).astype(np.float32)
    ).dtype == (np.float32)
    # Reconstructions are much closer to their input than the data are to their mean.
    error = ((X_hat - X) ** 2).sum(1).mean()
    spread = ((X - X.mean(0)) ** 2).sum(1).mean()
    assert error < 0.5 * spread
    with pytest.raises(ValueError, match="embeddings of size"):
        fitted.inverse_transform(np.zeros((2, 5)))


def test_sample(fitted):
    np_state = np.random.get_state()
    torch_state = torch.get_rng_state()
    X, y = fitted.sample(50)
    assert np.array_equal(np.random.get_state()[1], np_state[1])
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert X.shape == (50, 10) and X.dtype == np.float64
    assert y.shape == (50,) and set(y) <= {0, 1, 2}
    X2, y2 = fitted.sample(50)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    Xc, yc = fitted.sample(20, cluster=1)
    assert np.all(yc == 1)
    # Samples from one cluster are mostly predicted to be in it.
    assert np.mean(fitted.predict(Xc) == 1) > 0.5
    with pytest.raises(ValueError, match="cluster=7"):
        fitted.sample(2, cluster=7)
    with pytest.raises(ValueError, match="n_samples"):
        fitted.sample(0)


@pytest.mark.parametrize("k", [2, 3, 7, 10])
def test_categorical_kl_uniform(k):
    rng = np.random.RandomState(k)
    logits = torch.as_tensor(rng.normal(size=(5, k)))
    q = torch.softmax(logits, 1)
    expected = (q * torch.log(q * k)).sum(1)
    torch.testing.assert_close(categorical_kl_uniform(logits), expected)
    # Uniform q has zero KL whatever K; a near one-hot q approaches log K.
    torch.testing.assert_close(
        categorical_kl_uniform(torch.zeros(3, k)), torch.zeros(3, dtype=torch.float32)
    )
    one_hot = torch.full((1, k), -50.0)
    one_hot[0, 0] = 50.0
    assert abs(float(categorical_kl_uniform(one_hot)) - math.log(k)) < 1e-4


@pytest.mark.parametrize("k", [2, 3, 10])
def test_marginal_kl_is_the_sample_kl_less_the_mutual_information(k):
    rng = np.random.RandomState(k)
    logits = torch.as_tensor(rng.normal(scale=3.0, size=(6, k)))
    q = torch.softmax(logits, 1)
    marginal = q.mean(0)
    information = (q * torch.log(q / marginal)).sum(1).mean()
    torch.testing.assert_close(
        marginal_kl_uniform(logits),
        categorical_kl_uniform(logits).mean() - information,
    )
    # Confident rows spread evenly over the clusters cost nothing; the same
    # rows all in one cluster cost log K.
    spread = torch.full((k, k), -50.0).fill_diagonal_(50.0)
    assert abs(float(marginal_kl_uniform(spread))) < 1e-4
    piled = torch.full((k, k), -50.0)
    piled[:, 0] = 50.0
    assert abs(float(marginal_kl_uniform(piled)) - math.log(k)) < 1e-4


def test_gaussian_kl_matches_torch():
    rng = np.random.RandomState(0)
    m, pm = (torch.as_tensor(rng.normal(size=(4, 3))) for _ in range(2))
    v, pv = (torch.as_tensor(rng.uniform(0.5, 2, size=(4, 3))) for _ in range(2))
    q = torch.distributions.Normal(m, v.sqrt())
    p = torch.distributions.Normal(pm, pv.sqrt())
    expected = torch.distributions.kl_divergence(q, p).sum(1)
    torch.testing.assert_close(
        gaussian_kl(m, v, pm, pv), expected, rtol=1e-6, atol=1e-6
    )


def test_reconstruction_follows_the_scaled_range():
    X, _ = make_blobs(n_samples=60, centers=2, n_features=4, random_state=0)
    kw = dict(n_clusters=2, hidden_dims=(8,), embedding_dim=2, max_epochs=2)
    # Centred rows take negative values: squared error.
    assert GMVAEClustering(**kw).fit(X).reconstruction_ == "gaussian"
    # Image rows are scaled to [0, 1]: Bernoulli, and decoded values stay in
    # the range of the training pixels.
    est = GMVAEClustering(image_shape=(2, 2), **kw).fit(X)
    assert est.reconstruction_ == "bernoulli"
    X_hat = est.inverse_transform(est.transform(X))
    assert np.all(X_hat >= X.min() - 1e-9) and np.all(X_hat <= X.max() + 1e-9)
    # Sparse rows are divided by their largest magnitude: in [0, 1] when
    # non-negative (counts, tf-idf), in [-1, 1] otherwise.
    counts = sp.csr_matrix(np.abs(np.rint(X)))
    assert GMVAEClustering(**kw).fit(counts).reconstruction_ == "bernoulli"
    signed = sp.csr_matrix(np.rint(X))
    assert GMVAEClustering(**kw).fit(signed).reconstruction_ == "gaussian"


@pytest.mark.parametrize("max_epochs, last", [(1, 1.0), (8, 0.5)])
def test_temperature_falls_to_its_floor_in_the_first_half(
    blobs, monkeypatch, max_epochs, last
):
    taus = []
    gumbel = F.gumbel_softmax

    def spy(logits, tau, **kw):
        taus.append(tau)
        return gumbel(logits, tau=tau, **kw)

    monkeypatch.setattr(F, "gumbel_softmax", spy)
    X, _ = blobs
    est = GMVAEClustering(
        n_clusters=3, batch_size=100, max_epochs=max_epochs, **FAST
    ).fit(X)
    per_epoch = taus[::3]  # three batches an epoch
    assert len(taus) == 3 * max_epochs and taus == list(np.repeat(per_epoch, 3))
    # Geometric from 1 to 0.5 over the first half of the epochs, then flat.
    expected = [max(2 ** (-e / (max_epochs / 2)), 0.5) for e in range(max_epochs)]
    np.testing.assert_allclose(per_epoch, expected)
    assert est.temperature_ == last


def test_semi_supervised_user_labels(blobs):
    X, y_true = blobs
    labels = np.array([5, 7, 9])[y_true]
    y = np.full_like(labels, -1)
    y[::10] = labels[::10]
    est = GMVAEClustering(n_clusters=3, max_epochs=20, **FAST).fit(X, y)
    np.testing.assert_array_equal(est.classes_, [5, 7, 9])
    assert set(est.labels_) <= {5, 7, 9}
    assert np.mean(est.predict(X) == labels) > 0.9
    np.testing.assert_array_equal(est.fit_predict(X, y), est.labels_)
    assert set(est.sample(10)[1]) <= {5, 7, 9}
    assert np.all(est.sample(5, cluster=7)[1] == 7)
    # An unsupervised refit drops the class mapping.
    est.fit(X)
    assert not hasattr(est, "classes_")


def test_semi_supervised_samples_follow_classes(blobs):
    # Labelled rows condition the generative path on their class, so draws
    # from cluster c land near the blob of class c.
    X, y_true = blobs
    y = np.full_like(y_true, -1)
    y[::10] = y_true[::10]
    est = GMVAEClustering(n_clusters=3, max_epochs=60, **FAST).fit(X, y)
    centres = np.stack([X[y_true == c].mean(0) for c in range(3)])
    for c in range(3):
        draws, _ = est.sample(50, cluster=c)
        nearest = ((draws[:, None] - centres) ** 2).sum(-1).argmin(1)
        assert np.mean(nearest == c) > 0.8


def test_fewer_classes_than_clusters(blobs):
    X, y_true = blobs
    y = np.full(len(X), -1)
    y[:5] = 4
    est = GMVAEClustering(n_clusters=3, max_epochs=2, **FAST).fit(X, y)
    np.testing.assert_array_equal(est.classes_, [4, 5, 6])


def test_fully_labelled_y_is_ignored(blobs):
    X, y_true = blobs
    a = GMVAEClustering(n_clusters=3, max_epochs=3, **FAST).fit(X, y_true)
    b = GMVAEClustering(n_clusters=3, max_epochs=3, **FAST).fit(X)
    assert not hasattr(a, "classes_")
    np.testing.assert_array_equal(a.labels_, b.labels_)


@pytest.mark.parametrize(
    "y, match",
    [
        (np.r_[-1, 0, 1], "entries"),
        (np.full(300, -1), "at least one labelled row"),
        (np.r_[np.arange(4), np.full(296, -1)], "at most one class per cluster"),
        (np.r_[-1, 0.5, np.zeros(298)], "integer"),
        (np.r_[-1, -3, np.zeros(298)], "integer"),
    ],
)
def test_semi_supervised_errors(blobs, y, match):
    X, _ = blobs
    with pytest.raises(ValueError, match=match):
        GMVAEClustering(n_clusters=3, max_epochs=1, **FAST).fit(X, y)


class _BatchSizes(GMVAEClustering):
    """Records the rows q(y|x) sees in each training step."""

    def _build_module(self, n_features):
        module = super()._build_module(n_features)
        self.seen_ = []

        def record(layer, inputs, output):
            if layer.training:
                self.seen_.append(inputs[0].shape[0])

        module.qy.register_forward_hook(record)
        return module


@pytest.mark.parametrize("n_labelled, added", [(4, 4), (100, 64)])
def test_labelled_rows_join_every_batch(blobs, n_labelled, added):
    X, y_true = blobs
    y = np.full_like(y_true, -1)
    y[:n_labelled] = y_true[:n_labelled]
    # Without the consistency term q(y|x) sees only the training batches.
    est = _BatchSizes(
        n_clusters=3, batch_size=64, consistency_weight=0, max_epochs=2, **FAST
    ).fit(X, y)
    # 300 rows in batches of 64: four full batches and a tail of 44, each
    # with up to 64 labelled rows added.
    assert sorted(set(est.seen_)) == sorted({64 + added, 44 + added})


def test_labelled_rows_not_added_without_labels(blobs):
    X, _ = blobs
    est = _BatchSizes(
        n_clusters=3, batch_size=64, consistency_weight=0, max_epochs=1, **FAST
    ).fit(X)
    assert sorted(set(est.seen_)) == [44, 64]


def test_consistency_term():
    module = torch.nn.Module()
    module.qy = lambda rows: rows[:, :3] * 10.0  # logits from the first columns

    def views(rows, index):  # the "view" swaps the columns
        return rows.flip(1)

    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    logits = module.qy(x)
    # Row 1 is uniform (top probability 1/3): below 0.7, left out.
    # Rows 0 and 2 are confident; their views predict the opposite class.
    expected = F.cross_entropy(module.qy(x[[0, 2]].flip(1)), torch.tensor([0, 2]))
    got = _consistency(module, x, torch.arange(3), logits, views)
    torch.testing.assert_close(got, expected * 2 / 3)
    # No confident row, no term.
    assert _consistency(module, x[[1]], torch.tensor([1]), logits[[1]], views) == 0


class _ScriptedRuns(GMVAEClustering):
    """Runs that train nothing: each records its freshly drawn first weight
    and reports a set loss, epoch count and partition of the check rows."""

    losses = (1.0, 2.0, 3.0, 2.5)

    def _train(self, name, loss_fn, training_set, *, epochs, **kw):
        if name == "start":  # the graph start of each run: not scripted
            return []
        run = len(getattr(self, "weights_seen_", []))
        first = next(self.module_.parameters()).detach().clone()
        self.weights_seen_ = [*getattr(self, "weights_seen_", []), first]
        history = [
            {"epoch": e + 1, "train_loss": self.losses[run]} for e in range(run + 1)
        ]
        self.history_[name] = history
        return history

    def _check_partition(self, training_set):
        run = len(self.weights_seen_) - 1
        truth = np.arange(training_set.n_samples) % 3
        if run == 0:  # merges groups 0 and 1
            return np.where(truth == 2, 1, 0)
        return (truth + run) % 3  # the same groups under other names


@pytest.mark.parametrize("n_init, kept", [(4, 1), (2, 0), (1, 0)])
def test_n_init_keeps_one_run(blobs, n_init, kept):
    X, _ = blobs
    model = _ScriptedRuns(n_clusters=3, n_init=n_init, max_epochs=4, **FAST).fit(X)
    assert len(model.weights_seen_) == n_init
    # Each run starts from its own network; the kept one is in module_.
    if n_init > 1:
        assert not torch.equal(model.weights_seen_[0], model.weights_seen_[1])
    torch.testing.assert_close(
        next(model.module_.parameters()), model.weights_seen_[kept], rtol=0, atol=0
    )
    assert model.history_["train"][-1]["train_loss"] == model.losses[kept]
    assert model.n_iter_ == kept + 1
    # The temperature is that of the kept run's last epoch (of four).
    assert model.temperature_ == pytest.approx(2 ** (-kept / 2))


def test_n_init_real_runs(blobs):
    X, y = blobs
    kw = dict(n_clusters=3, max_epochs=10, n_init=3, **FAST)
    three = GMVAEClustering(**kw).fit(X)
    again = GMVAEClustering(**kw).fit(X)
    np.testing.assert_array_equal(three.labels_, again.labels_)
    np.testing.assert_array_equal(three.predict_proba(X), again.predict_proba(X))
    assert three.n_iter_ == len(three.history_["train"]) == 10
    assert adjusted_rand_score(y, three.labels_) > 0.8


def _start_probe(X, y=None, seed=0):
    """A fit of one short epoch on the bound: what the start left, barely moved."""
    est = GMVAEClustering(
        n_clusters=6, max_epochs=1, batch_size=50, **{**FAST, "random_state": seed}
    )
    return est.fit(X, y)


def test_unsupervised_fit_starts_from_the_neighbour_graph():
    # Six blobs in 20 dimensions: one epoch on the bound from a random
    # network leaves them mixed; the start (3 epochs of 12 cross-entropy
    # steps of q(y|x) towards a partition of the 10-NN graph)
    # sorts them (ARI 0.95-1.0 on two kinds of CPU; 0.56 without the start).
    X, y = make_blobs(n_samples=600, centers=6, n_features=20, random_state=3)
    for seed in range(3):
        est = _start_probe(X, seed=seed)
        assert adjusted_rand_score(y, est.labels_) > 0.9
        assert len(est.history_["start"]) == 3


def test_the_bound_trains_q_y_only_after_the_hold_without_views(monkeypatch):
    # Without views (here flat rows) the first tenth of the epochs (at
    # least one) leaves q(y|x) where the start put it.
    X, _ = make_blobs(n_samples=600, centers=6, n_features=20, random_state=3)
    X = (X - X.min()) / (X.max() - X.min())
    after_start = {}
    train = GraphStart.train

    def spy(self, estimator, training_set, logits):
        train(self, estimator, training_set, logits)
        after_start.update(
            {k: v.clone() for k, v in estimator.module_.qy.state_dict().items()}
        )

    monkeypatch.setattr(GraphStart, "train", spy)

    def q_y_moved(max_epochs, **kw):
        est = GMVAEClustering(
            n_clusters=6, max_epochs=max_epochs, batch_size=50, **FAST, **kw
        ).fit(X)
        state = est.module_.qy.state_dict()
        return any(not torch.equal(after_start[k], v) for k, v in state.items())

    assert not q_y_moved(1)
    assert q_y_moved(2)
    # Image rows train q(y|x) on their views from the first step: no hold;
    # without the consistency term they are held like flat rows.
    assert q_y_moved(1, image_shape=(1, 4, 5))
    assert not q_y_moved(1, image_shape=(1, 4, 5), consistency_weight=0)


def test_semi_supervised_fit_starts_from_its_labels():
    X, y = make_blobs(n_samples=600, centers=6, n_features=20, random_state=3)
    y_partial = np.full(len(y), -1)
    y_partial[:60] = y[:60]
    est = _start_probe(X, y_partial)
    assert "start" not in est.history_
