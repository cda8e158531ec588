"""ProjectiveClusteringCompressor and the factored layers it builds."""

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch import nn

from sknclust._projective import (
    ProjectiveClusteringCompressor,
    _Restart,
    subspace_dim_for_budget,
    svd_rank_for_budget,
)
from sknclust.nn._factored_embedding import ProjectiveEmbedding, ProjectiveLinear


def planted(n_per_group=40, d=6, j=2, k=3, noise=1e-3, seed=0):
    """Rows drawn from k random j-dimensional subspaces of R^d, plus noise."""
    rng = np.random.RandomState(seed)
    bases = [np.linalg.qr(rng.normal(size=(d, j)))[0].T for _ in range(k)]
    rows = [rng.normal(size=(n_per_group, j)) @ basis for basis in bases]
    X = np.vstack(rows) + noise * rng.normal(size=(k * n_per_group, d))
    y = np.repeat(np.arange(k), n_per_group)
    return X, y, bases


@parametrize_with_checks([ProjectiveClusteringCompressor(n_clusters=3, n_init=2)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_one_cluster_is_the_truncated_svd():
    X = np.random.RandomState(0).normal(size=(60, 8))
    pcc = ProjectiveClusteringCompressor(1, subspace_dim=3, random_state=0).fit(X)
    s = np.linalg.svd(X, compute_uv=False)
    expected = np.sqrt((s[3:] ** 2).sum() / (s**2).sum())
    assert pcc.reconstruction_error_ == pytest.approx(expected, rel=1e-10)
    _, _, vt = np.linalg.svd(X)
    # same subspace as the top right singular vectors
    projector = pcc.components_[0].T @ pcc.components_[0]
    np.testing.assert_allclose(projector, vt[:3].T @ vt[:3], atol=1e-10)
    assert np.all(pcc.labels_ == 0)


def test_recovers_planted_subspaces():
    X, y, bases = planted()
    pcc = ProjectiveClusteringCompressor(3, subspace_dim=2, random_state=0).fit(X)
    assert adjusted_rand_score(y, pcc.labels_) == 1.0
    for group in range(3):
        basis = bases[y[pcc.labels_ == group][0]]
        # cosines of the principal angles between fitted and planted subspaces
        cosines = np.linalg.svd(pcc.components_[group] @ basis.T, compute_uv=False)
        assert cosines.min() > 1 - 1e-5
    assert pcc.reconstruction_error_ < 5e-3  # the noise level


def test_random_init_reaches_the_planted_solution_with_restarts():
    X, y, _ = planted(seed=1)
    pcc = ProjectiveClusteringCompressor(
        3, subspace_dim=2, init="random", n_init=8, random_state=0
    ).fit(X)
    assert adjusted_rand_score(y, pcc.labels_) == 1.0


def test_empty_groups_are_reseeded():
    # 50 rows on one line and 3 off it: Lloyd from a random partition puts
    # almost everything in one group, and empty groups must be refilled
    rng = np.random.RandomState(0)
    X = np.vstack(
        [np.outer(rng.normal(size=50), [1.0, 0.0, 0.0]), rng.normal(size=(3, 3))]
    )
    for seed in range(5):
        pcc = ProjectiveClusteringCompressor(
            4, subspace_dim=1, init="random", n_init=1, random_state=seed
        ).fit(X)
        assert np.bincount(pcc.labels_, minlength=4).min() >= 1
        assert np.isfinite(pcc.components_).all()
        np.testing.assert_array_equal(pcc.labels_, pcc.predict(X))


def test_fill_empty_moves_the_worst_fitted_row_of_a_shared_group():
    X = torch.zeros(5, 3, dtype=torch.float64)
    state = _Restart(X, 3, 1, torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 0, 0, 1, 1])
    residual = torch.tensor([0.1, 0.9, 0.2, 5.0, 0.3], dtype=torch.float64)
    filled = state._fill_empty(labels, residual)
    assert filled.tolist() == [0, 0, 0, 2, 1]


def test_refinement_never_increases_the_cost():
    X, _, _ = planted(n_per_group=60, d=8, j=3, noise=0.3, seed=2)
    state = _Restart(torch.tensor(X), 3, 3, torch.Generator().manual_seed(0))
    state.seed_random()
    state.lloyd(100, 1e-6)
    before = state.cost()
    state.refine(50, 0.0)
    assert state.cost() <= before


def test_refinement_helps_on_a_hard_problem():
    X, _, _ = planted(n_per_group=60, d=8, j=3, noise=0.5, seed=3)
    common = dict(n_clusters=3, subspace_dim=3, n_init=1, random_state=0)
    plain = ProjectiveClusteringCompressor(refine=False, **common).fit(X)
    refined = ProjectiveClusteringCompressor(**common).fit(X)
    assert refined.inertia_ <= plain.inertia_ * (1 + 1e-12)


def test_deterministic_and_independent_of_n_jobs():
    X, _, _ = planted(noise=0.2)
    fits = [
        ProjectiveClusteringCompressor(
            3, subspace_dim=2, n_init=3, n_jobs=n_jobs, random_state=7
        ).fit(X)
        for n_jobs in (1, 1, 2)
    ]
    for other in fits[1:]:
        np.testing.assert_array_equal(fits[0].labels_, other.labels_)
        np.testing.assert_array_equal(fits[0].components_, other.components_)


def test_global_rng_untouched():
    X, _, _ = planted()
    torch.manual_seed(123)
    np.random.seed(123)
    expected = torch.rand(1).item(), np.random.rand()
    torch.manual_seed(123)
    np.random.seed(123)
    ProjectiveClusteringCompressor(3, subspace_dim=2, random_state=0).fit(X)
    assert (torch.rand(1).item(), np.random.rand()) == expected


def test_compression_sets_the_subspace_dim_and_counts():
    X = np.random.RandomState(0).normal(size=(100, 10))
    pcc = ProjectiveClusteringCompressor(2, compression=0.4, random_state=0).fit(X)
    # budget 0.6 * 100 * 10 = 600 values; j * (100 + 2 * 10) <= 600
    assert pcc.subspace_dim_ == 5 == subspace_dim_for_budget(100, 10, 2, 600)
    assert pcc.n_params_ == 100 * 5 + 2 * 5 * 10 == 600
    assert pcc.components_.shape == (2, 5, 10)
    assert pcc.transform(X).shape == (100, 2 * 5)
    assert svd_rank_for_budget(100, 10, pcc.n_params_) == 5
    assert svd_rank_for_budget(20, 10, 120) == 4  # the paper's example


def test_scores_and_round_trip():
    X, _, _ = planted(noise=0.1)
    pcc = ProjectiveClusteringCompressor(3, subspace_dim=2, random_state=0).fit(X)
    X_hat = pcc.inverse_transform(pcc.transform(X))
    residual = ((X - X_hat) ** 2).sum()
    assert residual == pytest.approx(pcc.inertia_, rel=1e-8)
    assert pcc.score(X) == pytest.approx(-residual / len(X), rel=1e-8)
    error = np.linalg.norm(X - X_hat) / np.linalg.norm(X)
    assert pcc.reconstruction_error_ == pytest.approx(error, rel=1e-8)


def test_float32_stays_float32():
    X, _, _ = planted(noise=0.1)
    X32 = X.astype(np.float32)
    pcc = ProjectiveClusteringCompressor(3, subspace_dim=2, random_state=0).fit(X32)
    assert pcc.components_.dtype == np.float32
    assert pcc.transform(X32).dtype == np.float32
    assert pcc.transform(X).dtype == np.float64
    assert pcc.inverse_transform(pcc.transform(X32)).dtype == np.float32


@pytest.mark.parametrize(
    "params, X, message",
    [
        ({"subspace_dim": 3}, np.ones((10, 3)), "smaller than n_features=3"),
        ({"subspace_dim": 1, "compression": 0.5}, np.ones((10, 3)), "either"),
        ({"compression": 0.99}, np.ones((10, 3)), "compression=0.99"),
        ({"n_clusters": 5}, np.ones((4, 3)), "n_samples=4"),
        ({"device": "tpu"}, np.ones((10, 3)), "device='tpu'"),
    ],
)
def test_bad_parameters(params, X, message):
    with pytest.raises(ValueError, match=message):
        ProjectiveClusteringCompressor(**{"n_clusters": 2, **params}).fit(X)


def test_transform_layout():
    X, _, _ = planted()
    pcc = ProjectiveClusteringCompressor(3, subspace_dim=2, random_state=0).fit(X)
    Z = pcc.transform(X)
    labels = pcc.predict(X)
    blocks = Z.reshape(len(X), 3, 2)
    codes = blocks[np.arange(len(X)), labels]
    np.testing.assert_allclose(
        codes, np.einsum("njd,nd->nj", pcc.components_[labels], X)
    )
    blocks[np.arange(len(X)), labels] = 0
    assert not blocks.any()  # zeros outside each row's own block
    assert list(pcc.get_feature_names_out())[:2] == [
        "projectiveclusteringcompressor0",
        "projectiveclusteringcompressor1",
    ]
    with pytest.raises(ValueError, match="n_clusters \\* subspace_dim_ = 6"):
        pcc.inverse_transform(np.ones((4, 2)))


# --------------------------------------------------------------------------
# compress()
# --------------------------------------------------------------------------


def _embedding(n=40, d=6, seed=0):
    torch.manual_seed(seed)
    return nn.Embedding(n, d, padding_idx=0)


def test_compressed_embedding_matches_inverse_transform():
    embedding = _embedding()
    pcc = ProjectiveClusteringCompressor(3, subspace_dim=2, random_state=0)
    layer = pcc.compress(embedding)  # fits on the weight
    assert isinstance(layer, ProjectiveEmbedding)
    W = embedding.weight.detach().numpy()
    expected = pcc.inverse_transform(pcc.transform(W))
    np.testing.assert_array_equal(pcc.labels_, pcc.predict(W))
    ids = torch.tensor([[1, 5, 0], [39, 39, 7]])
    out = layer(ids)
    assert out.shape == (2, 3, 6) and out.dtype == torch.float32
    np.testing.assert_allclose(out.detach().numpy(), expected[ids.numpy()], rtol=1e-5)
    np.testing.assert_allclose(layer.weight.detach().numpy(), expected, rtol=1e-5)
    assert layer(torch.tensor(3)).shape == (6,)
    assert (layer.num_embeddings, layer.embedding_dim) == (40, 6)
    assert sum(p.numel() for p in layer.parameters()) == pcc.n_params_
    assert pcc.n_params_ == 40 * 2 + 3 * 2 * 6


def test_compressed_embedding_is_trainable():
    layer = ProjectiveClusteringCompressor(3, subspace_dim=2, random_state=0).compress(
        _embedding()
    )
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    ids = torch.arange(40)
    before = layer(ids).detach().clone()
    loss = (layer(ids) - 1).square().sum()
    loss.backward()
    grads = [p.grad for p in layer.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    padding_group = int(layer.labels[0])
    padding_row = int(layer.position[0])
    assert layer.tables[padding_group].weight.grad[padding_row].abs().sum() == 0
    optimizer.step()
    assert not torch.allclose(layer(ids), before)


def test_compressed_embedding_replaces_a_word_embedding_layer():
    class Embeddings(nn.Module):
        def __init__(self):
            super().__init__()
            self.word_embeddings = _embedding()
            self.norm = nn.LayerNorm(6)

        def forward(self, ids):
            return self.norm(self.word_embeddings(ids))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embeddings = Embeddings()
            self.head = nn.Linear(6, 2)

        def forward(self, ids):
            return self.head(self.embeddings(ids)).mean(1)

    model = Model()
    pcc = ProjectiveClusteringCompressor(3, subspace_dim=2, random_state=0)
    model.embeddings.word_embeddings = pcc.compress(model.embeddings.word_embeddings)
    ids = torch.tensor([[2, 3, 4], [5, 6, 0]])
    rebuilt = torch.tensor(
        pcc.inverse_transform(pcc.transform(_embedding().weight.detach()))
    )
    reference = Model()
    reference.load_state_dict(
        {k: v for k, v in model.state_dict().items() if "word_embeddings" not in k},
        strict=False,
    )
    with torch.no_grad():
        reference.embeddings.word_embeddings.weight.copy_(rebuilt)
    torch.testing.assert_close(model(ids), reference(ids))
    model(ids).sum().backward()


def test_compressed_linear_matches_its_rebuilt_weight():
    torch.manual_seed(0)
    linear = nn.Linear(6, 30)
    pcc = ProjectiveClusteringCompressor(3, subspace_dim=2, random_state=0)
    layer = pcc.compress(linear)
    assert isinstance(layer, ProjectiveLinear)
    W = linear.weight.detach().numpy()
    W_hat = torch.tensor(pcc.inverse_transform(pcc.transform(W)))
    x = torch.randn(4, 5, 6)
    torch.testing.assert_close(
        layer(x), x @ W_hat.T + linear.bias, rtol=1e-5, atol=1e-6
    )
    torch.testing.assert_close(layer.weight, W_hat, rtol=1e-5, atol=1e-6)
    n_params = sum(p.numel() for p in layer.parameters())
    assert n_params == pcc.n_params_ + 30  # plus the bias


def test_compress_checks_its_input():
    pcc = ProjectiveClusteringCompressor(3, subspace_dim=2, random_state=0)
    with pytest.raises(TypeError, match="Embedding or torch.nn.Linear"):
        pcc.compress(nn.Conv1d(2, 2, 1))
    pcc.compress(_embedding())
    with pytest.raises(ValueError, match="fitted on a 40 x 6"):
        pcc.compress(nn.Embedding(41, 6))


def test_embedding_state_dict_round_trip():
    layer = ProjectiveClusteringCompressor(3, subspace_dim=2, random_state=0).compress(
        _embedding()
    )
    empty = ProjectiveEmbedding(layer.labels, 3, 2, 6, padding_idx=0)
    empty.load_state_dict(layer.state_dict())
    ids = torch.arange(40)
    torch.testing.assert_close(empty(ids), layer(ids))
