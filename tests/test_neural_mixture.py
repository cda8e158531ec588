"""NeuralMixtureEM: clustering quality, inference invariants and augmentations."""

import copy
import math

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from sknclust import NeuralMixtureEM
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


def test_inference_does_not_depend_on_batches(blobs, fitted):
    X, _ = blobs
    X = X[:20]
    single = np.concatenate([fitted.predict_proba(X[i : i + 1]) for i in range(20)])
    np.testing.assert_allclose(single, fitted.predict_proba(X), rtol=1e-7)
    single_labels = [fitted.predict(X[i : i + 1])[0] for i in range(20)]
    np.testing.assert_array_equal(single_labels, fitted.predict(X))


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
        update_weights=density == "batchnorm",
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


def test_image_path_with_augmentation():
    rng = np.random.RandomState(0)
    # Two tiny 8x8 "shapes": a bright top half and a bright left half.
    top = np.zeros((8, 8))
    top[:4] = 1
    left = np.zeros((8, 8))
    left[:, :4] = 1
    X = np.concatenate(
        [np.tile(img.ravel(), (40, 1)) for img in (top, left)]
    ) + rng.normal(scale=0.05, size=(80, 64))
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


def test_agreement_consistency_loss():
    est = NeuralMixtureEM(n_clusters=3)
    est._augment = lambda x: x
    sure = torch.log(torch.tensor([[1.0, 1e-12, 1e-12], [1e-12, 1.0, 1e-12]]))
    views = iter([sure, sure])
    est._view_log_posterior = lambda module, x: next(views)
    # Two views sure of the same component: probability 1 of agreeing.
    assert est._consistency_loss(None, None, None, None).abs() < 1e-6
    uniform = torch.full((2, 3), -math.log(3))
    views = iter([uniform, uniform])
    # Two uniform views agree with probability 1/3.
    torch.testing.assert_close(
        est._consistency_loss(None, None, None, None), torch.tensor(math.log(3))
    )
    views = iter([sure, sure.flip(0)])
    # Views sure of different components: the clamp bounds the loss.
    torch.testing.assert_close(
        est._consistency_loss(None, None, None, None), torch.tensor(-math.log(1e-8))
    )


def test_cross_entropy_consistency_loss():
    est = NeuralMixtureEM(n_clusters=2, consistency="cross_entropy")
    est._augment = lambda x: x
    view = torch.log(torch.tensor([[0.5, 0.5], [0.9, 0.1]]))
    est._view_log_posterior = lambda module, x: view
    # Responsibilities [[1, 0], [0, 1]] up to 1e-30.
    joint = torch.log(torch.tensor([[1.0, 1e-30], [1e-30, 1.0]]))
    expected = -(math.log(0.5) + math.log(0.1)) / 2
    torch.testing.assert_close(
        est._consistency_loss(None, None, joint, None), torch.tensor(expected)
    )


class _CountedSteps(NeuralMixtureEM):
    """Records the epoch of every step of the mixing weights."""

    def _fit_schedule(self, training_set, rng):
        self.steps_, self._epoch = [], None
        record = self._train

        def train(name, loss_fn, training_set, **kw):
            begin = kw["on_epoch_begin"]

            def on_begin(epoch):
                self._epoch = epoch
                begin(epoch)

            return record(
                name, loss_fn, training_set, **{**kw, "on_epoch_begin": on_begin}
            )

        self._train = train
        super()._fit_schedule(training_set, rng)
        del self._train

    def _step_weights(self, module, target, momentum=0.1):
        self.steps_.append(self._epoch)
        super()._step_weights(module, target, momentum)


def _four_epochs(cls, X, update_weights, **params):
    """A fit of four epochs, three batches each: two of warm-up, two after."""
    return cls(
        n_clusters=3,
        update_weights=update_weights,
        random_state=1,
        **params,
        **{**FAST, "max_epochs": 4, "batch_size": 100},
    ).fit(X)


@pytest.mark.parametrize("update_weights", [True, False])
def test_weights_learned_after_the_warm_up(blobs, update_weights):
    est = _four_epochs(_CountedSteps, blobs[0], update_weights)
    if update_weights:
        # Uniform for the first half of the epochs, then one step per batch;
        # the last step is the full-data one after training.
        assert est.steps_ == [2, 2, 2, 3, 3, 3, 3]
        assert not np.allclose(est.weights_, 1 / 3)
    else:
        assert est.steps_ == []
        np.testing.assert_allclose(est.weights_, 1 / 3)


def test_weight_shrinkage_step_is_the_dirichlet_map_step(fitted):
    est = copy.deepcopy(fitted).set_params(weight_shrinkage=0.5)
    module = est.module_
    with torch.no_grad():
        module.log_weights.fill_(math.log(1 / 3))
    target = torch.tensor([1.0, 0.0, 0.0])
    est._step_weights(module, target, momentum=1.0)
    # Halfway from the batch mean to uniform; the prior's pseudo-counts
    # equal the data's count.
    expected = torch.tensor([2 / 3, 1 / 6, 1 / 6], dtype=module.log_weights.dtype)
    torch.testing.assert_close(module.log_weights.exp(), expected)


