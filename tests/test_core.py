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

from sknclust import DeepKMeans, GMVAEClustering, NeuralMixtureEM
from sknclust._base import assign_populated
from sknclust._device import resolve_device

FAST = dict(hidden_dims=(16,), pretrain_epochs=15, max_epochs=15, batch_size=32)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=120, centers=3, n_features=5, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def fitted(blobs):
    return DeepKMeans(3, random_state=0, **FAST).fit(blobs[0])


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
    other = DeepKMeans(3, random_state=1, **FAST).fit(blobs[0])
    assert not np.array_equal(other.transform(blobs[0]), fitted.transform(blobs[0]))


def test_global_rng_untouched(blobs):
    torch.manual_seed(123)
    np.random.seed(123)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    DeepKMeans(3, strategy="gumbel", random_state=0, **FAST).fit(blobs[0])
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state[1])


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


def test_predict_proba_matches_predict(blobs, fitted):
    proba = fitted.predict_proba(blobs[0])
    assert proba.shape == (120, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(proba.argmax(1), fitted.predict(blobs[0]))


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
def test_pickle_and_joblib_round_trip(blobs, fitted, tmp_path):
    X = blobs[0]
    data = pickle.dumps(fitted)
    assert b"torch.optim" not in data and b"skorch" not in data
    restored = pickle.loads(data)
    np.testing.assert_array_equal(restored.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(restored.transform(X), fitted.transform(X))
    joblib.dump(fitted, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib", mmap_mode="r")
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a CPU-only machine")
def test_gpu_fitted_model_loads_on_cpu(blobs, fitted):
    pretend = pickle.loads(pickle.dumps(fitted))
    pretend.device_ = "cuda"  # as if fitted on a GPU
    with pytest.warns(UserWarning, match="not available here"):
        restored = pickle.loads(pickle.dumps(pretend))
    assert restored.device_ == "cpu"
    np.testing.assert_array_equal(restored.predict(blobs[0]), fitted.predict(blobs[0]))


# ------------------------------------------------------------------ input
def test_dtypes_are_honoured(blobs, fitted):
    X = blobs[0]
    assert fitted.transform(X).dtype == np.float64
    assert fitted.transform(X.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(
        fitted.transform(X.astype(np.float32)),
        fitted.transform(X),
        rtol=1e-4,
        atol=1e-4,
    )
    ints = DeepKMeans(3, random_state=0, **FAST).fit(np.rint(X * 10).astype(np.int32))
    assert ints.transform(np.rint(X * 10).astype(np.int32)).dtype == np.float64


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
    assert list(out.columns) == ["deepkmeans0", "deepkmeans1", "deepkmeans2"]
    assert list(est.get_feature_names_out()) == list(out.columns)


def test_sparse_matches_dense(blobs):
    X = np.abs(blobs[0])
    X[X < 2] = 0
    dense = DeepKMeans(3, scaler="maxabs", random_state=0, **FAST).fit(X)
    sparse = DeepKMeans(3, scaler="maxabs", random_state=0, **FAST).fit(
        sp.csr_matrix(X)
    )
    np.testing.assert_array_equal(sparse.labels_, dense.labels_)
    np.testing.assert_allclose(sparse.transform(sp.csr_matrix(X)), dense.transform(X))


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


def test_sparse_rejects_centering_scaler(blobs):
    with pytest.raises(ValueError, match="sparse"):
        DeepKMeans(3, scaler="standard", **FAST).fit(sp.csr_matrix(blobs[0]))


def test_raw_scale_data_is_scaled_internally(blobs):
    X = blobs[0] * 1000 + 1e5
    est = DeepKMeans(3, random_state=0, **FAST).fit(X)
    assert adjusted_rand_score(blobs[1], est.labels_) > 0.9


def test_input_not_modified(blobs):
    X = blobs[0].copy()
    est = DeepKMeans(3, random_state=0, **FAST).fit(X)
    est.predict(X), est.transform(X), est.score(X)
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


@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[1.0, np.nan], [2, 3], [3, 4]]), "NaN"),
        (np.array([[1.0, np.inf], [2, 3], [3, 4]]), "infinity"),
        (np.arange(6.0), "1D"),
        (np.empty((0, 3)), "0 sample"),
        (np.ones((2, 3)), "n_clusters=3"),
    ],
)
def test_bad_input_raises(X, match):
    with pytest.raises(ValueError, match=match):
        DeepKMeans(3, **FAST).fit(X)


