"""NeuralMixtureEM: clustering quality, inference invariants and augmentations."""

import copy
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris, make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from sknclust import NeuralMixtureEM, _neural_mixture, _views
from sknclust.nn._augment import image_augment, tabular_augment

# Whole-data batches: the per-batch standardisation is noisy on small batches.
FAST = dict(hidden_dims=(32,), batch_size=300, max_epochs=60, device="cpu")


CENTERS = [(-6, -4), (6, -4), (0, 6)]


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(n_samples=300, centers=CENTERS, random_state=0)


@pytest.fixture(scope="module")
def fitted(blobs):
    X, _ = blobs
    return NeuralMixtureEM(n_clusters=3, random_state=1, **FAST).fit(X)


def test_blobs_ari(blobs, fitted):
    _, y = blobs
    assert adjusted_rand_score(y, fitted.labels_) > 0.9


def test_predict_proba_is_responsibilities(blobs, fitted):
    X, _ = blobs
    proba = fitted.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-10)
    np.testing.assert_array_equal(proba.argmax(1), fitted.predict(X))
    np.testing.assert_array_equal(fitted.predict(X), fitted.labels_)


def test_attributes(fitted):
    assert fitted.weights_.shape == (3,)
    np.testing.assert_allclose(fitted.weights_.sum(), 1.0, rtol=1e-6)
    assert fitted.n_iter_ == len(fitted.history_["em"]) == 60
    assert fitted.transform(np.zeros((2, 2))).shape == (2, 32)


@pytest.mark.parametrize("density", ["sigmoid", "batchnorm"])
@pytest.mark.parametrize("consistency_weight", [0.0, 1.0])
def test_formulations_fit(blobs, density, consistency_weight):
    X, _ = blobs
    model = NeuralMixtureEM(
        n_clusters=3,
        density=density,
        consistency_weight=consistency_weight,
        random_state=0,
        **{**FAST, "max_epochs": 5},
    ).fit(X)
    proba = model.predict_proba(X)
    assert np.isfinite(proba).all()
    assert np.isfinite(model.score(X))
    assert len(np.unique(model.labels_)) == 3


def test_no_collapse(blobs, fitted):
    _, counts = np.unique(fitted.labels_, return_counts=True)
    assert counts.size == 3
    assert counts.min() >= 0.01 * counts.sum()
    assert fitted.weights_.min() > 0.01


def test_score_is_finite_log_likelihood(blobs, fitted):
    X, _ = blobs
    scores = fitted._inference(X, fitted._score_samples)
    assert np.isfinite(scores).all()
    np.testing.assert_allclose(fitted.score(X), scores.mean())
    # log sum_k pi_k p_k(x) with p_k of unit mean over the training set.
    assert abs(fitted.score(X)) < 1.0


def test_image_path_with_augmentation(record_warps, two_shapes):
    warped = record_warps(_views)
    X, _ = two_shapes
    model = NeuralMixtureEM(
        n_clusters=2,
        image_shape=(8, 8),
        embedding_dim=8,
        batch_size=32,
        max_epochs=5,
        random_state=0,
        device="cpu",
    ).fit(X)
    assert model.transform(X).shape == (80, 8)
    assert model.predict_proba(X).shape == (80, 2)
    assert len(np.unique(model.labels_)) == 2
    assert any(isinstance(m, torch.nn.Conv2d) for m in model.module_.modules())
    # Both views of every batch are warps: 2 batches of 32 rows, 5 epochs;
    # plus one warp of the check rows at the end of epoch 3 (after the
    # warm-up, before the last tenth), which looks for redundant components.
    assert warped == [(1, 8, 8)] * (2 * 2 * 5 + 1)


def _seeded(fn, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return fn()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_augmentations_shape_and_determinism(dtype):
    x = torch.rand(6, 2 * 8 * 8, dtype=dtype)
    for fn in (
        lambda: image_augment(x, (2, 8, 8)),
        lambda: tabular_augment(x),
    ):
        a, b = _seeded(fn), _seeded(fn)
        assert a.shape == x.shape and a.dtype == dtype
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert not torch.equal(a, _seeded(fn, seed=1))
        assert not torch.equal(a, x)
    # (height, width) means one channel.
    y = torch.rand(3, 64)
    assert image_augment(y, (8, 8)).shape == (3, 64)


def test_augmentation_keeps_global_rng():
    x = torch.rand(4, 64)
    state = torch.random.get_rng_state()
    _seeded(lambda: image_augment(x, (8, 8)))
    assert torch.equal(state, torch.random.get_rng_state())


def test_fit_is_reproducible(blobs):
    X, _ = blobs
    params = dict(n_clusters=3, random_state=1, **{**FAST, "max_epochs": 3})
    a = NeuralMixtureEM(**params).fit(X)
    b = NeuralMixtureEM(**params).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.weights_, b.weights_)


