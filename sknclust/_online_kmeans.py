"""OnlineKMeans: sequential k-means whose counts decay, for drifting streams.

The rule is the dynamic online k-means of Agostinelli et al. (2019) on raw
features: every centroid moves towards the points assigned to it with a step of
one over its count, all counts decay after every write (linearly, as in the
paper, or exponentially), and a dead centroid is recycled onto new data.
"""

import math
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import row_norms, safe_sparse_dot
from sklearn.utils.validation import check_is_fitted, validate_data

# Attributes that scikit-learn's input validation writes when it resets.
_VALIDATION_ATTRIBUTES = ("n_features_in_", "feature_names_in_")


def _sq_distances(X, x_sq, centers):
    """Squared Euclidean distances (n_samples, n_centers), clipped at zero."""
    d = x_sq[:, None] - 2 * safe_sparse_dot(X, centers.T, dense_output=True)
    d += (centers * centers).sum(1)
    return np.maximum(d, 0, out=d)


def _dense_rows(X, index):
    rows = X[index]
    return rows.toarray() if sp.issparse(rows) else np.array(rows)


def _seed(X, x_sq, centers, n_new, rng):
    """Indices of ``n_new`` rows of ``X`` to seed new centroids, by greedy
    k-means++ sampling against ``centers`` and the rows already picked.

    Each pick draws a few candidates with probability proportional to their
    squared distance to the nearest centroid and keeps the one that lowers the
    chunk's total squared distance most; the first pick, when there are no
    centroids, is uniform.
    """
    n = X.shape[0]
    n_trials = 2 + int(math.log(max(n_new + len(centers), 1)))
    if len(centers):
        closest = _sq_distances(X, x_sq, centers).min(1)
        picked = []
    else:
        first = int(rng.integers(n))
        picked = [first]
        closest = _sq_distances(X, x_sq, _dense_rows(X, [first]))[:, 0]
    while len(picked) < n_new:
        weights = closest.copy()
        weights[picked] = 0.0
        total = weights.sum()
        if total > 0:
            candidates = rng.choice(n, size=n_trials, p=weights / total)
        else:  # every row sits on a centroid: any row not yet picked will do
            free = np.setdiff1d(np.arange(n), picked)
            candidates = rng.choice(free, size=1)
        d = _sq_distances(X, x_sq, _dense_rows(X, candidates))
        d = np.minimum(d, closest[:, None])
        best = int(np.argmin(d.sum(0)))
        picked.append(int(candidates[best]))
        closest = d[:, best]
    return np.asarray(picked, dtype=np.intp)


def _dead(counts, forgetting):
    """Centroids to recycle: count at or below zero (linear), below one
    point's worth (exponential, whose counts never reach zero)."""
    return counts <= 0 if forgetting == "linear" else counts < 1


