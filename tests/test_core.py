"""Behaviour every deep estimator inherits from the shared core."""

import io
import pickle
import subprocess
import sys

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from sknclust import DeepKMeans, GMVAEClustering, NeuralMixtureEM, _deep_kmeans
from sknclust._base import assign_populated, auto_epochs
from sknclust._device import resolve_device

FAST = dict(hidden_dims=(16,), pretrain_epochs=15, max_epochs=15, batch_size=32)
# Small settings of each estimator, otherwise its defaults.
SMALL = {
    DeepKMeans: FAST,
    NeuralMixtureEM: dict(hidden_dims=(16,), max_epochs=15, batch_size=32),
    GMVAEClustering: dict(
        hidden_dims=(16,), embedding_dim=2, max_epochs=15, batch_size=32
    ),
}
ESTIMATORS = list(SMALL)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=120, centers=3, n_features=5, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def fitted(blobs):
    return DeepKMeans(3, random_state=0, **FAST).fit(blobs[0])


@pytest.fixture(scope="module", params=ESTIMATORS, ids=lambda c: c.__name__)
def each(request, blobs):
    """Each estimator, fitted on the blobs."""
    cls = request.param
    return cls(3, random_state=0, **SMALL[cls]).fit(blobs[0])


# ---------------------------------------------------------------- device
def test_auto_device_is_recorded(fitted):
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert fitted.device_.startswith(expected) or fitted.device_ == "mps"
    assert fitted.device == "auto"


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "tpu", ""])
def test_unknown_device_string(device):
    with pytest.raises(ValueError, match="device"):
        resolve_device(device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_missing_cuda_raises_value_error(blobs):
    with pytest.raises(ValueError, match="'cuda:1'.*not available"):
        DeepKMeans(3, device="cuda:1", **FAST).fit(blobs[0])


# ----------------------------------------------------------- determinism
def test_same_seed_same_result(blobs, fitted):
    other = DeepKMeans(3, random_state=0, **FAST).fit(blobs[0])
    np.testing.assert_array_equal(other.labels_, fitted.labels_)
    np.testing.assert_array_equal(other.transform(blobs[0]), fitted.transform(blobs[0]))


def test_different_seeds_differ(blobs, fitted):
    # random_state seeds the initial weights: were it ignored (a fixed seed
    # inside), every seed would give the embedding of seed 0.
    other = DeepKMeans(3, random_state=1, **FAST).fit(blobs[0])
    assert not np.array_equal(other.transform(blobs[0]), fitted.transform(blobs[0]))


@pytest.mark.parametrize(
    "cls, params",
    [
        (DeepKMeans, dict(strategy="gumbel")),
        (NeuralMixtureEM, {}),
        (GMVAEClustering, {}),
        (NeuralMixtureEM, dict(image_shape=(1, 5))),
    ],
    ids=["DeepKMeans", "NeuralMixtureEM", "GMVAEClustering", "image-views"],
)
def test_global_rng_untouched(blobs, cls, params):
    torch.manual_seed(123)
    np.random.seed(123)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    kw = {**SMALL[cls], "max_epochs": 3, **params}
    cls(3, random_state=0, **kw).fit(blobs[0])
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state[1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_fit_leaves_every_gpu_rng_alone(blobs):
    # Seeding must not reach the streams of the GPUs the fit does not use.
    torch.cuda.manual_seed_all(123)
    states = torch.cuda.get_rng_state_all()
    NeuralMixtureEM(3, random_state=0, device="cuda:0", **SMALL[NeuralMixtureEM]).fit(
        blobs[0]
    )
    after = torch.cuda.get_rng_state_all()
    assert all(torch.equal(a, b) for a, b in zip(states, after, strict=True))


def test_unseeded_fit_leaves_numpy_global_rng_alone(blobs):
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    DeepKMeans(3, random_state=None, **FAST).fit(blobs[0])
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_identical_across_processes(blobs, fitted):
    code = (
        "import numpy as np, torch; torch.set_num_threads(1);"
        "from sklearn.datasets import make_blobs; from sknclust import DeepKMeans;"
        "X, _ = make_blobs(n_samples=120, centers=3, n_features=5, random_state=0);"
        "m = DeepKMeans(3, random_state=0, hidden_dims=(16,), pretrain_epochs=15,"
        " max_epochs=15, batch_size=32).fit(X);"
        "np.save(__import__('sys').stdout.buffer, m.transform(X))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    embedding = np.load(io.BytesIO(out.stdout))
    np.testing.assert_array_equal(embedding, fitted.transform(blobs[0]))


# ---------------------------------------------------------------- labels
def test_labels_consistent_and_populated(blobs, fitted):
    X = blobs[0]
    assert fitted.labels_.dtype == np.int64
    np.testing.assert_array_equal(fitted.predict(X), fitted.labels_)
    again = DeepKMeans(3, random_state=0, **FAST).fit_predict(X)
    np.testing.assert_array_equal(again, fitted.labels_)
    assert set(fitted.labels_) == {0, 1, 2}
    assert adjusted_rand_score(blobs[1], fitted.labels_) > 0.9


def test_predict_proba_matches_predict(blobs, each):
    X = blobs[0]
    proba = each.predict_proba(X)
    assert proba.shape == (120, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(proba.argmax(1), each.predict(X))
    np.testing.assert_array_equal(each.predict(X), each.labels_)


def test_inference_does_not_depend_on_batches(blobs, each):
    # One row at a time or all together: the same outputs, in float64 and
    # float32. Inference uses stored training statistics, never the batch's.
    for X in (blobs[0][:20], blobs[0][:20].astype(np.float32)):
        for method in (each.predict_proba, each.transform):
            single = np.concatenate([method(X[i : i + 1]) for i in range(20)])
            np.testing.assert_allclose(single, method(X), rtol=1e-5, atol=1e-6)
        labels = [each.predict(X[i : i + 1])[0] for i in range(20)]
        np.testing.assert_array_equal(labels, each.predict(X))


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_no_empty_cluster_on_unbalanced_blobs(cls):
    X, y = make_blobs(
        n_samples=[150, 20, 6], n_features=4, cluster_std=0.5, random_state=3
    )
    est = cls(3, random_state=0, **{**SMALL[cls], "max_epochs": 5}).fit(X)
    # Every cluster holds a training row, and predict agrees with labels_.
    assert np.bincount(est.labels_, minlength=3).min() > 0
    np.testing.assert_array_equal(est.predict(X), est.labels_)


def test_assign_populated_fills_empty_clusters():
    scores = np.array([[5.0, 1, 0], [4, 1, 0], [3, 2, 0], [0, 6, 1]])
    labels, bias = assign_populated(scores)
    assert sorted(set(labels)) == [0, 1, 2]
    np.testing.assert_array_equal(np.argmax(scores + bias, 1), labels)
    # the cheapest point to move is row 2 (margin 1 from cluster 0 to 1... to 2: 3)
    assert labels[0] == 0 and labels[3] == 1
    untouched, zero = assign_populated(np.eye(3))
    np.testing.assert_array_equal(untouched, [0, 1, 2])
    assert not zero.any()


def test_assign_populated_warns_when_rows_are_identical():
    with pytest.warns(ConvergenceWarning, match="Only 1 of 3 clusters"):
        labels, _ = assign_populated(np.ones((5, 3)))
    assert labels.dtype == np.int64 and labels.shape == (5,)


# ----------------------------------------------------------- persistence
def test_pickle_and_joblib_round_trip(blobs, each, tmp_path):
    X = blobs[0]
    data = pickle.dumps(each)
    assert b"torch.optim" not in data and b"skorch" not in data
    restored = pickle.loads(data)
    np.testing.assert_array_equal(restored.predict(X), each.predict(X))
    np.testing.assert_array_equal(restored.predict_proba(X), each.predict_proba(X))
    np.testing.assert_array_equal(restored.transform(X), each.transform(X))
    joblib.dump(each, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib", mmap_mode="r")
    np.testing.assert_array_equal(loaded.transform(X), each.transform(X))
    assert loaded.score(X) == each.score(X)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a CPU-only machine")
def test_gpu_fitted_model_loads_on_cpu(blobs, fitted):
    pretend = pickle.loads(pickle.dumps(fitted))
    pretend.device_ = "cuda"  # as if fitted on a GPU
    with pytest.warns(UserWarning, match="not available here"):
        restored = pickle.loads(pickle.dumps(pretend))
    assert restored.device_ == "cpu"
    np.testing.assert_array_equal(restored.predict(blobs[0]), fitted.predict(blobs[0]))


# ------------------------------------------------------------------ input
def test_dtypes_are_honoured(blobs, each):
    X = blobs[0]
    X32 = X.astype(np.float32)
    for method in (each.transform, each.predict_proba):
        assert method(X).dtype == np.float64
        assert method(X32).dtype == np.float32
        np.testing.assert_allclose(method(X32), method(X), rtol=1e-4, atol=1e-4)
    assert each.predict(X32).dtype == np.int64
    ints = np.rint(X * 10).astype(np.int32)
    est = type(each)(3, random_state=0, **{**SMALL[type(each)], "max_epochs": 2})
    assert est.fit(ints).transform(ints).dtype == np.float64


def test_lists_and_pandas(blobs):
    pd = pytest.importorskip("pandas")
    X = blobs[0]
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    est = DeepKMeans(3, random_state=0, **FAST).fit(frame)
    np.testing.assert_array_equal(est.feature_names_in_, frame.columns)
    from_list = DeepKMeans(3, random_state=0, **FAST).fit(X.tolist())
    np.testing.assert_array_equal(from_list.labels_, est.labels_)
    est.set_output(transform="pandas")
    out = est.transform(frame)
    assert list(out.columns) == [f"deepkmeans{i}" for i in range(10)]
    assert list(est.get_feature_names_out()) == list(out.columns)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_sparse_matches_dense(blobs, cls, monkeypatch):
    X = np.abs(blobs[0])
    X[X < 2] = 0
    sparse = cls(3, random_state=0, **SMALL[cls]).fit(sp.csr_matrix(X))
    # Sparse and dense versions of the same rows get the same outputs.
    np.testing.assert_array_equal(sparse.predict(X), sparse.labels_)
    np.testing.assert_allclose(sparse.transform(sp.csr_matrix(X)), sparse.transform(X))
    # Sparse rows are scaled without centring, which keeps zeros zero; dense
    # rows scaled the same way train the same network.
    monkeypatch.setattr("sknclust._base.resolve_scaler", lambda X, shape: "sparse")
    dense = cls(3, random_state=0, **SMALL[cls]).fit(X)
    np.testing.assert_array_equal(sparse.labels_, dense.labels_)
    np.testing.assert_allclose(sparse.transform(X), dense.transform(X))


def test_sparse_is_densified_batch_by_batch(monkeypatch):
    X = sp.random(2500, 30, density=0.1, format="csr", random_state=0)
    seen = []
    original = sp.csr_matrix.toarray

    def spy(self, *args, **kwargs):
        seen.append(self.shape[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(sp.csr_matrix, "toarray", spy)
    est = DeepKMeans(
        2, hidden_dims=(8,), pretrain_epochs=1, max_epochs=1, batch_size=64
    )
    est.fit(X).predict(X)
    assert 64 in seen  # training batches
    assert max(seen) == 1024 < X.shape[0]  # inference batches, never all rows


def test_raw_scale_data_is_scaled_internally(blobs):
    X = blobs[0] * 1000 + 1e5
    est = DeepKMeans(3, random_state=0, **FAST).fit(X)
    assert adjusted_rand_score(blobs[1], est.labels_) > 0.9


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_input_not_modified(blobs, cls):
    X = blobs[0].copy()
    est = cls(3, random_state=0, **{**SMALL[cls], "max_epochs": 2}).fit(X)
    est.predict(X), est.predict_proba(X), est.transform(X), est.score(X)
    np.testing.assert_array_equal(X, blobs[0])


def test_inference_is_batched(blobs, fitted):
    sizes = []
    hook = fitted.module_.autoencoder.encoder.register_forward_hook(
        lambda m, i, o: sizes.append(i[0].shape[0])
    )
    try:
        fitted.transform(np.repeat(blobs[0], 25, axis=0))  # 3000 rows
    finally:
        hook.remove()
    assert max(sizes) == 1024 and len(sizes) == 3


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[1.0, np.nan], [2, 3], [3, 4]]), "NaN"),
        (np.array([[1.0, np.inf], [2, 3], [3, 4]]), "infinity"),
        (np.arange(6.0), "1D"),
        (np.empty((0, 3)), "0 sample"),
        (np.ones((2, 3)), "n_clusters=3"),
        (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), "float"),
    ],
)
def test_bad_input_raises(cls, X, match):
    with pytest.raises(ValueError, match=match):
        cls(3, **SMALL[cls]).fit(X)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_clusters": 0}, "n_clusters"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"max_epochs": 2.5}, "max_epochs"),
        ({"hidden_dims": [16]}, "hidden_dims"),
        ({"image_shape": (2, 2)}, "image_shape"),
        ({"device": 0}, "device"),
    ],
)
def test_bad_parameters_raise(blobs, cls, params, match):
    with pytest.raises(ValueError, match=match):
        cls(**{"n_clusters": 3, **SMALL[cls], **params}).fit(blobs[0])


