"""Factored layers built from a (k, j)-projective clustering of their weight.

Each weight row belongs to one of k groups and is stored as j coordinates in
its group's basis (the "MESSI" architecture of Maalouf et al., ICLR 2021):
k small tables of codes feed one recombination layer, so an n x d weight costs
``n * j + k * j * d`` parameters instead of ``n * d``.
"""

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ProjectiveEmbedding", "ProjectiveLinear"]


def _index_buffers(labels, n_groups):
    """Group of every row and its position in that group's table."""
    labels = torch.as_tensor(labels, dtype=torch.long).cpu()
    if labels.ndim != 1:
        raise ValueError("labels must be one-dimensional, one entry per row.")
    if labels.numel() and (labels.min() < 0 or labels.max() >= n_groups):
        raise ValueError(f"labels must lie in [0, {n_groups}).")
    position = torch.empty_like(labels)
    sizes = []
    for group in range(n_groups):
        rows = torch.nonzero(labels == group)[:, 0]
        position[rows] = torch.arange(rows.numel())
        sizes.append(rows.numel())
    return labels, position, sizes


class ProjectiveEmbedding(nn.Module):
    """Drop-in ``nn.Embedding`` whose table is factored over k subspaces.

    Row ``i`` of the (virtual) ``num_embeddings x embedding_dim`` table is
    ``codes_i @ V_{g(i)}``: its j-dimensional code, looked up in the small
    embedding table of its group ``g(i)``, times that group's j x d basis. The k
    bases are the blocks of one recombination layer, ``recombination.weight``
    of shape (d, k * j), exactly the paper's second layer (which only ever sees
    one non-zero block per token, so only that block is multiplied).

    Trainable parameters: ``num_embeddings * j + k * j * embedding_dim``. The
    group index and in-group position of each row are buffers (integers), not
    parameters.

    Build one with :meth:`ProjectiveClusteringCompressor.compress
    <sknclust.ProjectiveClusteringCompressor.compress>` or
    :meth:`from_factors`; the constructor alone creates zero parameters of the
    right shapes (for loading a ``state_dict``).

    Parameters
    ----------
    labels : array-like of int, shape (num_embeddings,)
        Group of each row.
    n_groups : int
        Number of groups k.
    subspace_dim : int
        Code length j.
    embedding_dim : int
        Output size d.
    padding_idx : int or None, default=None
        As in ``nn.Embedding``: that row's code receives no gradient.
    device, dtype : optional
        Of the parameters.

    Examples
    --------
    >>> import torch
    >>> from sknclust.nn._factored_embedding import ProjectiveEmbedding
    >>> labels = torch.tensor([0, 1, 0])
    >>> codes = torch.tensor([[1.0], [2.0], [3.0]])
    >>> bases = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    >>> layer = ProjectiveEmbedding.from_factors(labels, codes, bases)
    >>> layer(torch.tensor([[0, 1], [2, 2]]))
    tensor([[[1., 0.],
             [0., 2.]],
    <BLANKLINE>
            [[3., 0.],
             [3., 0.]]], grad_fn=<ViewBackward0>)
    >>> sum(p.numel() for p in layer.parameters())  # 3 * 1 + 2 * 1 * 2
    7
    """

    def __init__(
        self,
        labels,
        n_groups: int,
        subspace_dim: int,
        embedding_dim: int,
        *,
        padding_idx: int | None = None,
        device=None,
        dtype=None,
    ):
        super().__init__()
        labels, position, sizes = _index_buffers(labels, n_groups)
        self.num_embeddings = labels.numel()
        self.embedding_dim = int(embedding_dim)
        self.subspace_dim = int(subspace_dim)
        self.n_groups = int(n_groups)
        if padding_idx is not None and padding_idx < 0:
            padding_idx += self.num_embeddings
        self.padding_idx = padding_idx
        factory = {"device": device, "dtype": dtype}
        self.tables = nn.ModuleList(
            nn.Embedding(
                size,
                self.subspace_dim,
                padding_idx=(
                    int(position[padding_idx])
                    if padding_idx is not None and int(labels[padding_idx]) == group
                    else None
                ),
                _weight=torch.zeros(size, self.subspace_dim, **factory),
            )
            for group, size in enumerate(sizes)
        )
        self.recombination = nn.Linear(
            self.n_groups * self.subspace_dim, self.embedding_dim, bias=False, **factory
        )
        nn.init.zeros_(self.recombination.weight)
        self.register_buffer("labels", labels.to(device))
        self.register_buffer("position", position.to(device))

    @classmethod
    def from_factors(cls, labels, codes, bases, *, padding_idx=None):
        """Build the layer from a factorisation.

        Parameters
        ----------
        labels : tensor of int, shape (n,)
            Group of each row.
        codes : tensor of shape (n, j)
            Coordinates of each row in its group's basis.
        bases : tensor of shape (k, j, d)
            Basis of each group (``components_`` of the estimator).
        padding_idx : int or None, default=None
            As in ``nn.Embedding``.
        """
        codes = torch.as_tensor(codes)
        bases = torch.as_tensor(bases, dtype=codes.dtype)
        k, j, d = bases.shape
        layer = cls(labels, k, j, d, padding_idx=padding_idx, dtype=codes.dtype)
        with torch.no_grad():
            for group, table in enumerate(layer.tables):
                table.weight.copy_(codes[layer.labels == group])
            # recombination.weight[:, block l] = V_l^T
            layer.recombination.weight.copy_(bases.permute(2, 0, 1).reshape(d, k * j))
        return layer

    def _block(self, group):
        j = self.subspace_dim
        return self.recombination.weight[:, group * j : (group + 1) * j]

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        flat = input.reshape(-1)
        groups = self.labels[flat]
        position = self.position[flat]
        out = self.recombination.weight.new_zeros(flat.numel(), self.embedding_dim)
        for group, table in enumerate(self.tables):
            rows = torch.nonzero(groups == group)[:, 0]
            if rows.numel():
                code = table(position[rows])
                out = out.index_copy(0, rows, F.linear(code, self._block(group)))
        return out.reshape(*input.shape, self.embedding_dim)

    @property
    def weight(self) -> torch.Tensor:
        """The dense ``num_embeddings x embedding_dim`` table (differentiable)."""
        out = self.recombination.weight.new_zeros(
            self.num_embeddings, self.embedding_dim
        )
        for group, table in enumerate(self.tables):
            rows = torch.nonzero(self.labels == group)[:, 0]
            out = out.index_copy(0, rows, F.linear(table.weight, self._block(group)))
        return out

    def extra_repr(self) -> str:
        text = (
            f"{self.num_embeddings}, {self.embedding_dim}, "
            f"n_groups={self.n_groups}, subspace_dim={self.subspace_dim}"
        )
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        return text