class _FixedViews(SimpleNamespace):
    """Views that leave rows as they are."""

    def augment(self, x):
        return x

    def __call__(self, x, index):
        return x


def _views_of(log_posteriors, uses_neighbors=False):
    """An estimator whose views have the given log posteriors, in turn."""
    est = NeuralMixtureEM(n_clusters=3)
    drawn = iter(log_posteriors)
    est._view_log_posterior = lambda module, x: next(drawn)
    return est, _FixedViews(uses_neighbors=uses_neighbors)


def test_consistency_loss_is_minus_log_agreement():
    sure = torch.log(torch.tensor([[1.0, 1e-12, 1e-12], [1e-12, 1.0, 1e-12]]))
    uniform = torch.full((2, 3), -math.log(3))
    # Two views sure of the same component: probability 1 of agreeing.
    est, views = _views_of([sure, sure])
    assert est._consistency_loss(None, None, None, None, views).abs() < 1e-6
    # Two uniform views agree with probability 1/3.
    est, views = _views_of([uniform, uniform])
    torch.testing.assert_close(
        est._consistency_loss(None, None, None, None, views), torch.tensor(math.log(3))
    )
    # Views sure of different components: the clamp bounds the loss.
    est, views = _views_of([sure, sure.flip(0)])
    torch.testing.assert_close(
        est._consistency_loss(None, None, None, None, views),
        torch.tensor(-math.log(1e-8)),
    )


def test_consistency_with_neighbours_takes_the_row_as_first_view():
    # The row's own posterior comes from its joint log pi_k p_k; only the
    # neighbour goes through the network.
    joint = torch.log(torch.tensor([[2.0, 1e-12, 1e-12], [1e-12, 1e-12, 5.0]]))
    neighbour = torch.log(torch.tensor([[1.0, 1e-12, 1e-12], [0.5, 1e-12, 0.5]]))
    est, views = _views_of([neighbour], uses_neighbors=True)
    loss = est._consistency_loss(None, None, joint, None, views)
    # Agreement 1 for the first row and 1/2 for the second.
    torch.testing.assert_close(loss, torch.tensor(math.log(2) / 2))


class _EpochCounted(NeuralMixtureEM):
    """Tracks the current training epoch in ``epoch_``."""

    def _train(self, name, loss_fn, training_set, **kw):
        if name == "start":  # the graph start has no epoch hooks
            return super()._train(name, loss_fn, training_set, **kw)
        begin = kw["on_epoch_begin"]

        def on_begin(epoch):
            self.epoch_ = epoch
            begin(epoch)

        return super()._train(
            name, loss_fn, training_set, **{**kw, "on_epoch_begin": on_begin}
        )


def _four_epochs(cls, X):
    """A fit of four epochs, three batches each: two of warm-up, two after."""
    return cls(
        n_clusters=3, random_state=1, **{**FAST, "max_epochs": 4, "batch_size": 100}
    ).fit(X)


def test_weights_learned_after_the_warm_up(blobs, monkeypatch):
    steps, estimators = [], []
    step = _neural_mixture._step_weights

    def spy(module, target, **kw):
        steps.append(estimators[0].epoch_)
        step(module, target, **kw)

    class Counted(_EpochCounted):
        def _fit_schedule(self, training_set, rng):
            estimators.append(self)
            super()._fit_schedule(training_set, rng)

    monkeypatch.setattr(_neural_mixture, "_step_weights", spy)
    est = _four_epochs(Counted, blobs[0])
    # Uniform for the first half of the epochs, then one step per batch;
    # the last step is the full-data one after training.
    assert steps == [2, 2, 2, 3, 3, 3, 3]
    assert not np.allclose(est.weights_, 1 / 3)
    np.testing.assert_allclose(est.weights_.sum(), 1.0, rtol=1e-6)