def test_wrong_feature_count_at_predict(blobs, fitted):
    with pytest.raises(
        ValueError, match="X has 4 features, but DeepKMeans is expecting 5"
    ):
        fitted.predict(blobs[0][:, :4])


@pytest.mark.parametrize(
    "cls, conv",
    [(DeepKMeans, False), (NeuralMixtureEM, True), (GMVAEClustering, False)],
)
def test_image_shape_network(cls, conv):
    # NeuralMixtureEM swaps its MLP for a small convolutional network on
    # images; the autoencoders keep the MLP of hidden_dims.
    X = np.random.RandomState(0).rand(60, 64)
    params = dict(hidden_dims=(7,), embedding_dim=4, batch_size=32, max_epochs=2)
    est = cls(2, image_shape=(8, 8), random_state=0, **params).fit(X)
    modules = list(est.module_.modules())
    assert any(isinstance(m, torch.nn.Conv2d) for m in modules) == conv
    linear = any(
        isinstance(m, torch.nn.Linear) and m.out_features == 7 for m in modules
    )
    assert linear != conv
    assert est.transform(X).shape == (60, 4)
    assert set(est.labels_) == {0, 1}


# --------------------------------------------------------------- training
@pytest.mark.parametrize(
    "cls, phase", [(NeuralMixtureEM, "em"), (GMVAEClustering, "train")]
)
def test_history_has_every_epoch(blobs, cls, phase):
    est = cls(3, random_state=0, **{**SMALL[cls], "max_epochs": 7}).fit(blobs[0])
    history = est.history_[phase]
    assert [row["epoch"] for row in history] == list(range(1, 8))
    assert est.n_iter_ == 7
    assert all(np.isfinite(row["train_loss"]) and row["dur"] > 0 for row in history)


