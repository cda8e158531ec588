"""(k, j)-projective clustering of matrix rows, and embedding compression with it.

Implements "Deep Learning Meets Projective Clustering" (Maalouf, Lang, Rus and
Feldman, ICLR 2021): the rows of an n x d matrix are split into k groups, each
approximated by its own j-dimensional linear subspace, which factors the matrix
into n x j codes plus k bases of j x d values.
"""

from numbers import Integral, Real

import numpy as np
import torch
from joblib import Parallel, delayed
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    validate_data,
)

from sknclust._device import loadable_device, resolve_device

__all__ = [
    "ProjectiveClusteringCompressor",
    "subspace_dim_for_budget",
    "svd_rank_for_budget",
]

# Rows per block when residuals against every subspace are computed, so that
# the (rows, k * j) product never has to exist for a whole large matrix.
_BLOCK_ROWS = 8192
# A small multiple of the global second-moment matrix is added to each group's
# before its eigendecomposition: directions a rank-deficient group (fewer rows
# than j, or an empty one) does not determine are then the data's principal
# ones, deterministically, instead of arbitrary null-space vectors.
_RIDGE = 1e-10
# Rounds of (refinement, Lloyd) per restart.
_MAX_REFINE_ROUNDS = 4
# Rows sampled to estimate the leave-one-out correction of the refinement.
_N_INFLUENCE_SAMPLES = 16