def test_weight_shrinkage_pulls_learned_weights_towards_uniform():
    # Blobs of 400, 100 and 100 points: learned weights follow the sizes.
    # The small blobs sit at half of 1/K, where the warm-up re-seeds a
    # component, so the weights need 20 epochs after the warm-up.
    X, y = make_blobs(n_samples=[400, 100, 100], centers=CENTERS, random_state=0)
    kw = dict(n_clusters=3, random_state=0, **{**FAST, "max_epochs": 40})
    plain = NeuralMixtureEM(**kw).fit(X)
    shrunk = NeuralMixtureEM(weight_shrinkage=0.6, **kw).fit(X)
    assert adjusted_rand_score(y, plain.labels_) > 0.9
    assert adjusted_rand_score(y, shrunk.labels_) > 0.9
    assert plain.weights_.max() > 0.55
    assert 1 / 3 < shrunk.weights_.max() < plain.weights_.max() - 0.1
    np.testing.assert_allclose(shrunk.weights_.sum(), 1.0, rtol=1e-6)


@pytest.mark.parametrize("value", [1.0, -0.1])
def test_weight_shrinkage_out_of_range(blobs, value):
    X, _ = blobs
    with pytest.raises(ValueError, match="weight_shrinkage"):
        NeuralMixtureEM(n_clusters=3, weight_shrinkage=value, **FAST).fit(X)


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


class _CountedSplits(NeuralMixtureEM):
    """Records, per call of the re-seeding, whether it is in the warm-up."""

    def _split_starved(self, training_set, *, warm_up=False):
        self.splits_ = [*getattr(self, "splits_", []), warm_up]
        super()._split_starved(training_set, warm_up=warm_up)


@pytest.mark.parametrize("update_weights", [True, False])
def test_starved_components_checked_after_every_epoch(blobs, update_weights):
    est = _four_epochs(_CountedSplits, blobs[0], update_weights)
    # Warm-up epochs too, leaving π uniform there; none with uniform weights.
    expected = [True, True, False, False] if update_weights else []
    assert getattr(est, "splits_", []) == expected


@pytest.mark.parametrize(
    "weight_warmup, steps, splits",
    [
        # Uniform throughout, re-seeding at the warm-up bar, no step after.
        (1.0, [], [True] * 4),
        # Learned from the first epoch; three batches an epoch, then the
        # full-data step.
        (0.0, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3], [False] * 4),
        # A fifth of four epochs rounds up to one.
        (0.2, [1, 1, 1, 2, 2, 2, 3, 3, 3, 3], [True, False, False, False]),
    ],
)
def test_weight_warmup_sets_the_uniform_epochs(blobs, weight_warmup, steps, splits):
    class Counted(_CountedSteps, _CountedSplits):
        pass

    est = _four_epochs(Counted, blobs[0], True, weight_warmup=weight_warmup)
    assert est.steps_ == steps
    assert est.splits_ == splits
    if not steps:
        np.testing.assert_allclose(est.weights_, 1 / 3, rtol=1e-6)


@pytest.mark.parametrize("value", [1.5, -0.1])
def test_weight_warmup_out_of_range(blobs, value):
    X, _ = blobs
    with pytest.raises(ValueError, match="weight_warmup"):
        NeuralMixtureEM(n_clusters=3, weight_warmup=value, **FAST).fit(X)


def _merged_state(est, X, y):
    """Re-fit the head so that blob 0 is cut in two while blobs 1 and 2 share
    component 2; returns the training set and all its rows."""
    training_set = _training_set(est, X)
    module = est.module_
    rows = training_set.rows(np.arange(len(X)))
    target = np.where(y == 0, (X[:, 0] > CENTERS[0][0]).astype(int), 2)
    with torch.no_grad():
        h = torch.relu(module.trunk(rows)).double()
        design = torch.cat([h, torch.ones(len(h), 1, dtype=h.dtype)], 1)
        wanted = 4.0 * torch.nn.functional.one_hot(torch.as_tensor(target), 3)
        # Ridge, not lstsq: dead ReLU units make the design rank-deficient,
        # and lstsq's answer then changed from one call to the next.
        gram = design.T @ design + 1e-3 * torch.eye(design.shape[1], dtype=h.dtype)
        coef = torch.linalg.solve(gram, design.T @ wanted.double())
        module.head.weight.copy_(coef[:-1].T)
        module.head.bias.copy_(coef[-1])
    return training_set, rows