def test_auto_epochs_clips_the_step_budget():
    assert auto_epochs(16, 400, 10, 50) == 25
    assert auto_epochs(30, 400, 10, 50) == 14  # rounded up
    assert auto_epochs(100, 400, 10, 50) == 10
    assert auto_epochs(1, 400, 10, 50) == 50


@pytest.mark.parametrize(
    "n_samples, batch_size, drop_last, n_batches",
    [(128, 8, False, 16), (130, 8, False, 17), (130, 8, True, 16), (5, 8, True, 1)],
)
def test_steps_per_epoch(n_samples, batch_size, drop_last, n_batches):
    from sknclust._data import TrainingSet

    data = TrainingSet(
        np.zeros((n_samples, 2)), 0.0, 1.0, device="cpu", batch_size=batch_size,
        seed=0, drop_last=drop_last,
    )  # fmt: skip
    assert data.n_batches == n_batches == sum(1 for _ in data)


# Documented range of the epochs that max_epochs=None gives.
AUTO_EPOCHS = [
    (DeepKMeans, None, (10, 25)),
    (DeepKMeans, (1, 2, 2), (10, 25)),  # the same with image warps
    (NeuralMixtureEM, None, (20, 100)),
    (GMVAEClustering, None, (30, 100)),
]


@pytest.mark.parametrize(
    "cls, image_shape, epoch_range",
    AUTO_EPOCHS,
    ids=["DeepKMeans", "DeepKMeans-images", "NeuralMixtureEM", "GMVAEClustering"],
)
def test_max_epochs_none_follows_a_step_budget(
    cls, image_shape, epoch_range, monkeypatch
):
    low, high = epoch_range
    middle = (low + high) // 2
    # A budget of a few hundred steps rather than thousands keeps the test
    # fast; the documented epoch ranges are the estimators' own.
    monkeypatch.setattr(cls, "_STEPS", 16 * middle)
    X, _ = make_blobs(n_samples=128, centers=3, n_features=4, random_state=0)
    X -= X.min()
    params = dict(hidden_dims=(8,), batch_size=8, image_shape=image_shape)
    if cls is DeepKMeans:
        params["pretrain_epochs"] = 0
    # One batch: the budget would need hundreds of epochs, the range caps them.
    small = cls(3, random_state=0, **params).fit(X[:8])
    assert small.n_iter_ == high
    # Sixteen batches: the budget is spent in the middle of the range.
    larger = cls(3, random_state=0, **params).fit(X)
    assert larger.n_iter_ == middle
    assert low < larger.n_iter_ < small.n_iter_ == high