def _update(centers, counts, X, decay, forgetting, rng):
    """One write of the chunk ``X``: new ``(centers, counts)``, inputs unchanged.

    1. Dead centroids are re-seeded on rows of the chunk (k-means++ sampling
       against the live centroids), as a cluster of that one row.
    2. Every other row goes to its nearest centroid; the rows hitting a
       centroid are averaged and merged as one weighted step,
       ``c <- (n c + m mean) / (n + m)``, counts below zero counting as zero.
    3. Counts decay for the ``b`` rows written. Linear: ``n <- n + m - decay b``.
       Exponential: ``n <- n exp(-decay b) + m (1 - exp(-decay b)) / (decay b)``,
       the chunk's rows counted as if they had arrived one by one through it,
       so that a centroid receiving a share ``p`` of the stream settles at a
       count of ``p / decay`` whatever the chunk size.
    """
    n_clusters = centers.shape[0]
    centers = centers.copy()
    old = np.maximum(counts, 0.0)
    added = np.zeros(n_clusters)
    x_sq = row_norms(X, squared=True)
    n = X.shape[0]

    dead = np.flatnonzero(_dead(counts, forgetting))
    seeds = np.empty(0, dtype=np.intp)
    if dead.size:
        live = np.setdiff1d(np.arange(n_clusters), dead)
        seeds = _seed(X, x_sq, centers[live], min(dead.size, n), rng)
        dead = dead[: seeds.size]
        centers[dead] = _dense_rows(X, seeds)
        old[dead], added[dead] = 0.0, 1.0

    rest = np.ones(n, dtype=bool)
    rest[seeds] = False
    if rest.any():
        X_rest = X[rest] if seeds.size else X
        labels = _sq_distances(X_rest, x_sq[rest], centers).argmin(1)
        m = np.bincount(labels, minlength=n_clusters).astype(np.float64)
        onehot = sp.csr_matrix(
            (np.ones(labels.size), (labels, np.arange(labels.size))),
            shape=(n_clusters, labels.size),
        )
        sums = np.asarray(safe_sparse_dot(onehot, X_rest, dense_output=True))
        hit = m > 0
        prior = old[hit] + added[hit]
        centers[hit] = (prior[:, None] * centers[hit] + sums[hit]) / (prior + m[hit])[
            :, None
        ]
        added += m

    x = decay * n
    if forgetting == "linear":
        return centers, old + added - x
    evenly = -math.expm1(-x) / x if x > 0 else 1.0
    return centers, old * math.exp(-x) + added * evenly