class ProjectiveLinear(nn.Module):
    """Drop-in ``nn.Linear`` whose weight rows are factored over k subspaces.

    Output unit ``i`` has weight row ``codes_i @ V_{g(i)}``, so
    ``y = x @ W_hat.T + b`` is computed as k projections ``h_l = x @ V_l.T``
    (one fused ``projection`` layer of k * j outputs) followed, per group, by
    the small expansion ``h_l @ codes_l.T`` into that group's output units.
    Parameters: ``out_features * j + k * j * in_features`` (plus the bias).

    Parameters
    ----------
    labels : array-like of int, shape (out_features,)
        Group of each output unit.
    n_groups : int
        Number of groups k.
    subspace_dim : int
        Code length j.
    in_features : int
        Input size d.
    bias : bool, default=True
        Whether the layer has a bias.
    device, dtype : optional
        Of the parameters.
    """

    def __init__(
        self,
        labels,
        n_groups: int,
        subspace_dim: int,
        in_features: int,
        *,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        labels, position, sizes = _index_buffers(labels, n_groups)
        self.out_features = labels.numel()
        self.in_features = int(in_features)
        self.subspace_dim = int(subspace_dim)
        self.n_groups = int(n_groups)
        factory = {"device": device, "dtype": dtype}
        self.projection = nn.Linear(
            self.in_features, self.n_groups * self.subspace_dim, bias=False, **factory
        )
        self.codes = nn.ParameterList(
            nn.Parameter(torch.zeros(size, self.subspace_dim, **factory))
            for size in sizes
        )
        nn.init.zeros_(self.projection.weight)
        self.bias = (
            nn.Parameter(torch.zeros(self.out_features, **factory)) if bias else None
        )
        # output unit order: groups concatenated, then scattered back
        order = torch.argsort(labels * self.out_features + position)
        self.register_buffer("labels", labels.to(device))
        self.register_buffer("inverse_order", torch.argsort(order).to(device))

    @classmethod
    def from_factors(cls, labels, codes, bases, *, bias=None):
        """Build the layer from a factorisation of its weight rows.

        Parameters
        ----------
        labels : tensor of int, shape (out_features,)
            Group of each output unit.
        codes : tensor of shape (out_features, j)
            Coordinates of each weight row in its group's basis.
        bases : tensor of shape (k, j, in_features)
            Basis of each group (``components_`` of the estimator).
        bias : tensor of shape (out_features,) or None, default=None
            Bias of the layer; None builds it without one.

        Returns
        -------
        layer : ProjectiveLinear
            The factored layer.
        """
        codes = torch.as_tensor(codes)
        bases = torch.as_tensor(bases, dtype=codes.dtype)
        k, j, d = bases.shape
        layer = cls(labels, k, j, d, bias=bias is not None, dtype=codes.dtype)
        with torch.no_grad():
            for group, table in enumerate(layer.codes):
                table.copy_(codes[layer.labels == group])
            layer.projection.weight.copy_(bases.reshape(k * j, d))
            if bias is not None:
                layer.bias.copy_(bias)
        return layer

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        j = self.subspace_dim
        hidden = self.projection(input)
        parts = [
            F.linear(hidden[..., group * j : (group + 1) * j], table)
            for group, table in enumerate(self.codes)
        ]
        out = torch.cat(parts, -1).index_select(-1, self.inverse_order)
        return out if self.bias is None else out + self.bias

    @property
    def weight(self) -> torch.Tensor:
        """The dense ``out_features x in_features`` weight (differentiable)."""
        j = self.subspace_dim
        blocks = self.projection.weight
        parts = [
            table @ blocks[group * j : (group + 1) * j]
            for group, table in enumerate(self.codes)
        ]
        return torch.cat(parts, 0).index_select(0, self.inverse_order)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"n_groups={self.n_groups}, subspace_dim={self.subspace_dim}, "
            f"bias={self.bias is not None}"
        )