def test_engine_matches_a_plain_adam_loop(blobs):
    # Same batches, same Adam steps: the engine must add nothing to the maths.
    from sknclust._data import TrainingSet
    from sknclust._engine import run_phase

    def loss_fn(module, x, _):
        return ((module(x) - x) ** 2).mean()

    def make():
        data = TrainingSet(blobs[0], 0.0, 1.0, device="cpu", batch_size=32, seed=1)
        with torch.random.fork_rng():  # leave the suite's global RNG alone
            torch.manual_seed(0)
            module = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Linear(4, 5))
        return module, data

    engine_module, data = make()
    run_phase(
        "check", engine_module, loss_fn, data, epochs=3, learning_rate=1e-2,
        device="cpu", lr_schedule="constant", early_stopping=False,
    )  # fmt: skip
    plain_module, data = make()
    # The engine's CPU Adam is torch's fused kernel: same update rule, its own
    # rounding, so the reference loop uses it too and must match bit for bit.
    optimizer = torch.optim.Adam(plain_module.parameters(), lr=1e-2, fused=True)
    for _ in range(3):
        for x, index in data:
            optimizer.zero_grad()
            loss_fn(plain_module, x, index).backward()
            optimizer.step()
    for a, b in zip(engine_module.parameters(), plain_module.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_engine_trains_in_training_mode_after_a_hook_switches_to_eval(blobs):
    # Inference switches the module to eval mode (dropout off, batch-norm on
    # stored statistics); a hook may run it between epochs, and every
    # training step after that must be back in training mode.
    from sknclust._data import TrainingSet
    from sknclust._engine import run_phase

    modes = []

    def loss_fn(module, x, _):
        modes.append(module.training)
        return module(x).pow(2).mean()

    data = TrainingSet(blobs[0], 0.0, 1.0, device="cpu", batch_size=150, seed=1)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        module = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Dropout(0.1))
    module.eval()
    run_phase(
        "check", module, loss_fn, data, epochs=3, learning_rate=1e-3,
        device="cpu", early_stopping=False, on_epoch_end=lambda e: module.eval(),
    )  # fmt: skip
    assert len(modes) == 3 * data.n_batches
    assert all(modes)