class OnlineKMeans(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator
):
    """Dynamic online k-means: sequential k-means that forgets, for drifting streams.

    Each centroid keeps a count and moves towards the points assigned to it
    with a step of one over that count, so that without forgetting it is the
    running mean of its points (sequential k-means). After every write all
    counts decay: a centroid that stops receiving points loses its count and,
    once it is spent, is recycled onto new data, while the others keep
    following their points with steps that no longer shrink to zero.
    Centroids follow a stream whose clusters appear, move and vanish. The
    model works on the raw features; there is no network.

    Read more in the :ref:`User Guide <online_kmeans>`.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of centroids.
    decay : float, default=0.005
        Forgetting rate per point written; ``0`` gives plain sequential
        k-means, which never forgets. With ``forgetting="exponential"`` every
        count shrinks by the factor ``exp(-decay)`` per point written: a
        centroid receiving a share ``p`` of the stream settles at a count of
        ``p / decay`` and so averages roughly its last ``p / decay`` points
        (40 for a centroid holding a fifth of the stream, at the default); a
        centroid whose share falls below ``decay`` ends up below a count of 1
        and is recycled. Keep ``decay`` well below ``1 / n_clusters``. With
        ``forgetting="linear"`` every count loses ``decay`` per point written:
        a centroid holding less than a share ``decay`` of the stream runs out
        and is recycled when its count reaches 0, the others grow without
        bound.
    forgetting : {"exponential", "linear"}, default="exponential"
        How counts decay. ``"linear"`` is the rule of the dynamic online
        k-means paper; ``"exponential"`` keeps counts bounded, so that
        centroids never freeze, and tracks drift better (see the User Guide).
    batch_size : int, default=1024
        Rows per update in :meth:`fit`. :meth:`partial_fit` takes its chunk
        as one update, whatever its size.
    max_iter : int, default=10
        Passes over the data in :meth:`fit`, each in a new random order.
    random_state : int, RandomState instance or None, default=None
        Seeds the k-means++ seeding, the recycling and the order of the rows
        in :meth:`fit`. The global numpy RNG is left untouched.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        Centroids, float64.
    counts_ : ndarray of shape (n_clusters,)
        Count of each centroid: the points it absorbed, decayed since. A dead
        centroid (count below 1 with exponential forgetting, at or below 0
        with linear) is recycled by the next write.
    labels_ : ndarray of shape (n_samples,), dtype=int64
        Nearest centroid of each row of the last :meth:`fit` or
        :meth:`partial_fit` call, under the model that call produced.
    inertia_ : float
        Sum of squared distances of those rows to their nearest centroid.
    n_steps_ : int
        Writes (chunks) since the model was first seeded.
    n_iter_ : int
        Passes over the data made by the last :meth:`fit`.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    sklearn.cluster.MiniBatchKMeans : Online k-means that never forgets.
    sklearn.cluster.KMeans : Batch k-means on data held in memory.

    Notes
    -----
    The first chunk seeds all centroids by greedy k-means++ and must hold at
    least ``n_clusters`` rows; its other rows are then merged. A recycled
    centroid is seeded the same way, on a row of the chunk drawn against the
    live centroids, so it lands where the chunk is worst served. Rows of one
    chunk are assigned under the centroids as they were before the chunk, and
    the rows hitting the same centroid are merged as one weighted step: with
    ``decay=0`` and chunks of any size each centroid is exactly the mean of
    its seed and every row merged into it. With exponential forgetting the
    rows of a chunk are counted as if they had arrived one by one through it,
    so the counts do not depend on how the stream is cut into chunks.

    Input may be dense or sparse (CSR); rows are processed in float64.

    References
    ----------
    A. Agostinelli, K. Arulkumaran, M. Sarrico, P. Richemond and A. A.
    Bharath, "Memory-efficient episodic control reinforcement learning with
    dynamic online k-means", NeurIPS 2019 Workshop on Biological and Artificial
    Reinforcement Learning, arXiv:1911.09560.

    Examples
    --------
    >>> import numpy as np
    >>> from sknclust import OnlineKMeans
    >>> rng = np.random.RandomState(0)
    >>> km = OnlineKMeans(n_clusters=2, random_state=0)
    >>> for step in range(20):  # the second cluster moves from x=5 to x=10
    ...     moving = [5.0 if step < 10 else 10.0, 0.0]
    ...     chunk = np.vstack([rng.normal([0.0, 0.0], 0.5, (50, 2)),
    ...                        rng.normal(moving, 0.5, (50, 2))])
    ...     km = km.partial_fit(chunk)
    >>> np.sort(km.cluster_centers_[:, 0]).round(1) + 0.0
    array([0. , 9.9])
    >>> km.counts_.round()
    array([100., 100.])
    >>> km.transform([[0.0, 0.0]]).shape
    (1, 2)
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "decay": [Interval(Real, 0, None, closed="left")],
        "forgetting": [StrOptions({"exponential", "linear"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        decay: float = 0.005,
        forgetting: str = "exponential",
        batch_size: int = 1024,
        max_iter: int = 10,
        random_state=None,
    ):
        self.n_clusters = n_clusters
        self.decay = decay
        self.forgetting = forgetting
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    @property
    def _n_features_out(self):
        return self.cluster_centers_.shape[0]

    # ----------------------------------------------------------- validation
    def _validated(self, X, *, reset):
        """``X`` checked as a chunk; on failure the estimator is as it was."""
        saved = {a: self.__dict__[a] for a in _VALIDATION_ATTRIBUTES if a in vars(self)}
        try:
            X = validate_data(
                self,
                X,
                accept_sparse="csr",
                dtype=[np.float64, np.float32],
                reset=reset,
            )
            if reset and X.shape[0] < self.n_clusters:
                raise ValueError(
                    f"n_samples={X.shape[0]} should be >= n_clusters="
                    f"{self.n_clusters}: the first chunk seeds every centroid."
                )
        except Exception:
            for a in _VALIDATION_ATTRIBUTES:
                self.__dict__.pop(a, None)
            self.__dict__.update(saved)
            raise
        return X

    @staticmethod
    def _rng(random_state):
        """A private generator seeded from ``random_state``; ``None`` draws
        fresh entropy instead of using numpy's global RNG."""
        if random_state is None:
            return np.random.default_rng()
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        return np.random.default_rng(seed)

    def _first_write(self, X, rng):
        """Centers and counts after seeding on, and writing, the first chunk."""
        centers = np.zeros((self.n_clusters, X.shape[1]))
        counts = np.zeros(self.n_clusters)
        return _update(centers, counts, X, self.decay, self.forgetting, rng)

    def _set_labels(self, X):
        d = _sq_distances(X, row_norms(X, squared=True), self.cluster_centers_)
        labels = d.argmin(1)
        self.labels_ = labels.astype(np.int64)
        self.inertia_ = float(d[np.arange(d.shape[0]), labels].sum())

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None) -> "OnlineKMeans":
        """Update the centroids with one chunk of the stream.

        The first call seeds the centroids on the chunk, which needs at least
        ``n_clusters`` rows; after :meth:`fit`, calls continue from the fitted
        model. Invalid input raises ``ValueError`` and leaves the model as it
        was.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The chunk, processed as one write.
        y : Ignored
            Not used, present here for API consistency by convention.

        Returns
        -------
        self : object
            The updated estimator.
        """
        first = not hasattr(self, "cluster_centers_")
        X = self._validated(X, reset=first)
        if first:
            rng = self._rng(self.random_state)
            centers, counts = self._first_write(X, rng)
            n_steps = 1
        else:
            rng = self._rng_
            centers, counts = _update(
                self.cluster_centers_,
                self.counts_,
                X,
                self.decay,
                self.forgetting,
                rng,
            )
            n_steps = self.n_steps_ + 1
        self._rng_ = rng
        self.cluster_centers_, self.counts_, self.n_steps_ = centers, counts, n_steps
        self._set_labels(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None) -> "OnlineKMeans":
        """Fit from scratch by streaming ``X`` in shuffled mini-batches.

        Each of the ``max_iter`` passes writes the rows in a new random order,
        ``batch_size`` at a time; the first batch seeds the centroids. For data
        whose order matters (a stream), call :meth:`partial_fit` on
        consecutive chunks instead.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training rows; at least ``n_clusters`` of them.
        y : Ignored
            Not used, present here for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X = self._validated(X, reset=True)
        rng = self._rng(self.random_state)
        n = X.shape[0]
        batch = max(self.batch_size, self.n_clusters)
        centers = counts = None
        n_steps = 0
        for _ in range(self.max_iter):
            order = rng.permutation(n)
            for start in range(0, n, batch):
                chunk = X[np.sort(order[start : start + batch])]
                if centers is None:  # holds >= n_clusters rows, as batch does
                    centers, counts = self._first_write(chunk, rng)
                else:
                    centers, counts = _update(
                        centers, counts, chunk, self.decay, self.forgetting, rng
                    )
                n_steps += 1
        self._rng_ = rng
        self.cluster_centers_, self.counts_ = centers, counts
        self.n_steps_, self.n_iter_ = n_steps, self.max_iter
        self._set_labels(X)
        return self

    # ------------------------------------------------------------ inference
    def _checked(self, X):
        check_is_fitted(self)
        return validate_data(
            self, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=False
        )

    def predict(self, X) -> np.ndarray:
        """Index of the nearest centroid of each row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Rows to assign.

        Returns
        -------
        labels : ndarray of shape (n_samples,), dtype=int64
            Index of the nearest centroid.
        """
        X = self._checked(X)
        d = _sq_distances(X, row_norms(X, squared=True), self.cluster_centers_)
        return d.argmin(1).astype(np.int64)

    def transform(self, X) -> np.ndarray:
        """Euclidean distance of each row to every centroid.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Rows to transform.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_clusters)
            Distances to the centroids, float64.
        """
        X = self._checked(X)
        return np.sqrt(
            _sq_distances(X, row_norms(X, squared=True), self.cluster_centers_)
        )

    def score(self, X, y=None) -> float:
        """Minus the sum of squared distances of the rows to their nearest centroid.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Rows to score.
        y : Ignored
            Not used, present here for API consistency by convention.

        Returns
        -------
        score : float
            Minus the k-means objective on ``X``, as ``KMeans.score``; higher
            is better.
        """
        X = self._checked(X)
        d = _sq_distances(X, row_norms(X, squared=True), self.cluster_centers_)
        return -float(d.min(1).sum())
