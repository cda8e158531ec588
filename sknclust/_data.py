"""Input scaling and tensor batching shared by every deep estimator.

Rows are sliced from tensors in whole batches (no per-sample Python work). Sparse
input stays sparse and is densified one batch at a time.
"""

import numpy as np
import scipy.sparse as sp
import torch

SCALERS = ("auto", "standard", "minmax", "maxabs", "global")


def resolve_scaler(scaler, X, image_shape) -> str | None:
    """Name of the scaling actually used for ``scaler`` on data ``X``."""
    if scaler != "auto":
        return scaler
    if image_shape is not None:
        return "global"
    return "maxabs" if sp.issparse(X) else "standard"


def fit_scaling(X, method):
    """Per-feature ``(offset, scale)`` so that ``(X - offset) / scale`` is scaled.

    Constant features get a scale of 1, as in scikit-learn's scalers. Sparse input
    only admits methods that keep zeros at zero.
    """
    n_features = X.shape[1]
    offset = np.zeros(n_features)
    scale = np.ones(n_features)
    if method is None:
        return offset, scale
    if sp.issparse(X):
        if method not in ("maxabs", "global"):
            raise ValueError(
                f"scaler={method!r} would densify sparse input; use 'maxabs', "
                "'global' or None for sparse matrices."
            )
        maxabs = np.asarray(abs(X).max(axis=0).todense(), dtype=np.float64).ravel()
        scale = maxabs if method == "maxabs" else np.full(n_features, maxabs.max())
    elif method == "standard":
        offset = X.mean(axis=0, dtype=np.float64)
        scale = X.std(axis=0, dtype=np.float64)
    elif method == "minmax":
        offset = X.min(axis=0).astype(np.float64)
        scale = X.max(axis=0).astype(np.float64) - offset
    elif method == "maxabs":
        scale = np.abs(X).max(axis=0).astype(np.float64)
    elif method == "global":
        low, high = float(X.min()), float(X.max())
        offset = np.full(n_features, low)
        scale = np.full(n_features, high - low)
    scale = np.where(scale > 1e-12 * max(1.0, np.abs(scale).max()), scale, 1.0)
    return offset, scale


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