@pytest.mark.parametrize("user_setting", [False, True])
def test_denormals_flushed_in_training_only(blobs, monkeypatch, user_setting):
    from sknclust._base import _flushing_denormals

    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush denormals")
    seen = []
    loss = _deep_kmeans._pretrain_loss

    def spy(*args):
        seen.append(_flushing_denormals())
        return loss(*args)

    monkeypatch.setattr(_deep_kmeans, "_pretrain_loss", spy)
    torch.set_flush_denormal(user_setting)
    try:
        est = DeepKMeans(3, random_state=0, **FAST).fit(blobs[0])
        assert _flushing_denormals() == user_setting
        est.transform(blobs[0])
        assert _flushing_denormals() == user_setting
    finally:
        torch.set_flush_denormal(False)
    assert seen and all(seen)


def test_denormal_flushing_does_not_leak_into_worker_threads():
    # A fresh process whose intra-op threads would first start inside fit.
    code = (
        "import torch; torch.set_num_threads(2)\n"
        "from sklearn.datasets import make_blobs\n"
        "from sknclust import DeepKMeans\n"
        "X, _ = make_blobs(200, n_features=5, random_state=0)\n"
        "DeepKMeans(3, hidden_dims=(8,), pretrain_epochs=2, max_epochs=2,\n"
        "           random_state=0).fit(X)\n"
        "print(int((torch.full((1 << 20,), 1e-38) * 0.5 == 0).sum()))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "0"


def test_verbose_prints_progress(blobs, capsys):
    DeepKMeans(
        3, random_state=0, verbose=1, **{**FAST, "pretrain_epochs": 2, "max_epochs": 2}
    ).fit(blobs[0])
    out = capsys.readouterr()
    text = out.out + out.err
    assert "[pretrain]" in text and "[cluster]" in text and "train_loss" in text


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_colour_images_of_any_aspect(cls):
    # (channels, height, width) rows as from a photo data set: a red top half
    # and a green left half on 6x10 images are told apart.
    top, left = np.zeros((3, 6, 10)), np.zeros((3, 6, 10))
    top[0, :3] = left[1, :, :5] = 1
    rows = np.repeat(np.stack([top.ravel(), left.ravel()]), 40, axis=0)
    X = rows + np.random.RandomState(0).normal(scale=0.05, size=rows.shape)
    y = np.repeat([0, 1], 40)
    est = cls(2, image_shape=(3, 6, 10), random_state=0, **SMALL[cls]).fit(X)
    assert adjusted_rand_score(y, est.labels_) == 1.0
    np.testing.assert_array_equal(est.predict(X), est.labels_)
    assert est.transform(X[:3]).shape == (3, est.embedding_dim)