def svd_rank_for_budget(n_rows: int, n_features: int, n_params: int) -> int:
    """Largest rank of a truncated SVD that fits in a parameter budget.

    A rank-r factorisation ``U @ V`` of an ``n_rows x n_features`` matrix stores
    ``r * (n_rows + n_features)`` values, so the rank is
    ``n_params // (n_rows + n_features)``.

    Parameters
    ----------
    n_rows, n_features : int
        Shape of the matrix.
    n_params : int
        Number of values the factorisation may store.

    Returns
    -------
    rank : int
        The SVD rank whose factors hold at most ``n_params`` parameters.
    """
    _check_positive(n_rows=n_rows, n_features=n_features)
    return max(int(n_params) // (int(n_rows) + int(n_features)), 0)


def subspace_dim_for_budget(
    n_rows: int, n_features: int, n_clusters: int, n_params: int
) -> int:
    """Largest subspace dimension j of a (k, j) factorisation within a budget.

    The factorisation stores one j-vector per row and one j x d basis per
    cluster, ``j * (n_rows + n_clusters * n_features)`` values; the per-row
    cluster index is not counted (see :class:`ProjectiveClusteringCompressor`).

    Parameters
    ----------
    n_rows, n_features : int
        Shape of the matrix.
    n_clusters : int
        Number of subspaces k.
    n_params : int
        Number of values the factorisation may store.

    Returns
    -------
    subspace_dim : int
        The largest subspace dimension that fits the parameter budget.
    """
    _check_positive(n_rows=n_rows, n_features=n_features, n_clusters=n_clusters)
    per_dim = int(n_rows) + int(n_clusters) * int(n_features)
    return max(int(n_params) // per_dim, 0)


def _check_positive(**values):
    for name, value in values.items():
        if int(value) < 1:
            raise ValueError(f"{name} must be at least 1, got {value}.")


# --------------------------------------------------------------------------
# The numerical core: one restart on torch tensors.
# --------------------------------------------------------------------------


def _sign_fixed(vectors):
    """Flip basis vectors (columns) so each one's largest entry is positive.

    Eigenvectors are only defined up to sign; fixing it makes fitted components
    comparable between runs and machines.
    """
    index = vectors.abs().argmax(0, keepdim=True)
    signs = torch.sign(torch.take_along_dim(vectors, index, 0))
    signs[signs == 0] = 1
    return vectors * signs


def _residuals(X, sq_norms, bases, *, complement):
    """Squared distance of every row of ``X`` to every subspace, shape (n, k).

    ``bases`` is (k, d, m) with orthonormal columns. With ``complement=False``
    they span the subspaces and the distance is ||x||^2 - ||B^T x||^2; with
    ``complement=True`` they span the orthogonal complements and the distance is
    ||B^T x||^2 directly, which is cheaper when j > d / 2 and free of
    cancellation.
    """
    k, d, m = bases.shape
    stacked = bases.permute(1, 0, 2).reshape(d, k * m)
    out = torch.empty(X.shape[0], k, dtype=X.dtype, device=X.device)
    for start in range(0, X.shape[0], _BLOCK_ROWS):
        block = X[start : start + _BLOCK_ROWS]
        energy = (block @ stacked).square_().reshape(block.shape[0], k, m).sum(2)
        if complement:
            out[start : start + _BLOCK_ROWS] = energy
        else:
            rows = sq_norms[start : start + _BLOCK_ROWS, None]
            out[start : start + _BLOCK_ROWS] = (rows - energy).clamp_min_(0)
    return out


class _Restart:
    """State of one alternation run: labels, per-group moments and bases.

    Second moments ``C_l = A_l^T A_l`` are kept in float64 and updated by the
    rows that move, so an iteration costs one product of the data with the
    stacked bases plus k small eigendecompositions.
    """

    def __init__(self, X, n_clusters, subspace_dim, generator):
        self.X = X
        self.k = n_clusters
        self.j = subspace_dim
        self.n, self.d = X.shape
        self.generator = generator
        # float64 moments; MPS has no float64, so they live on the CPU there.
        self.moment_device = X.device if X.device.type != "mps" else torch.device("cpu")
        self.X64 = X.to(self.moment_device, torch.float64)
        self.sq_norms = (X * X).sum(1)
        self.ridge = _RIDGE * (self.X64.T @ self.X64)
        # the loop works with whichever of basis / complement is narrower
        self.use_complement = self.j > self.d - self.j
        self.n_iter = 0

    # -- moments, bases, cost -------------------------------------------------
    def set_labels(self, labels):
        self.labels = labels
        moments = torch.empty(self.k, self.d, self.d, dtype=torch.float64)
        moments = moments.to(self.X64.device)
        labels = labels.to(self.X64.device)
        for group in range(self.k):
            rows = self.X64[labels == group]
            moments[group] = rows.T @ rows
        self.moments = moments
        self.eigvals, self.eigvecs = self._eigh(moments)

    def _eigh(self, moments):
        values, vectors = torch.linalg.eigh((moments + self.ridge).cpu())
        values, vectors = values.flip(-1), vectors.flip(-1)  # descending
        vectors = torch.stack([_sign_fixed(v) for v in vectors])
        return values.to(moments.device), vectors.to(moments.device)

    def _group_cost(self, moments, eigvals):
        trace = moments.diagonal(dim1=-2, dim2=-1).sum(-1)
        return (trace - eigvals[..., : self.j].sum(-1)).clamp_min(0)

    def cost(self):
        return float(self._group_cost(self.moments, self.eigvals).sum())

    def bases(self, *, complement=None):
        complement = self.use_complement if complement is None else complement
        part = (
            self.eigvecs[..., self.j :] if complement else self.eigvecs[..., : self.j]
        )
        return part.to(self.X.device, self.X.dtype)

    def residuals(self, *, complement=None):
        complement = self.use_complement if complement is None else complement
        self.n_iter += 1
        return _residuals(
            self.X,
            self.sq_norms,
            self.bases(complement=complement),
            complement=complement,
        )

    def _moved_moments(self, rows, new_labels):
        """Moments after ``rows`` move to ``new_labels`` (not committed)."""
        moments = self.moments.clone()
        X64 = self.X64[rows.to(self.X64.device)]
        old = self.labels[rows].to(self.X64.device)
        new = new_labels.to(self.X64.device)
        for group in torch.unique(torch.cat([old, new])).tolist():
            out_rows = X64[old == group]
            in_rows = X64[new == group]
            moments[group] += in_rows.T @ in_rows - out_rows.T @ out_rows
        touched = torch.unique(torch.cat([old, new]))
        return moments, touched

    def move(self, rows, new_labels, moments=None, touched=None):
        if moments is None:
            moments, touched = self._moved_moments(rows, new_labels)
        self.moments = moments
        values, vectors = self._eigh(moments[touched])
        self.eigvals[touched] = values
        self.eigvecs[touched] = vectors
        self.labels = self.labels.clone()
        self.labels[rows] = new_labels

    # -- seeding --------------------------------------------------------------
    def seed_random(self):
        """A uniformly random partition with every group non-empty."""
        labels = torch.randint(self.k, (self.n,), generator=self.generator)
        first = torch.randperm(self.n, generator=self.generator)[: self.k]
        labels[first] = torch.arange(self.k)
        self.set_labels(labels.to(self.X.device))

    def seed_k_lines(self):
        """Seed with the partition of a (k, 1)-projective clustering."""
        self.set_labels(self._k_lines())

    def _k_lines(self, n_iter=30):
        """D^2 seeding and Lloyd iterations of (k, 1)-projective clustering.

        Seed rows are drawn with probability proportional to their squared
        distance to the lines (1-dimensional subspaces) through the rows drawn
        before, as k-means++ does with points. The lines are then improved by
        alternating assignment with a power-iteration step per line.
        """
        X, sq = self.X, self.sq_norms
        weights = sq.double().cpu()
        if not float(weights.sum()) > 0:
            weights = torch.ones(self.n, dtype=torch.float64)
        norms = sq.sqrt().clamp_min(torch.finfo(X.dtype).tiny)
        lines = torch.empty(self.k, self.d, dtype=X.dtype, device=X.device)
        dist = weights.clone()
        for group in range(self.k):
            probs = dist if float(dist.sum()) > 0 else weights
            row = int(torch.multinomial(probs, 1, generator=self.generator))
            lines[group] = X[row] / norms[row]
            along = (X @ lines[group]).square().double().cpu()
            dist = torch.minimum(dist, (weights - along).clamp_min(0))
        labels = None
        for _ in range(n_iter):
            proj = X @ lines.T
            new = proj.square().argmax(1)
            new = self._fill_empty(new, sq - proj.square().amax(1))
            if labels is not None and torch.equal(new, labels):
                break
            labels = new
            mask = torch.zeros_like(proj)
            mask[torch.arange(self.n, device=X.device), labels] = 1
            lines = (proj * mask).T @ X  # C_l @ line_l, one power step per line
            lines = lines / lines.norm(dim=1, keepdim=True).clamp_min(
                torch.finfo(X.dtype).tiny
            )
        return labels

    def _fill_empty(self, labels, own_residual):
        """Give each empty group the worst-fitted row of a group that has two."""
        counts = torch.bincount(labels, minlength=self.k)
        if bool((counts > 0).all()):
            return labels
        labels = labels.clone()
        own_residual = own_residual.clone()
        for group in torch.nonzero(counts == 0)[:, 0].tolist():
            movable = counts[labels] > 1
            candidates = torch.where(movable, own_residual, -torch.inf)
            row = int(candidates.argmax())
            counts[labels[row]] -= 1
            counts[group] += 1
            labels[row] = group
            own_residual[row] = -torch.inf
        return labels

    # -- the two local searches -----------------------------------------------
    def lloyd(self, max_iter, tol, *, settle=False):
        """Assign rows to their nearest subspace and refit, until stable.

        Stops when no label changes or, unless ``settle``, when the cost drops
        by less than ``tol`` (relative). With ``settle`` the residuals are those
        of ``predict`` and the last allowed pass assigns without refitting, so
        the labels always end equal to the nearest-subspace assignment. Returns
        the number of passes left.
        """
        cost = self.cost()
        while max_iter > 0:
            max_iter -= 1
            R = self.residuals(complement=False if settle else None)
            new = R.argmin(1)
            new = self._fill_empty(new, R.gather(1, new[:, None])[:, 0])
            changed = torch.nonzero(new != self.labels)[:, 0]
            if changed.numel() == 0:
                break
            if settle and max_iter == 0:
                self.labels = new
                break
            self.move(changed, new[changed])
            new_cost = self.cost()
            if not settle and cost - new_cost <= tol * cost:
                break
            cost = new_cost
        return max_iter

    def _influence_ratio(self, R):
        """How much Lloyd's residuals understate the effect of moving a row.

        In-sample, a row's own subspace was fitted to it: removing the row lets
        the subspace turn away and frees more than the row's residual, and
        adding it to another group costs less than its residual there, because
        that subspace turns towards it. For a sample of rows the exact changes of
        the two groups' costs are computed from eigenvalues, and the returned
        ratio (free-on-removal / residual) / (cost-of-adding / residual) ranks
        candidate moves in :meth:`refine`.
        """
        own = R.gather(1, self.labels[:, None])[:, 0]
        counts = torch.bincount(self.labels, minlength=self.k)
        eligible = torch.nonzero((counts[self.labels] > 1) & (own > 0))[:, 0].cpu()
        if eligible.numel() == 0:
            return 1.0
        pick = torch.randperm(eligible.numel(), generator=self.generator)
        rows = eligible[pick[:_N_INFLUENCE_SAMPLES]].to(self.X.device)
        others = R[rows].scatter(1, self.labels[rows, None], torch.inf).argmin(1)
        freed = cost_removed = added = cost_added = 0.0
        for row, other in zip(rows.tolist(), others.tolist(), strict=True):
            a = self.X64[row]
            outer = torch.outer(a, a)
            group = int(self.labels[row])
            pair = torch.stack(
                [self.moments[group] - outer, self.moments[other] + outer]
            )
            values = torch.linalg.eigvalsh((pair + self.ridge).cpu()).flip(-1)
            after = self._group_cost(pair, values.to(pair.device))
            freed += float(
                self._group_cost(self.moments[group], self.eigvals[group]) - after[0]
            )
            added += float(
                after[1] - self._group_cost(self.moments[other], self.eigvals[other])
            )
            cost_removed += float(R[row, group])
            cost_added += float(R[row, other])
        if min(freed, added, cost_removed, cost_added) <= 0:
            return 1.0
        return float(np.clip((freed / cost_removed) / (added / cost_added), 1.0, 10.0))

    def refine(self, max_iter, tol, *, step=0.05):
        """Move batches of rows Lloyd would keep, where that lowers the cost.

        Candidates are ranked by ``ratio * own_residual - best_other_residual``
        (see :meth:`_influence_ratio`). The best ``step * n`` are moved
        together; the move is kept only if the exactly recomputed cost drops,
        else the batch is halved. The cost therefore never increases.
        """
        if self.k < 2 or max_iter <= 0:
            return max_iter
        R = self.residuals()
        max_iter -= 1
        ratio = self._influence_ratio(R)
        cost = self.cost()
        while max_iter > 0:
            own = R.gather(1, self.labels[:, None])[:, 0]
            other_res, other = R.scatter(1, self.labels[:, None], torch.inf).min(1)
            gain = ratio * own - other_res
            order = torch.argsort(gain, descending=True, stable=True)
            n_candidates = int((gain > 0).sum())
            accepted = False
            while step * self.n >= 1 and n_candidates:
                rows = order[: min(n_candidates, int(step * self.n))]
                rows = self._keep_groups_populated(rows)
                moments, touched = self._moved_moments(rows, other[rows])
                values = torch.linalg.eigvalsh((moments[touched] + self.ridge).cpu())
                trial = self._group_cost(
                    moments[touched], values.flip(-1).to(moments.device)
                )
                new_cost = (
                    cost
                    - float(
                        self._group_cost(
                            self.moments[touched], self.eigvals[touched]
                        ).sum()
                    )
                    + float(trial.sum())
                )
                if new_cost < cost:
                    self.move(rows, other[rows], moments, touched)
                    accepted = True
                    break
                step /= 2
            if not accepted:
                break
            improvement = (cost - new_cost) / cost
            cost = new_cost
            step = min(step * 1.5, 0.25)
            if improvement <= tol:
                break
            R = self.residuals()
            max_iter -= 1
        return max_iter

    def _keep_groups_populated(self, rows):
        """Drop the moves (last-ranked first) that would empty a group."""
        counts = torch.bincount(self.labels, minlength=self.k)
        source = self.labels[rows]
        onehot = torch.zeros(rows.numel(), self.k, dtype=torch.long, device=rows.device)
        onehot[torch.arange(rows.numel(), device=rows.device), source] = 1
        leaving = (onehot.cumsum(0) * onehot).sum(1)  # 1st, 2nd ... row leaving
        return rows[leaving < counts[source]]


def _run_restart(X, n_clusters, subspace_dim, init, max_iter, tol, refine, seed):
    generator = torch.Generator().manual_seed(int(seed))
    state = _Restart(X, n_clusters, subspace_dim, generator)
    if init == "random":
        state.seed_random()
    else:
        state.seed_k_lines()
    left = state.lloyd(max_iter, tol)
    if refine:
        # refinement and Lloyd passes unlock moves for each other; alternate
        # them while a round still lowers the cost
        for _ in range(_MAX_REFINE_ROUNDS):
            before = state.cost()
            left = state.lloyd(state.refine(left, tol), tol)
            if left <= 0 or before - state.cost() <= tol * before:
                break
    # final Lloyd passes with the same residual formula as ``predict``, so that
    # labels_ equals predict(X) on the training data
    state.lloyd(max(left, 1), tol, settle=True)
    components = state.bases(complement=False).transpose(1, 2).contiguous()
    return {
        "components": components.cpu().numpy(),
        "labels": state.labels.cpu().numpy().astype(np.int64),
        "n_iter": state.n_iter,
    }


def _compute_device(device, dtype):
    """``device``, or the CPU for float64 data on MPS (which has no float64)."""
    if device.type == "mps" and np.dtype(dtype) == np.float64:
        return torch.device("cpu")
    return device


def _inertia(X64, labels, components):
    """Sum of squared distances of the rows to their assigned subspace, float64."""
    total = 0.0
    for group in range(components.shape[0]):
        rows = X64[labels == group]
        coords = rows @ components[group].T
        total += float((rows * rows).sum() - (coords * coords).sum())
    return max(total, 0.0)


# --------------------------------------------------------------------------
# The estimator.
# --------------------------------------------------------------------------


class ProjectiveClusteringCompressor(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator
):
    """(k, j)-projective clustering of rows, to compress embedding matrices.

    Splits the rows of a matrix ``A`` (for instance an embedding table, one row
    per token) into ``n_clusters`` groups and fits each with a linear subspace of
    dimension ``subspace_dim`` through the origin, minimising

    .. math:: \\sum_i \\min_l \\lVert a_i - V_l^\\top V_l a_i \\rVert^2

    where the rows of :math:`V_l` (j x d) are orthonormal. With one cluster this
    is the truncated SVD. A row is then stored as its cluster index and its j
    coordinates, and :meth:`compress` turns an ``nn.Embedding`` into the
    factored layer of Maalouf et al. (ICLR 2021).

    Read more in the :ref:`User Guide <projective>`.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of subspaces k.
    subspace_dim : int or None, default=None
        Dimension j of every subspace; must be smaller than the number of
        features. ``None`` means 1, unless ``compression`` is set.
    compression : float in (0, 1) or None, default=None
        Fraction of the matrix's ``n * d`` values to remove. When set, the
        largest j with ``n * j + k * j * d <= (1 - compression) * n * d`` is used
        and ``subspace_dim`` must be left to None.
    init : {"k-lines", "random"}, default="k-lines"
        Seeding of each restart. ``"k-lines"`` draws seed rows with probability
        proportional to their squared distance to the lines through the rows
        already drawn (k-means++ for lines through the origin), improves those
        lines by a few Lloyd iterations and uses the resulting partition.
        ``"random"`` starts from a uniformly random partition.
    n_init : int, default=2
        Number of restarts, each from its own seed; the one with the lowest
        cost is kept.
    refine : bool, default=True
        After Lloyd's alternation converges, move batches of rows ranked by a
        leave-one-out correction of their residuals, keeping a batch only if the
        cost drops (see the User Guide). Often worth several percent of error on
        embedding matrices.
    max_iter : int, default=100
        Maximum number of assignment passes (Lloyd iterations plus refinement
        steps) per restart.
    tol : float, default=1e-4
        Relative decrease of the cost below which the alternation, or the
        refinement, stops.
    n_jobs : int or None, default=None
        Number of restarts run in parallel by joblib (threads by default; torch
        releases the GIL). The result does not depend on it.
    device : str, default="auto"
        Torch device for the fit: ``"auto"`` (CUDA, then MPS, then CPU),
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    random_state : int, RandomState instance or None, default=None
        Seeds the restarts. Pass an int for reproducible results.

    Attributes
    ----------
    components_ : ndarray of shape (n_clusters, `subspace_dim_`, `n_features_in_`)
        Orthonormal basis of each subspace, one per row, in the fit's dtype.
    labels_ : ndarray of shape (n_samples,), dtype int64
        Subspace of each training row. Every subspace is used, and
        ``labels_ == predict(X)`` on the training data (up to the rare row that
        had to be moved to keep a subspace from being empty).
    subspace_dim_ : int
        The dimension j actually used.
    inertia_ : float
        Sum over training rows of the squared distance to their subspace.
    reconstruction_error_ : float
        Relative Frobenius error on the training data,
        ``||A - A_hat||_F / ||A||_F`` with ``A_hat`` the rows projected on their
        subspace; equal to ``sqrt(inertia_ / ||A||_F^2)``.
    n_params_ : int
        Stored values ``n * j + k * j * d``: the codes and the bases. The
        cluster index (one small integer per row, ``n_samples`` in all) is not
        included, as in the paper; add ``n_samples`` to count it.
    n_iter_ : int
        Assignment passes of the kept restart.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.
    device_ : str
        Device the model was fitted on.

    See Also
    --------
    sklearn.decomposition.TruncatedSVD : The single-subspace case.
    sknclust.nn.ProjectiveEmbedding : The layer built by :meth:`compress`.

    Notes
    -----
    Finding the optimal subspaces is NP-hard; like k-means, the alternation
    finds a local minimum, which is why seeding, restarts and the refinement
    matter. ``transform`` places the j coordinates of each row in the block of
    its subspace (``n_clusters * subspace_dim_`` columns, the rest zero), so
    that ``inverse_transform`` is one linear map, the recombination layer of
    the factored architecture.

    Examples
    --------
    >>> import numpy as np
    >>> from sknclust import ProjectiveClusteringCompressor
    >>> rng = np.random.RandomState(0)
    >>> A = np.vstack([rng.normal(size=(30, 1)) @ [[1.0, 0.0, 0.0]],
    ...                rng.normal(size=(30, 1)) @ [[0.0, 0.6, 0.8]]])
    >>> pcc = ProjectiveClusteringCompressor(n_clusters=2, subspace_dim=1,
    ...                                      random_state=0).fit(A)
    >>> pcc.components_.shape
    (2, 1, 3)
    >>> bool(np.all(pcc.labels_[:30] == pcc.labels_[0]))
    True
    >>> round(pcc.reconstruction_error_, 6)
    0.0
    >>> pcc.n_params_  # 60 rows * 1 + 2 subspaces * 1 * 3
    66
    >>> Z = pcc.transform(A)  # j coordinates in the block of each row's subspace
    >>> Z.shape
    (60, 2)
    >>> bool(np.allclose(pcc.inverse_transform(Z), A))
    True
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "subspace_dim": [Interval(Integral, 1, None, closed="left"), None],
        "compression": [Interval(Real, 0, 1, closed="neither"), None],
        "init": [StrOptions({"k-lines", "random"})],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "refine": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_jobs": [Integral, None],
        "device": [str],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        subspace_dim=None,
        compression=None,
        init="k-lines",
        n_init=2,
        refine=True,
        max_iter=100,
        tol=1e-4,
        n_jobs=None,
        device="auto",
        random_state=None,
    ):
        self.n_clusters = n_clusters
        self.subspace_dim = subspace_dim
        self.compression = compression
        self.init = init
        self.n_init = n_init
        self.refine = refine
        self.max_iter = max_iter
        self.tol = tol
        self.n_jobs = n_jobs
        self.device = device
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # -- sizing -----------------------------------------------------------------
    def _resolve_subspace_dim(self, n_samples, n_features):
        if self.compression is not None:
            if self.subspace_dim is not None:
                raise ValueError(
                    "Set either subspace_dim or compression, not both "
                    f"(got subspace_dim={self.subspace_dim}, "
                    f"compression={self.compression})."
                )
            budget = int((1 - self.compression) * n_samples * n_features)
            j = subspace_dim_for_budget(n_samples, n_features, self.n_clusters, budget)
            if j < 1:
                raise ValueError(
                    f"compression={self.compression} leaves {budget} values, fewer "
                    f"than the n + k * d = {n_samples + self.n_clusters * n_features}"
                    " that even subspace_dim=1 needs; lower compression or "
                    "n_clusters."
                )
            return j
        j = 1 if self.subspace_dim is None else self.subspace_dim
        if j >= n_features:
            raise ValueError(
                f"subspace_dim={j} must be smaller than n_features={n_features}: "
                "a subspace of full dimension reconstructs every row exactly."
            )
        return j

    # -- fit ------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Find the subspaces and the assignment of the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Matrix whose rows are clustered (for instance an embedding table).
        y : Ignored
            Not used, present here for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        n_samples, n_features = X.shape
        if n_samples < self.n_clusters:
            raise ValueError(
                f"n_samples={n_samples} should be >= n_clusters={self.n_clusters}."
            )
        j = self._resolve_subspace_dim(n_samples, n_features)
        device = _compute_device(resolve_device(self.device), X.dtype)
        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_init)

        X_t = torch.tensor(np.asarray(X), device=device)  # a copy: input untouched
        runs = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(_run_restart)(
                X_t,
                self.n_clusters,
                j,
                self.init,
                self.max_iter,
                self.tol,
                self.refine,
                seed,
            )
            for seed in seeds
        )
        X64 = np.asarray(X, dtype=np.float64)
        inertias = [
            _inertia(X64, run["labels"], run["components"].astype(np.float64))
            for run in runs
        ]
        best = int(np.argmin(inertias))
        run = runs[best]

        self.components_ = run["components"]
        self.labels_ = run["labels"]
        self.subspace_dim_ = j
        self.inertia_ = inertias[best]
        total = float((X64 * X64).sum())
        self.reconstruction_error_ = (
            float(np.sqrt(self.inertia_ / total)) if total > 0 else 0.0
        )
        self.n_params_ = int(n_samples * j + self.n_clusters * j * n_features)
        self.n_iter_ = int(run["n_iter"])
        self.device_ = str(device)
        self._n_features_out = self.n_clusters * j
        return self

    # -- inference --------------------------------------------------------------
    def __setstate__(self, state):
        super().__setstate__(state)
        if "device_" in state:
            loadable_device(state["device_"])  # warns if that device is absent here

    def _inference_device(self, dtype):
        try:
            return _compute_device(resolve_device(self.device_), dtype)
        except ValueError:
            return torch.device("cpu")

    def _checked(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        device = self._inference_device(X.dtype)
        X_t = torch.tensor(np.asarray(X), device=device)
        bases = torch.tensor(self.components_, dtype=X_t.dtype, device=device)
        return X_t, bases

    def _assign(self, X_t, bases):
        sq = (X_t * X_t).sum(1)
        R = _residuals(X_t, sq, bases.transpose(1, 2), complement=False)
        return R.argmin(1), R

    def predict(self, X):
        """Index of the nearest subspace for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to assign.

        Returns
        -------
        labels : ndarray of shape (n_samples,), dtype int64
            Index of the nearest subspace of each row.
        """
        X_t, bases = self._checked(X)
        labels, _ = self._assign(X_t, bases)
        return labels.cpu().numpy().astype(np.int64)

    def transform(self, X):
        """Coordinates of each row in its nearest subspace, in that one's block.

        Row i, assigned to subspace l, gets its j coordinates ``V_l x_i`` in
        columns ``l * j`` to ``(l + 1) * j`` and zeros elsewhere: the output of
        the first layer of the factored architecture, which
        :meth:`inverse_transform` (the recombination layer) maps back.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to encode.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_clusters * `subspace_dim_`)
            In the dtype of ``X``. ``X_new.reshape(n, k, j)[range(n), labels]``
            with ``labels = predict(X)`` gives the compact (n, j) codes.
        """
        X_t, bases = self._checked(X)
        labels, _ = self._assign(X_t, bases)
        codes = self._codes(X_t, labels, bases)
        k, j = bases.shape[:2]
        out = torch.zeros(X_t.shape[0], k, j, dtype=X_t.dtype, device=X_t.device)
        out[torch.arange(X_t.shape[0], device=X_t.device), labels] = codes
        return out.reshape(X_t.shape[0], k * j).cpu().numpy()

    @staticmethod
    def _codes(X_t, labels, bases):
        """Coordinates (n, j) of each row in the basis of its given subspace."""
        codes = torch.empty(
            X_t.shape[0], bases.shape[1], dtype=X_t.dtype, device=X_t.device
        )
        for group in range(bases.shape[0]):
            rows = torch.nonzero(labels == group)[:, 0]
            if rows.numel():
                codes[rows] = X_t[rows] @ bases[group].T
        return codes

    def inverse_transform(self, X):
        """Rebuild rows from the output of :meth:`transform`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_clusters * `subspace_dim_`)
            Block coordinates, as returned by :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, `n_features_in_`)
            ``X @ components_.reshape(-1, n_features_in_)``, in the dtype of
            ``X``: for the output of ``transform``, each row projected on its
            subspace.
        """
        check_is_fitted(self)
        X = check_array(X, dtype=[np.float64, np.float32])
        k, j, d = self.components_.shape
        if X.shape[1] != k * j:
            raise ValueError(
                f"X has {X.shape[1]} features, but inverse_transform expects "
                f"n_clusters * subspace_dim_ = {k * j} (the output of transform)."
            )
        device = self._inference_device(X.dtype)
        X_t = torch.tensor(np.asarray(X), device=device)
        bases = torch.tensor(self.components_, dtype=X_t.dtype, device=device)
        return (X_t @ bases.reshape(k * j, d)).cpu().numpy()

    def score(self, X, y=None):
        """Minus the mean squared distance of the rows to their nearest subspace.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.
        y : Ignored
            Not used, present here for API consistency by convention.

        Returns
        -------
        score : float
            ``-mean_i min_l ||x_i - V_l^T V_l x_i||^2`` (summed over features,
            averaged over rows); higher is better.
        """
        X_t, bases = self._checked(X)
        _, R = self._assign(X_t, bases)
        return -float(R.amin(1).double().mean())

    # -- compression of torch layers ------------------------------------------------
    def compress(self, module):
        """Replace an ``nn.Embedding`` or ``nn.Linear`` by its factored version.

        If the estimator is not fitted, it is first fitted on the module's
        weight (one row per embedding, or per output unit of a linear layer).
        If it is, the weight must have the shape it was fitted on; each row
        keeps its training label, and its codes are its coordinates in that
        subspace.

        ``padding_idx`` is carried over; ``max_norm``, ``scale_grad_by_freq``
        and ``sparse`` of an embedding are not.

        Parameters
        ----------
        module : torch.nn.Embedding or torch.nn.Linear
            The layer to compress. It is not modified.

        Returns
        -------
        compressed : sknclust.nn.ProjectiveEmbedding or sknclust.nn.ProjectiveLinear
            A trainable drop-in replacement on the module's device and dtype,
            with ``n_params_`` parameters (plus the bias of a linear layer);
            its outputs equal ``inverse_transform(transform(W))`` for the
            weight ``W``.
        """
        from sknclust.nn._factored_embedding import (
            ProjectiveEmbedding,
            ProjectiveLinear,
        )

        if not isinstance(module, torch.nn.Embedding | torch.nn.Linear):
            raise TypeError(
                "compress expects a torch.nn.Embedding or torch.nn.Linear, got "
                f"{type(module).__name__}."
            )
        weight = module.weight.detach()
        W = weight.cpu().numpy()
        try:
            check_is_fitted(self)
        except NotFittedError:
            self.fit(W)
        if W.shape != (self.labels_.shape[0], self.n_features_in_):
            raise ValueError(
                f"The module's weight has shape {tuple(W.shape)}, but the estimator "
                f"was fitted on a {self.labels_.shape[0]} x {self.n_features_in_} "
                "matrix; fit it on this weight (or an unfitted clone)."
            )
        labels = torch.as_tensor(self.labels_)
        bases = torch.tensor(self.components_, dtype=weight.dtype)
        codes = self._codes(weight.cpu(), labels, bases)
        if isinstance(module, torch.nn.Embedding):
            layer = ProjectiveEmbedding.from_factors(
                labels, codes, bases, padding_idx=module.padding_idx
            )
        else:
            bias = None if module.bias is None else module.bias.detach().cpu()
            layer = ProjectiveLinear.from_factors(labels, codes, bases, bias=bias)
        return layer.to(device=weight.device, dtype=weight.dtype)