@pytest.mark.parametrize("split_above", [None, 1.5])
def test_split_above_cuts_a_component_holding_two_blobs(blobs, fitted, split_above):
    X, y = blobs
    est = copy.deepcopy(fitted).set_params(split_above=split_above)
    training_set, rows = _merged_state(est, X, y)
    before = _labels(est, rows)
    # No component is starved at the bar after the warm-up (0.2 / K)...
    assert np.bincount(before, minlength=3).min() > 0.2 / 3 * len(X)
    # ... but one holds two blobs, over 1.5 / K of the points.
    assert np.bincount(before).max() > 1.5 / 3 * len(X)
    assert adjusted_rand_score(y, before) < 0.5
    est._split_starved(training_set)
    after = _labels(est, rows)
    if split_above is None:
        np.testing.assert_array_equal(after, before)
    else:
        assert adjusted_rand_score(y, after) > 0.95


def test_merge_candidate_is_the_smaller_of_the_most_overlapping_pair():
    from sknclust._neural_mixture import _merge_candidate

    # Components 1 and 3 share rows; 0 overlaps 2 as much but is excluded.
    gamma = torch.tensor(
        [
            [0.5, 0.0, 0.5, 0.0],
            [0.5, 0.0, 0.5, 0.0],
            [0.0, 0.6, 0.0, 0.4],
            [0.0, 0.4, 0.0, 0.6],
            [0.0, 0.0, 0.1, 0.9],
        ]
    )
    share = torch.tensor([0.4, 0.2, 0.1, 0.3])
    assert _merge_candidate(gamma, share, exclude=0) == 1
    share = torch.tensor([0.4, 0.3, 0.1, 0.2])
    assert _merge_candidate(gamma, share, exclude=0) == 3


@pytest.mark.parametrize("value", [1.0, 0.5])
def test_split_above_out_of_range(blobs, value):
    X, _ = blobs
    with pytest.raises(ValueError, match="split_above"):
        NeuralMixtureEM(n_clusters=3, split_above=value, **FAST).fit(X)


def test_split_leaves_populated_components_alone(blobs, fitted):
    X, _ = blobs
    est = copy.deepcopy(fitted)
    state = {k: v.clone() for k, v in est.module_.state_dict().items()}
    est._split_starved(_training_set(est, X))
    for key, value in est.module_.state_dict().items():
        torch.testing.assert_close(value, state[key])


def test_split_check_sees_every_part_of_sorted_data(fitted, monkeypatch):
    # Rows sorted by blob: the first 300 would all come from one blob.
    monkeypatch.setattr("sknclust._neural_mixture._SPLIT_ROWS", 300)
    X, y = make_blobs(n_samples=3000, centers=CENTERS, random_state=1)
    order = np.argsort(y, kind="stable")
    training_set = _training_set(fitted, X[order])
    seen = []
    rows = training_set.rows
    training_set.rows = lambda index: seen.append(index) or rows(index)
    copy.deepcopy(fitted)._split_starved(training_set)
    index = torch.cat(seen).numpy()
    assert len(index) == 300 and index[0] == 0 and index[-1] == 2999
    np.testing.assert_array_equal(np.bincount(y[order][index]), [100, 100, 100])


@pytest.mark.parametrize("consistency", ["agreement", "cross_entropy"])
def test_consistency_forms_differ(blobs, consistency):
    X, _ = blobs
    kw = dict(n_clusters=3, random_state=0, **{**FAST, "max_epochs": 5})
    off = NeuralMixtureEM(consistency_weight=0.0, **kw).fit(X)
    on = NeuralMixtureEM(consistency=consistency, **kw).fit(X)
    assert not np.allclose(off.predict_proba(X), on.predict_proba(X))


class _ScriptedRuns(NeuralMixtureEM):
    """Training runs that only stamp the network and report a set loss and
    a set partition of the check rows (the same one unless overridden)."""

    losses = (3.0, 1.0, 2.0)

    def _train(self, name, loss_fn, training_set, *, epochs, **kw):
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


def test_run_selection_loss_keeps_the_lowest_loss(blobs):
    X, _ = blobs
    model = _ScriptedPartitions(
        n_clusters=3, n_init=4, run_selection="loss", random_state=0, **FAST
    ).fit(X)
    np.testing.assert_array_equal(model.module_.head.bias.detach().numpy(), 0.0)
    assert model.history_["em"] == [{"epoch": 1, "train_loss": 1.0}]


def test_n_init_two_runs_keep_the_lower_loss(blobs):
    X, _ = blobs
    model = _ScriptedPartitions(n_clusters=3, n_init=2, random_state=0, **FAST).fit(X)
    np.testing.assert_array_equal(model.module_.head.bias.detach().numpy(), 0.0)


def test_n_init_real_runs(blobs):
    X, _ = blobs
    kw = dict(n_clusters=3, random_state=0, **{**FAST, "max_epochs": 5})
    one = NeuralMixtureEM(n_init=1, **kw).fit(X)
    two = NeuralMixtureEM(n_init=2, **kw).fit(X)
    last = [m.history_["em"][-1]["train_loss"] for m in (one, two)]
    # The first run of both fits is the same; a second run is kept only if
    # its loss is lower.
    assert last[1] <= last[0]
    assert two.n_iter_ == 5
