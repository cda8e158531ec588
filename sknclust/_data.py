"""Input scaling and tensor batching shared by every deep estimator.

Rows are sliced from tensors in whole batches (no per-sample Python work). Sparse
input stays sparse and is densified one batch at a time.
"""

import math

import numpy as np
import scipy.sparse as sp
import torch


def resolve_scaler(X, image_shape) -> str:
    """The scaling of data ``X``: ``"sparse"`` for sparse input (which must
    stay sparse), ``"pixels"`` with ``image_shape``, else ``"centre"`` (see
    :class:`RunningScaling`)."""
    if sp.issparse(X):
        return "sparse"
    return "centre" if image_shape is None else "pixels"


class RunningScaling:
    """Scaling statistics of the rows seen so far, updated one chunk at a time.

    ``(X - offset) / scale`` is the scaled data. Every method divides all
    features by one shared number, so the features keep their relative spread,
    as :class:`~sklearn.cluster.KMeans` sees them: scaling each feature to unit
    variance would let near-constant features (the border pixels of an image,
    say) weigh as much as informative ones. Features in different units want a
    scaler in a pipeline, as for KMeans.

    - ``"pixels"``: one min-max range for all values, mapping them to [0, 1].
    - ``"centre"``: per-feature means removed, then division by the root mean
      feature variance, so the features' variances average to one.
    - ``"sparse"``: division by the largest absolute value; zeros stay zero.

    :meth:`update` merges a chunk's statistics into the running ones (means
    and variances by Chan's pairwise formula), so a stream is scaled as its
    rows so far would be together, without keeping them.
    """

    def __init__(self, method, n_features):
        self.method = method
        self.n_samples = 0
        self.low, self.high, self.max_abs = math.inf, -math.inf, 0.0
        self.mean = np.zeros(n_features)
        self.sq_dev = np.zeros(n_features)  # per-feature sum of squared deviations

    def update(self, X):
        """Merge the statistics of chunk ``X`` (dense or sparse) in place."""
        n = X.shape[0]
        if n == 0:
            return self
        # Only the statistics the method uses: each is a pass over the chunk.
        if self.method == "pixels":
            self.low = min(self.low, float(X.min()))
            self.high = max(self.high, float(X.max()))
        elif self.method == "sparse":
            self.max_abs = max(self.max_abs, float(abs(X).max()))
        else:
            dense = X.toarray() if sp.issparse(X) else X  # a chunk at a time
            mean = dense.mean(axis=0, dtype=np.float64)
            sq_dev = dense.var(axis=0, dtype=np.float64) * n
            total = self.n_samples + n
            delta = mean - self.mean
            self.sq_dev += sq_dev + delta**2 * self.n_samples * n / total
            self.mean += delta * n / total
        self.n_samples += n
        return self

    def offset_scale(self):
        """Per-feature ``(offset, scale)`` arrays for the rows seen so far."""
        n_features = self.mean.shape[0]
        offset = np.zeros(n_features)
        if self.method == "pixels":
            offset = np.full(n_features, self.low)
            spread = self.high - self.low
        elif self.method == "centre":
            offset = self.mean.copy()
            spread = math.sqrt(float(self.sq_dev.mean()) / max(self.n_samples, 1))
        else:
            spread = self.max_abs
        spread = spread if spread > 1e-12 else 1.0
        return offset, np.full(n_features, spread)


def fit_scaling(X, method):
    """Per-feature ``(offset, scale)`` of ``X`` (see :class:`RunningScaling`)."""
    return RunningScaling(method, X.shape[1]).update(X).offset_scale()


def _rows(X, index, offset, scale, dtype, device):
    """Scaled rows ``X[index]`` as a dense tensor."""
    rows = X[index]
    rows = rows.toarray() if sp.issparse(rows) else np.asarray(rows)
    if not rows.flags.writeable:  # torch refuses to wrap read-only memory
        rows = rows.copy()
    xb = torch.as_tensor(rows, dtype=dtype, device=device)
    return (xb - offset) / scale


def iter_scaled(X, offset, scale, *, dtype, device, batch_size):
    """Yield consecutive scaled batches of ``X`` for inference."""
    # np.array copies: a joblib memory map is read-only, which torch refuses.
    offset_t = torch.as_tensor(np.array(offset), dtype=dtype, device=device)
    scale_t = torch.as_tensor(np.array(scale), dtype=dtype, device=device)
    for start in range(0, X.shape[0], batch_size):
        yield _rows(
            X, slice(start, start + batch_size), offset_t, scale_t, dtype, device
        )


class TrainingSet:
    """Scaled float32 training rows, served as shuffled ``(batch, index)`` tuples.

    Dense data is scaled once and kept as a tensor on the training device; sparse
    data is kept as CSR and densified per batch. Iterating starts a new epoch with
    a fresh permutation drawn from a private generator, so shuffling is seeded
    without touching the global RNG.
    """

    def __init__(self, X, offset, scale, *, device, batch_size, seed, drop_last=False):
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.drop_last = drop_last
        self.n_samples, self.n_features = X.shape
        self._generator = torch.Generator().manual_seed(int(seed))
        self._offset = torch.as_tensor(offset, dtype=torch.float32, device=self.device)
        self._scale = torch.as_tensor(scale, dtype=torch.float32, device=self.device)
        if sp.issparse(X):
            self._X = sp.csr_matrix(X, dtype=np.float32)
            self.data = None
        else:
            self._X = None
            self.data = _rows(
                X, slice(None), self._offset, self._scale, torch.float32, self.device
            )

    def __len__(self):
        return self.n_samples

    @property
    def n_batches(self) -> int:
        """Optimiser steps in one epoch."""
        n, size = self.n_samples, self.batch_size
        if self.drop_last and n >= size:
            return n // size
        return math.ceil(n / size)

    def rows(self, index):
        """Scaled float32 rows for integer ``index`` (a tensor or array)."""
        if self.data is not None:
            return self.data[torch.as_tensor(index, device=self.device)]
        index = np.asarray(torch.as_tensor(index).cpu())
        return _rows(
            self._X, index, self._offset, self._scale, torch.float32, self.device
        )

    def scaled_matrix(self):
        """All scaled rows: the dense tensor, or a float32 CSR matrix."""
        if self.data is not None:
            return self.data
        scale = self._scale.cpu().numpy()
        return sp.csr_matrix(self._X.multiply(1.0 / scale), dtype=np.float32)

    def batches(self, shuffle=True):
        """One epoch of ``(rows, index)`` batches."""
        n, size = self.n_samples, self.batch_size
        order = (
            torch.randperm(n, generator=self._generator) if shuffle else torch.arange(n)
        )
        # Drop a ragged tail only when full batches exist: batch statistics of a
        # handful of rows are noise, but tiny data sets must still train.
        stop = n - n % size if self.drop_last and n >= size else n
        for start in range(0, stop, size):
            index = order[start : start + size].to(self.device)
            yield self.rows(index), index

    def __iter__(self):
        return self.batches(shuffle=True)

    def all_batches(self, batch_size=None):
        """Every row once, in order, for full-data passes during training."""
        size = batch_size or max(self.batch_size, 1024)
        for start in range(0, self.n_samples, size):
            index = torch.arange(start, min(start + size, self.n_samples))
            yield self.rows(index.to(self.device)), index