def test_wrong_feature_count_at_predict(blobs, fitted):
    with pytest.raises(
        ValueError, match="X has 4 features, but DeepKMeans is expecting 5"
    ):
        fitted.predict(blobs[0][:, :4])


def test_bad_image_shape(blobs):
    with pytest.raises(ValueError, match="image_shape"):
        DeepKMeans(3, image_shape=(1, 2, 3), **FAST).fit(blobs[0])


def test_image_shape_uses_conv_network():
    rng = np.random.RandomState(0)
    X = rng.rand(60, 64)
    est = DeepKMeans(2, image_shape=(1, 8, 8), pretrain_epochs=2, max_epochs=2).fit(X)
    assert any(isinstance(m, torch.nn.Conv2d) for m in est.module_.modules())
    assert est.transform(X).shape == (60, 2)


@pytest.mark.parametrize("cls", [DeepKMeans, GMVAEClustering, NeuralMixtureEM])
def test_mlp_architecture_with_image_shape(cls, monkeypatch):
    # The MLP is built, but the random views are still image warps.
    warped = []

    def spy(x, image_shape, **kw):
        warped.append(image_shape)
        return x

    monkeypatch.setattr("sknclust._base.image_augment", spy)
    X = np.random.RandomState(0).rand(60, 64)
    est = cls(
        2,
        image_shape=(8, 8),
        architecture="mlp",
        hidden_dims=(7,),
        max_epochs=2,
        random_state=0,
    )
    est.fit(X)
    modules = list(est.module_.modules())
    assert not any(isinstance(m, torch.nn.Conv2d) for m in modules)
    assert any(isinstance(m, torch.nn.Linear) and m.out_features == 7 for m in modules)
    assert est._augment(torch.zeros(3, 64)).shape == (3, 64)
    assert warped[-1] == (1, 8, 8)


def test_conv_architecture_needs_image_shape(blobs):
    with pytest.raises(ValueError, match="architecture='conv' needs image_shape"):
        DeepKMeans(3, architecture="conv", **FAST).fit(blobs[0])


# --------------------------------------------------------------- training
def test_history_and_early_stopping(blobs):
    est = DeepKMeans(
        3,
        random_state=0,
        **{**FAST, "pretrain_epochs": 200},
        tol=0.5,
        n_iter_no_change=2,
    ).fit(blobs[0])
    assert 2 < len(est.history_["pretrain"]) < 200
    assert len(est.history_["cluster"]) == est.n_iter_ == 15
    losses = [
        row["train_loss"]
        for row in DeepKMeans(3, random_state=0, **FAST)
        .fit(blobs[0])
        .history_["pretrain"]
    ]
    assert losses[-1] < losses[0]


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
    optimizer = torch.optim.Adam(plain_module.parameters(), lr=1e-2)
    for _ in range(3):
        for x, index in data:
            optimizer.zero_grad()
            loss_fn(plain_module, x, index).backward()
            optimizer.step()
    for a, b in zip(engine_module.parameters(), plain_module.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("user_setting", [False, True])
def test_denormals_flushed_in_training_only(blobs, monkeypatch, user_setting):
    from sknclust._base import _flushing_denormals

    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush denormals")
    seen = []
    loss = DeepKMeans._pretrain_loss

    def spy(self, *args):
        seen.append(_flushing_denormals())
        return loss(self, *args)

    monkeypatch.setattr(DeepKMeans, "_pretrain_loss", spy)
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