def test_learned_weights_follow_unbalanced_sizes():
    # Blobs of 400, 100 and 100 points: the weights follow the sizes.
    X, y = make_blobs(n_samples=[400, 100, 100], centers=CENTERS, random_state=0)
    est = NeuralMixtureEM(
        n_clusters=3, random_state=0, **{**FAST, "max_epochs": 40}
    ).fit(X)
    assert adjusted_rand_score(y, est.labels_) > 0.9
    np.testing.assert_allclose(np.sort(est.weights_), [1 / 6, 1 / 6, 2 / 3], atol=0.1)


def _training_set(est, X):
    from sknclust._data import TrainingSet

    X = np.asarray(X, dtype=np.float32)
    return TrainingSet(
        X, est._offset, est._scale, device="cpu", batch_size=len(X), seed=0
    )


def _labels(est, rows):
    """Hard assignments of ``rows`` under the batch-standardised density."""
    with torch.no_grad():
        u = est.module_(rows)[1]
        return (est._batch_log_density(u) + est.module_.log_weights).argmax(1).numpy()


def test_split_reseeds_a_starved_component(blobs, fitted):
    X, y = blobs
    est = copy.deepcopy(fitted)
    training_set = _training_set(est, X)
    module = est.module_
    with torch.no_grad():
        # Component 0 loses its weight: its blob joins another component.
        module.log_weights.copy_(torch.tensor([1e-9, 0.5, 0.5]).log())
        rows = training_set.rows(np.arange(len(X)))
        before = _labels(est, rows)
        assert not (before == 0).any()
        est._split_starved(training_set)
        after = _labels(est, rows)
    # The component that held two blobs was cut in two, along the blobs.
    assert adjusted_rand_score(y, before) < 0.7
    assert adjusted_rand_score(y, after) > 0.95
    torch.testing.assert_close(module.log_weights.exp().sum(), torch.tensor(1.0))


def test_split_in_the_warm_up_keeps_the_weights(blobs, fitted):
    X, _ = blobs
    est = copy.deepcopy(fitted)
    module = est.module_
    with torch.no_grad():
        module.log_weights.copy_(torch.tensor([1e-9, 0.5, 0.5]).log())
    weights = module.log_weights.clone()
    head = module.head.weight.clone()
    est._split_starved(_training_set(est, X), warm_up=True)
    # The head rows are re-seeded, but π is left as it was.
    assert not torch.equal(module.head.weight, head)
    torch.testing.assert_close(module.log_weights, weights)


class _CountedSplits(_EpochCounted):
    """Records the epoch of each call of the re-seeding, and whether it is
    in the warm-up."""

    def _split_starved(self, training_set, *, warm_up=False, **kw):
        self.splits_ = [*getattr(self, "splits_", []), (self.epoch_, warm_up)]
        return super()._split_starved(training_set, warm_up=warm_up, **kw)


def test_starved_components_checked_after_every_epoch(blobs):
    est = _four_epochs(_CountedSplits, blobs[0])
    # The warm-up epochs too, at their own bar.
    assert est.splits_ == [(0, True), (1, True), (2, False), (3, False)]


def test_split_leaves_populated_components_alone(blobs, fitted):
    X, _ = blobs
    est = copy.deepcopy(fitted)
    state = {k: v.clone() for k, v in est.module_.state_dict().items()}
    est._split_starved(_training_set(est, X))
    for key, value in est.module_.state_dict().items():
        torch.testing.assert_close(value, state[key])


def _four_shapes(sizes, seed):
    """Noisy 8x8 images of four shapes, ``sizes[i]`` of shape i."""
    shapes = np.zeros((4, 8, 8))
    shapes[0, :4] = shapes[1, :, :4] = shapes[2, 4:, 4:] = shapes[3, 2:6, 2:6] = 1
    y = np.repeat(np.arange(4), sizes)
    noise = np.random.RandomState(seed).normal(scale=0.1, size=(len(y), 64))
    return shapes[y].reshape(len(y), 64) + noise, y


def test_a_large_class_is_not_left_split():
    # One shape six times as frequent as each other: the uniform weights of
    # the warm-up can cut it in two and let two small shapes share a
    # component. Once the weights are learned, the halves, whose warps cross
    # between them, are merged and the shared component split. Fits land
    # differently with the CPU's kernels, so the test counts seeds.
    recovered = 0
    for seed in range(5):
        X, y = _four_shapes([240, 40, 40, 40], seed)
        est = NeuralMixtureEM(
            n_clusters=4,
            image_shape=(8, 8),
            batch_size=120,
            max_epochs=40,
            random_state=seed,
            device="cpu",
        ).fit(X)
        recovered += adjusted_rand_score(y, est.labels_) > 0.9
    assert recovered >= 4


