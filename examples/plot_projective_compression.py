"""
====================================================
Compress an embedding table by projective clustering
====================================================

An embedding layer stores one vector per token, often the largest matrix of
a language model. A truncated SVD shrinks it with one low-rank basis shared
by every row. :class:`~sknclust.ProjectiveClusteringCompressor` groups the rows
into ``k`` clusters and gives each cluster its own basis of dimension ``j``,
so rows of different kinds keep directions of their own. This example
compares the two at equal parameter counts on an embedding table and then
swaps the compressed table into a torch model.
"""

# %%
# An embedding table
# ------------------
# A trained model's embedding table would be loaded here (for instance
# ``model.embeddings.word_embeddings``). To run offline, this example builds
# a table of 4,000 tokens in 64 dimensions whose rows come in eight kinds,
# each spread mostly over a few directions of its own, plus noise that all
# rows share.
import matplotlib.pyplot as plt
import numpy as np
import torch

from sknclust import ProjectiveClusteringCompressor, svd_rank_for_budget

rng = np.random.default_rng(0)
n_tokens, dim, n_kinds = 4000, 64, 8
kind = rng.integers(n_kinds, size=n_tokens)
bases = rng.normal(size=(n_kinds, 10, dim)) / np.sqrt(dim)
scales = np.linspace(1.5, 0.3, 10)  # a few strong directions, then weaker ones
codes = rng.normal(size=(n_tokens, 10)) * scales
weight = np.einsum("nj,njd->nd", codes, bases[kind])
weight += 0.05 * rng.normal(size=(n_tokens, dim))
weight = weight.astype(np.float32)
embedding = torch.nn.Embedding.from_pretrained(torch.from_numpy(weight), freeze=False)
print(embedding)

# %%
# Error at equal parameter budgets
# --------------------------------
# ``compression`` is the fraction of the ``n * d`` values to remove; the
# estimator then picks the largest subspace dimension ``j`` that fits and
# counts what it stores in ``n_params_``. For each budget,
# :func:`~sknclust.svd_rank_for_budget` gives the rank of the truncated SVD
# with at most as many values. Both errors are
# :math:`\lVert A - \hat A \rVert_F / \lVert A \rVert_F`.
singular_values = np.linalg.svd(weight, compute_uv=False)
total = np.sum(singular_values**2)


def svd_error(rank):
    return np.sqrt(np.sum(singular_values[rank:] ** 2) / total)


compressions = [0.6, 0.7, 0.8, 0.9]
rows, fitted = [], {}
for compression in compressions:
    pcc = ProjectiveClusteringCompressor(
        n_clusters=n_kinds, compression=compression, random_state=0
    ).fit(weight)
    fitted[compression] = pcc
    rank = svd_rank_for_budget(n_tokens, dim, pcc.n_params_)
    rows.append((compression, pcc.subspace_dim_, pcc.reconstruction_error_, rank))
    print(
        f"compression {compression:.0%}: j={pcc.subspace_dim_} "
        f"({pcc.n_params_} values), error {pcc.reconstruction_error_:.3f}; "
        f"SVD rank {rank}, error {svd_error(rank):.3f}"
    )

# %%
# The projective factorisation spends part of its budget on ``k`` bases
# instead of one, so its subspaces are thinner than the SVD's, but each fits
# its own rows. When the rows come in kinds, as here, that wins at every
# budget; on a matrix without such structure, the SVD can be as good or
# better. :func:`~sknclust.subspace_dim_for_budget` gives ``j`` for any
# budget without fitting.
kept = [100 * (1 - c) for c in compressions]
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(kept, [r[2] for r in rows], "o-", label=f"projective clustering, k={n_kinds}")
ax.plot(kept, [svd_error(r[3]) for r in rows], "s--", label="truncated SVD")
for x, (_, j, err, _) in zip(kept, rows, strict=True):
    ax.annotate(
        f"j={j}",
        (x, err),
        textcoords="offset points",
        xytext=(0, 7),
        ha="center",
        fontsize=8,
    )
ax.set_xlim(5, 45)
ax.set_ylim(0, None)
ax.set_xlabel("parameters kept (% of the table)")
ax.set_ylabel("relative reconstruction error")
ax.set_title("Error at equal parameter budgets")
ax.legend()
fig.tight_layout()

# %%
# A drop-in layer
# ---------------
# :meth:`~sknclust.ProjectiveClusteringCompressor.compress` returns a
# :class:`~sknclust.nn.ProjectiveEmbedding`, which looks up token ids like
# the :class:`torch.nn.Embedding` it replaces and holds ``n_params_``
# trainable parameters; assign it where the original layer was and fine-tune
# the model as usual. The compressor fitted at 80% compression above is
# reused; an unfitted one would first fit on the layer's weight.
compressed = fitted[0.8].compress(embedding)
print(compressed)

tokens = torch.tensor([[3, 14, 15], [92, 65, 35]])
with torch.no_grad():
    original, approx = embedding(tokens), compressed(tokens)
print("output shape:", tuple(approx.shape))
print(
    "parameters:",
    sum(p.numel() for p in embedding.parameters()),
    "->",
    sum(p.numel() for p in compressed.parameters()),
)
error = (approx - original).norm() / original.norm()
print(f"relative error on these tokens: {error:.3f}")
plt.show()
