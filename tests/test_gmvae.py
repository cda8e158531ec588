"""Tests specific to GMVAEClustering (the common sklearn checks live elsewhere)."""

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from torch.nn import functional as F

from sknclust._gmvae import GMVAEClustering, categorical_kl_uniform, gaussian_kl

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
    assert fitted.n_iter_ <= 40
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


def test_reconstruction_auto():
    X, _ = make_blobs(n_samples=60, centers=2, n_features=4, random_state=0)
    kw = dict(n_clusters=2, hidden_dims=(8,), embedding_dim=2, max_epochs=2)
    assert GMVAEClustering(**kw).fit(X).reconstruction_ == "gaussian"
    est = GMVAEClustering(scaler="minmax", **kw).fit(X)
    assert est.reconstruction_ == "bernoulli"
    X_hat = est.inverse_transform(est.transform(X))
    assert np.all(X_hat >= X.min(0) - 1e-9) and np.all(X_hat <= X.max(0) + 1e-9)
    est = GMVAEClustering(scaler="minmax", reconstruction="gaussian", **kw).fit(X)
    assert est.reconstruction_ == "gaussian"


def test_temperature_schedule():
    est = GMVAEClustering()
    assert est.temperature(0) == 1.0
    assert est.temperature(25) == pytest.approx(2**-0.5)
    assert est.temperature(50) == pytest.approx(0.5)
    assert est.temperature(200) == 0.5


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


@pytest.mark.parametrize("extra", [0, 3, 10])
def test_labelled_rows_join_every_batch(blobs, extra):
    X, y_true = blobs
    y = np.full_like(y_true, -1)
    y[:4] = y_true[:4]  # 4 labelled rows in 300
    est = _BatchSizes(
        n_clusters=3, batch_size=64, labelled_batch_size=extra, max_epochs=2, **FAST
    ).fit(X, y)
    added = min(extra, 4)
    # 300 rows in batches of 64: four full batches and a tail of 44.
    assert sorted(set(est.seen_)) == sorted({64 + added, 44 + added})


def test_labelled_rows_not_added_without_labels(blobs):
    X, _ = blobs
    est = _BatchSizes(n_clusters=3, batch_size=64, max_epochs=1, **FAST).fit(X)
    assert sorted(set(est.seen_)) == [44, 64]


def test_consistency_term():
    est = GMVAEClustering(n_clusters=3, consistency_threshold=0.7)
    module = torch.nn.Module()
    module.qy = lambda rows: rows[:, :3] * 10.0  # logits from the first columns
    est._augment = lambda rows: rows.flip(1)  # the "view" swaps the columns
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    logits = module.qy(x)
    # Row 1 is uniform (top probability 1/3): below the threshold, left out.
    # Rows 0 and 2 are confident; their views predict the opposite class.
    expected = F.cross_entropy(module.qy(x[[0, 2]].flip(1)), torch.tensor([0, 2]))
    got = est._consistency(module, x, torch.arange(3), logits)
    torch.testing.assert_close(got, expected * 2 / 3)
    # No confident row, no term.
    assert est._consistency(module, x[[1]], torch.tensor([1]), logits[[1]]) == 0


def test_consistency_changes_the_fit(blobs):
    X, y_true = blobs
    y = np.full_like(y_true, -1)
    y[::30] = y_true[::30]
    plain = GMVAEClustering(n_clusters=3, max_epochs=5, **FAST).fit(X, y)
    cons = GMVAEClustering(
        n_clusters=3, max_epochs=5, consistency_weight=1.0, **FAST
    ).fit(X, y)
    assert not np.allclose(plain.predict_proba(X), cons.predict_proba(X))
    assert np.mean(cons.predict(X) == y_true) > 0.9


def test_n_iter_no_change_none_trains_every_epoch(blobs):
    X, _ = blobs
    # With tol=1, no epoch counts as progress, so a patience of 2 stops early.
    kw = dict(n_clusters=3, max_epochs=8, tol=1.0, **FAST)
    assert GMVAEClustering(n_iter_no_change=2, **kw).fit(X).n_iter_ < 8
    assert GMVAEClustering(n_iter_no_change=None, **kw).fit(X).n_iter_ == 8


class _ScriptedRuns(GMVAEClustering):
    """Runs that train nothing: each records its freshly drawn first weight
    and reports a set loss, epoch count and partition of the check rows."""

    losses = (1.0, 2.0, 3.0, 2.5)

    def _train(self, name, loss_fn, training_set, *, epochs, **kw):
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


@pytest.mark.parametrize(
    "n_init, selection, kept",
    [(4, "agreement", 1), (4, "loss", 0), (2, "agreement", 0), (1, "agreement", 0)],
)
def test_n_init_keeps_one_run(blobs, n_init, selection, kept):
    X, _ = blobs
    model = _ScriptedRuns(
        n_clusters=3, n_init=n_init, run_selection=selection, **FAST
    ).fit(X)
    assert len(model.weights_seen_) == n_init
    # Each run starts from its own network; the kept one is in module_.
    if n_init > 1:
        assert not torch.equal(model.weights_seen_[0], model.weights_seen_[1])
    torch.testing.assert_close(
        next(model.module_.parameters()), model.weights_seen_[kept], rtol=0, atol=0
    )
    assert model.history_["train"][-1]["train_loss"] == model.losses[kept]
    assert model.n_iter_ == kept + 1
    assert model.temperature_ == model.temperature(kept)


def test_n_init_real_runs(blobs):
    X, _ = blobs
    kw = dict(n_clusters=3, max_epochs=5, **FAST)
    one = GMVAEClustering(**kw).fit(X)
    three = GMVAEClustering(n_init=3, run_selection="loss", **kw).fit(X)
    again = GMVAEClustering(n_init=3, run_selection="loss", **kw).fit(X)
    # The first run of both fits is the same, so the kept loss is no higher.
    loss = [m.history_["train"][-1]["train_loss"] for m in (one, three)]
    assert loss[1] <= loss[0]
    np.testing.assert_array_equal(three.labels_, again.labels_)
    assert three.n_clusters == len(np.unique(three.labels_))