def test_a_small_true_class_is_not_taken_for_a_starved_one():
    # Four shapes, fitted apart; then the check rows hold one of them at
    # 10% of the rows, under half of the 1/K share that the warm-up's uniform
    # weights pull towards. Small but held, it must keep its component, in
    # the warm-up as after it.
    X, y = _four_shapes([90, 90, 90, 90], seed=0)
    est = NeuralMixtureEM(
        n_clusters=4,
        image_shape=(8, 8),
        batch_size=120,
        max_epochs=40,
        random_state=0,
        device="cpu",
    ).fit(X)
    assert adjusted_rand_score(y, est.labels_) == 1.0
    keep = np.r_[np.flatnonzero(y != 3), np.flatnonzero(y == 3)[:30]]
    training_set = _training_set(est, X[keep])
    state = {k: v.clone() for k, v in est.module_.state_dict().items()}
    for warm_up in (True, False):
        assert not est._split_starved(training_set, warm_up=warm_up)
    for key, value in est.module_.state_dict().items():
        torch.testing.assert_close(value, state[key])


def test_merge_leaves_separate_classes_alone(blobs, fitted):
    X, _ = blobs
    est = copy.deepcopy(fitted)
    training_set = _training_set(est, X)
    views = _views.Views(None, n_neighbors=10).prepare(training_set)
    state = {k: v.clone() for k, v in est.module_.state_dict().items()}
    check = est._check_rows(training_set)
    assert est._redundant_pair(training_set, views, check) is None
    for key, value in est.module_.state_dict().items():
        torch.testing.assert_close(value, state[key])


def test_split_check_sees_every_part_of_sorted_data(fitted):
    # Rows sorted by blob: the first 10,000 check rows would miss a blob.
    X, y = make_blobs(n_samples=15000, centers=CENTERS, random_state=1)
    order = np.argsort(y, kind="stable")
    training_set = _training_set(fitted, X[order])
    seen = []
    rows = training_set.rows
    training_set.rows = lambda index: seen.append(index) or rows(index)
    copy.deepcopy(fitted)._split_starved(training_set)
    index = torch.cat(seen).numpy()
    assert len(index) == 10000 and index[0] == 0 and index[-1] == 14999
    counts = np.bincount(y[order][index])
    assert counts.min() >= 3333 and counts.max() <= 3334


class _ScriptedRuns(NeuralMixtureEM):
    """Training runs that only stamp the network and report a set loss and
    a set partition of the check rows (the same one unless overridden)."""

    losses = (3.0, 1.0, 2.0)

    def _train(self, name, loss_fn, training_set, *, epochs, **kw):
        if name == "start":  # the graph start of each run: not scripted
            return []
        run = len(self.stamps_) if hasattr(self, "stamps_") else 0
        self.stamps_ = [*getattr(self, "stamps_", []), run]
        with torch.no_grad():
            self.module_.head.bias.fill_(run)
        history = [{"epoch": 1, "train_loss": self.losses[run]}]
        self.history_[name] = history
        return history

    def _check_rows(self, training_set):
        h, u, _ = super()._check_rows(training_set)
        return h, u, self._partition(len(self.stamps_) - 1, len(h))

    def _partition(self, run, n):
        return torch.arange(n) % 3


def test_n_init_keeps_the_lowest_loss_when_runs_agree(blobs):
    X, _ = blobs
    model = _ScriptedRuns(n_clusters=3, n_init=3, random_state=0, **FAST).fit(X)
    assert model.stamps_ == [0, 1, 2]
    # Run 1 had the lowest loss: its network and history are the ones kept.
    np.testing.assert_array_equal(model.module_.head.bias.detach().numpy(), 1.0)
    assert model.history_["em"] == [{"epoch": 1, "train_loss": 1.0}]
    assert model.n_iter_ == 1


class _ScriptedPartitions(_ScriptedRuns):
    losses = (1.0, 2.0, 3.0, 2.5)

    def _partition(self, run, n):
        truth = torch.arange(n) % 3
        if run == 0:  # merges groups 0 and 1, splits group 2
            return torch.where(truth == 2, torch.arange(n) % 2 + 1, 0)
        return (truth + run) % 3  # the same groups under other names


def test_n_init_keeps_the_run_the_others_agree_with(blobs):
    X, _ = blobs
    model = _ScriptedPartitions(n_clusters=3, n_init=4, random_state=0, **FAST).fit(X)
    # Run 0 has the lowest loss but a partition no other run shares; runs 1
    # to 3 agree, and of those run 1 has the lowest loss.
    np.testing.assert_array_equal(model.module_.head.bias.detach().numpy(), 1.0)
    assert model.history_["em"] == [{"epoch": 1, "train_loss": 2.0}]


def test_n_init_two_runs_keep_the_lower_loss(blobs):
    X, _ = blobs
    model = _ScriptedPartitions(n_clusters=3, n_init=2, random_state=0, **FAST).fit(X)
    np.testing.assert_array_equal(model.module_.head.bias.detach().numpy(), 0.0)


def test_n_init_real_runs(blobs):
    X, y = blobs
    # 40 epochs of one step each: 20 steps leave a run unsettled.
    kw = dict(n_clusters=3, n_init=3, random_state=0, **{**FAST, "max_epochs": 40})
    three = NeuralMixtureEM(**kw).fit(X)
    again = NeuralMixtureEM(**kw).fit(X)
    np.testing.assert_array_equal(three.labels_, again.labels_)
    np.testing.assert_array_equal(three.predict_proba(X), again.predict_proba(X))
    np.testing.assert_array_equal(three.weights_, again.weights_)
    assert three.n_iter_ == len(three.history_["em"]) == 40
    assert adjusted_rand_score(y, three.labels_) > 0.9


def test_training_prior_is_the_renormalised_square_root_of_the_weights(fitted):
    # The network trains against responsibilities with π^(1/2): a large
    # component's pull on ambiguous rows is half of what π gives in log space.
    module = copy.deepcopy(fitted.module_)
    with torch.no_grad():
        module.log_weights.copy_(torch.tensor([0.64, 0.16, 0.2]).log())
    root = torch.tensor([0.8, 0.4, math.sqrt(0.2)])
    torch.testing.assert_close(
        _neural_mixture._training_prior(module).exp(), root / root.sum()
    )


def test_a_far_class_is_not_cut_to_merge_two_overlapping_ones():
    # Standardised iris: versicolor and virginica overlap and swap neighbours
    # the way two halves of one class do. Merging them means cutting setosa,
    # far from both, in two; its halves then swap neighbours more often than
    # the merged pair did, and the re-seed is undone. Without that trial one
    # seed in eight ended with setosa cut in two.
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    for seed in range(8):
        labels = (
            NeuralMixtureEM(n_clusters=3, random_state=seed, device="cpu")
            .fit(X)
            .labels_
        )
        # Cut in two, setosa would have no cluster of its own; a single
        # border row may stray.
        setosa = np.bincount(labels[y == 0]).argmax()
        assert np.sum(labels[y == 0] == setosa) >= 49, seed
        assert not np.any(labels[y != 0] == setosa), seed


def _start_probe(X, seed, **kw):
    """A fit of one short EM epoch: what the start left, barely moved."""
    params = {**FAST, "max_epochs": 1, "batch_size": 50, "consistency_weight": 0}
    return NeuralMixtureEM(n_clusters=6, random_state=seed, **{**params, **kw}).fit(X)


def test_rows_without_image_shape_start_from_the_neighbour_graph():
    # Six blobs in 20 dimensions: one EM epoch from a random network leaves
    # them mixed; the start (3 epochs of 12 cross-entropy steps towards a
    # partition of the 10-NN graph) sorts them.
    X, y = make_blobs(n_samples=600, centers=6, n_features=20, random_state=3)
    for seed in range(3):
        est = _start_probe(X, seed)
        assert adjusted_rand_score(y, est.labels_) > 0.95
        assert len(est.history_["start"]) == 3


def test_image_rows_start_from_the_random_network():
    X, _ = make_blobs(n_samples=200, centers=3, n_features=64, random_state=0)
    X = (X - X.min()) / (X.max() - X.min())
    est = _start_probe(X, 0, image_shape=(1, 8, 8))
    assert "start" not in est.history_
