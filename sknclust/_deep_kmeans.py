"""DeepKMeans: joint learning of an autoencoder embedding and k-means centroids."""

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from sknclust._base import BaseDeepClusterer, _private_torch_rng, auto_epochs
from sknclust._graph import modularity_partition
from sknclust._reseed import (
    SETTLE,
    TRIAL,
    merge_plan,
    split_axis,
    starved_pairs,
    view_swap_rate,
)
from sknclust._runs import check_blocks, check_index, on_check_rows
from sknclust.nn import Autoencoder, image_augment, reconstruction_loss


class _DeepKMeansModule(nn.Module):
    """Autoencoder plus one centroid per cluster in its embedding space."""

    def __init__(self, n_features, hidden_dims, embedding_dim, n_clusters, image_shape):
        super().__init__()
        self.autoencoder = Autoencoder(
            n_features, hidden_dims, embedding_dim, image_shape
        )
        self.centroids = nn.Parameter(torch.zeros(n_clusters, embedding_dim))

    def forward(self, x):
        return self.autoencoder(x)

    def sq_distances(self, z):
        """Squared Euclidean distances from embeddings ``z`` to every centroid."""
        centroids = self.centroids.to(z.dtype)
        return (
            (z * z).sum(1, keepdim=True) - 2 * z @ centroids.T + (centroids**2).sum(1)
        ).clamp_min(0)


# Denoising rate of pretraining (DEC's), and when pretraining stops early.
_CORRUPTION = 0.2
_TOL, _N_ITER_NO_CHANGE = 1e-4, 10
# Starting inverse temperature of "soft" and "gumbel", in units of the mean
# squared distance to the nearest centroid after initialisation.
_ALPHA = 1.0
# Lengths of the two phases when not given: (optimiser steps, fewest epochs,
# most epochs), as in BaseDeepClusterer._epochs. Clustering takes as many
# steps as pretraining: on image warps a class split between two centroids
# only stands out once the embedding has learned to ignore the warps, no
# repair is made in the last tenth of the phase, and the embedding needs
# epochs to settle around a repair. Small data sets stop at the most epochs,
# warped or not: the partition comes from the start on the pretrained
# embedding, which further passes over the same rows (or warps of them) no
# longer improve, and their fits stay short.
_PRETRAIN_BUDGET = (5000, 20, 50)
_CLUSTER_BUDGET = (5000, 10, 25)
# Without image warps the clustering phase only fine-tunes the pretrained
# network, so it starts at the learning rate where pretraining's cosine ends. A
# fresh Adam at the full rate moves every weight by about that rate in its
# first steps, whatever the gradient, and can scramble the embedding faster
# than the centroids follow. With warps ("alternating" on images) the phase
# also learns invariance to them, a new task that wants the full rate.
_FINE_TUNE = 0.1
# partial_fit: how many of a stream's first chunks pretrain the autoencoder,
# each as fit would on it, so it learns from more rows than one chunk holds
# and takes about as many steps as fit on the whole (five chunks of 7,000
# MNIST images: 25,000 steps, fit on all 70,000: 22,000); the centroids are
# placed afresh after each.
_STREAM_PRETRAIN_CHUNKS = 5
# partial_fit: every centroid count loses this share of a 1/K share of each
# batch, so a centroid that keeps under a fifth of its share of a stream (as
# starved clusters are defined in fit) loses its weight and is recycled.
_COUNT_DECAY = 0.2
# Neighbours per row in the graph whose parts start the centroids.
_N_NEIGHBORS = 10


class _ClusterState:
    """Training state the losses read: views, loss scales, temperatures and
    the running centroid counts of the online k-means step."""

    def __init__(self, image_shape):
        self.image_shape = image_shape
        self.distance_scale = self.recon_scale = 1.0
        self.alpha = self.tau = 1.0
        self.counts = None
        self.decay = 0.0

    def view(self, x):
        """A random warp of image rows; other rows as they are."""
        if self.image_shape is None:
            return x
        return image_augment(x, self.image_shape)


def _pretrain_loss(module, x, state):
    x = state.view(x)
    noisy = nn.functional.dropout(x, _CORRUPTION)
    return reconstruction_loss(x, module(noisy)[1]).mean()


def _soft_loss(module, x, state, weight):
    z, x_hat = module(x)
    d = module.sq_distances(z) / state.distance_scale
    weights = torch.softmax(-state.alpha * d, dim=1)
    recon = reconstruction_loss(x, x_hat) / state.recon_scale
    return (recon + weight * (weights * d).sum(1)).mean()


def _gumbel_loss(module, x, state, weight):
    z, x_hat = module(x)
    d = module.sq_distances(z) / state.distance_scale
    y = nn.functional.gumbel_softmax(-state.alpha * d, tau=state.tau)
    recon = reconstruction_loss(x, x_hat) / state.recon_scale
    return (recon + weight * (y * d).sum(1)).mean()


def _alternating_loss(module, x, state, weight):
    view = state.view(x)
    z, x_hat = module(view)
    with torch.no_grad():
        # The row itself picks the centroid its view is pulled to (DEC-DA).
        anchor = z if view is x else module.autoencoder.encoder(x)
        labels = module.sq_distances(anchor).argmin(1)
    target = module.centroids[labels]
    d = ((z - target) ** 2).sum(1) / state.distance_scale
    recon = reconstruction_loss(view, x_hat) / state.recon_scale
    loss = (recon + weight * 0.5 * d).mean()
    _update_centroids(module, z.detach(), labels, state.counts, state.decay)
    return loss


def _update_centroids(module, z, labels, counts, decay=0.0):
    """DCN's online k-means step, with per-centroid counts as step sizes.

    With ``decay`` (``partial_fit``) it is the dynamic online k-means of
    Agostinelli et al.: after the step every count loses ``decay * B / K``
    for a batch of B rows, so a centroid that stops receiving points loses
    its weight (and stiffness), and one whose count reaches zero is recycled
    onto the batch row farthest from its centroid, with a count of one.
    """
    k = module.centroids.shape[0]
    batch_counts = torch.bincount(labels, minlength=k).to(z.dtype)
    sums = torch.zeros(k, z.shape[1], dtype=z.dtype, device=z.device)
    sums.index_add_(0, labels, z)
    counts += batch_counts
    hit = batch_counts > 0
    step = (batch_counts[hit] / counts[hit]).unsqueeze(1)
    centroids = module.centroids.data
    means = sums[hit] / batch_counts[hit].unsqueeze(1)
    centroids[hit] = (1 - step) * centroids[hit] + step * means
    if decay > 0:
        counts -= decay * labels.numel() / k
        dead = torch.nonzero(counts <= 0).flatten()
        if dead.numel():
            far = ((z - centroids[labels]) ** 2).sum(1).argsort(descending=True)
            for slot, row in zip(dead.tolist(), far.tolist(), strict=False):
                centroids[slot] = z[row]
                counts[slot] = 1.0


def _start_centers(Z, n_clusters, seed):
    """Starting centroids for embeddings ``Z``: the means of the parts of their
    nearest-neighbour graph, else (too few rows, or fewer parts than
    clusters) k-means' centroids.

    k-means on an autoencoder embedding cuts classes that lie along curved
    manifolds and lands in a different basin from seed to seed; the graph
    follows neighbourhoods instead (the manifold step of N2D).
    """
    index = check_index(len(Z)).numpy()
    if len(index) > 2 * n_clusters:
        points = Z[index]
        parts = modularity_partition(points, n_clusters, _N_NEIGHBORS, seed)
        if len(np.unique(parts)) == n_clusters:
            return np.stack([points[parts == c].mean(0) for c in range(n_clusters)])
    return KMeans(n_clusters, n_init=10, random_state=seed).fit(Z).cluster_centers_


_LOSSES = {"soft": _soft_loss, "alternating": _alternating_loss, "gumbel": _gumbel_loss}


def dkm_alpha_schedule(alpha, n_steps):
    """Inverse temperatures of Deep k-Means: a_{n+1} = 2^(1/log(n+1)^2) a_n."""
    alphas = [float(alpha)]
    for n in range(1, n_steps):
        alphas.append(alphas[-1] * 2 ** (1 / math.log(n + 1) ** 2))
    return alphas


class DeepKMeans(BaseDeepClusterer):
    """Deep k-means clustering: an autoencoder embedding and k-means centroids in it.

    The autoencoder is first pretrained on reconstruction; the parts of its
    embedding's nearest-neighbour graph initialise the centroids; then the
    network and the centroids are trained jointly on reconstruction plus a
    k-means loss in the embedding. The ``strategy`` selects how the
    non-differentiable k-means assignment is handled.

    Read more in the :ref:`User Guide <deep_kmeans>`.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters.
    strategy : {"alternating", "soft", "gumbel"}, default="alternating"
        ``"soft"`` is Deep k-Means (Moradi Fard et al.): a softmax-weighted k-means
        loss whose inverse temperature is annealed. ``"alternating"`` is DCN (Yang
        et al.): hard assignments, network steps with the centroids fixed, and
        online centroid updates between them. ``"gumbel"`` is Concrete k-means: a
        Gumbel-softmax estimate of the k-means loss with an annealed temperature.
    hidden_dims : tuple of int, default=(500, 500, 2000)
        Widths of the MLP encoder's hidden layers (the decoder mirrors them).
    embedding_dim : int, default=10
        Size of the embedding (what :meth:`transform` returns).
    image_shape : tuple of int, default=None
        ``(channels, height, width)`` of flattened image rows. When set, the
        network trains on random warps of the images (shifts, rotations, zooms,
        intensity), as DEC-DA does: in the clustering phase the warped view is
        reconstructed and its embedding pulled towards the centroid of the
        image it came from (``"alternating"`` only).
    cluster_weight : float, default=1.0
        Weight λ of the k-means term against reconstruction. Both terms are
        divided by their value when the clustering phase starts, so λ=1 weighs
        them equally whatever the data dimension and embedding scale.
    batch_size : int or None, default=None
        Mini-batch size. ``None`` uses 64 with ``image_shape`` and 256 (the
        batch of DEC and DCN) otherwise: every step on image warps sees new
        views, and smaller batches give more of them for the same computation,
        while without views more, smaller steps only fit the same rows harder.
    learning_rate : float, default=1e-3
        Adam learning rate of pretraining, which decays along a cosine to a
        tenth of it. The clustering phase of :meth:`fit` starts from that
        tenth (fine-tuning) and decays to a hundredth; when it trains on
        image warps (``image_shape`` with ``"alternating"``) it starts from
        ``learning_rate`` again.
    pretrain_epochs : int or None, default=None
        Epochs of denoising-autoencoder pretraining (0 skips it); it stops
        early once the loss stalls. ``None`` takes about 5,000 optimiser
        steps, within 20 to 50 epochs.
        :meth:`partial_fit` pretrains in the same way on each of a stream's
        first five chunks.
    max_epochs : int or None, default=None
        Epochs of the joint clustering phase. ``None`` takes about 5,000
        optimiser steps, within 10 to 25 epochs.
    device : str, default="auto"
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``
        or ``"mps"``.
    random_state : int, RandomState instance or None, default=None
        Seeds weights, shuffling, noise and the initialisation of the
        centroids. The global numpy and torch RNGs are left untouched.
    verbose : int, default=0
        Print a progress bar per phase and a per-epoch log.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, embedding_dim)
        Centroids in the embedding space.
    labels_ : ndarray of shape (n_samples,), dtype=int64
        Cluster of each training sample; every cluster is populated. After
        :meth:`partial_fit`, the clusters of the last chunk.
    n_iter_ : int
        Epochs run in the clustering phase.
    history_ : dict of list of dict
        Per-epoch training loss and duration, by phase (``"pretrain"``,
        ``"cluster"``).
    n_steps_ : int
        Optimiser steps taken, by :meth:`fit` (its kept run) and any
        :meth:`partial_fit` calls after it.
    device_ : str
        Device the network lives on.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    sklearn.cluster.KMeans : Classical k-means on the raw features.

    Notes
    -----
    :meth:`score` is minus the mean per-sample objective with hard assignments,
    in scale-free units: the squared reconstruction error divided by the total
    variance of the (internally scaled) training data, plus λ times the squared
    distance to the nearest centroid divided by the total variance of the
    training embedding. Both terms are fractions of unexplained variance, so
    models with different architectures compare; models with different
    ``cluster_weight`` do not. With ground-truth labels, prefer
    ``scoring="adjusted_rand_score"``.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from sknclust import DeepKMeans
    >>> X, _ = make_blobs(n_samples=200, centers=3, random_state=0)
    >>> dkm = DeepKMeans(n_clusters=3, hidden_dims=(32,), pretrain_epochs=20,
    ...                  max_epochs=20, random_state=0).fit(X)
    >>> dkm.labels_.shape
    (200,)
    >>> dkm.transform(X[:2]).shape
    (2, 10)
    """

    _parameter_constraints: dict = {
        **BaseDeepClusterer._parameter_constraints,
        "strategy": [StrOptions({"soft", "alternating", "gumbel"})],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "cluster_weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        strategy: str = "alternating",
        hidden_dims: tuple[int, ...] = (500, 500, 2000),
        embedding_dim: int = 10,
        image_shape: tuple[int, ...] | None = None,
        cluster_weight: float = 1.0,
        batch_size: int | None = None,
        learning_rate: float = 1e-3,
        pretrain_epochs: int | None = None,
        max_epochs: int | None = None,
        device: str = "auto",
        random_state=None,
        verbose: int = 0,
    ):
        super().__init__(
            n_clusters,
            hidden_dims=hidden_dims,
            embedding_dim=embedding_dim,
            image_shape=image_shape,
            batch_size=batch_size,
            learning_rate=learning_rate,
            max_epochs=max_epochs,
            device=device,
            random_state=random_state,
            verbose=verbose,
        )
        self.strategy = strategy
        self.cluster_weight = cluster_weight
        self.pretrain_epochs = pretrain_epochs

    def _build_module(self, n_features):
        return _DeepKMeansModule(
            n_features,
            self.hidden_dims,
            self.embedding_dim,
            self.n_clusters,
            self._conv_shape,
        )

    # The clustering phase's length when max_epochs is None.
    _STEPS, _MIN_EPOCHS, _MAX_EPOCHS = _CLUSTER_BUDGET

    def _warped_clustering(self):
        """Whether the clustering phase trains on image warps."""
        return self._image_shape is not None and self.strategy == "alternating"

    def _batch_size(self):
        if self.batch_size is not None:
            return self.batch_size
        return 64 if self.image_shape is not None else 256

    # -------------------------------------------------------------- schedule
    def _fit_schedule(self, training_set, rng):
        module = self.module_
        module.centroids.requires_grad_(False)
        state = _ClusterState(self._image_shape)
        self._pretrain(training_set, rng, state, online=False)

        epochs = self._epochs(training_set)
        alphas = dkm_alpha_schedule(_ALPHA, epochs)
        taus = np.geomspace(1.0, 0.1, epochs)

        def anneal(epoch):
            state.alpha = alphas[min(epoch, epochs - 1)]
            state.tau = taus[min(epoch, epochs - 1)]

        last_check = epochs - math.ceil(TRIAL * epochs)
        settled_from = 0  # first epoch whose end may look for a split class

        def end_epoch(epoch):
            nonlocal settled_from
            with torch.no_grad():
                z = on_check_rows(training_set, module.autoencoder.encoder)
            if self._reseed_starved(z, state) or (
                settled_from <= epoch < last_check
                and self._repair_split(training_set, z, state)
            ):
                settled_from = epoch + 1 + SETTLE

        self._cluster(training_set, state, epochs, anneal, on_epoch_end=end_epoch)

    def _cluster(self, training_set, state, epochs, anneal, *, done=0, **kw):
        """The clustering phase: ``epochs`` of the strategy's loss, with
        ``anneal(epoch)`` setting the temperatures at each epoch's start, then
        the fitted centroids and scales. ``done`` clustering epochs came
        before it (earlier chunks of a stream); ``kw`` goes to ``_train``."""
        module = self.module_
        anneal(0)
        loss = _LOSSES[self.strategy]
        module.centroids.requires_grad_(self.strategy != "alternating")
        self._train(
            "cluster",
            lambda module, x, index: loss(module, x, state, self.cluster_weight),
            training_set,
            epochs=epochs,
            learning_rate=self._cluster_learning_rate(),
            on_epoch_begin=anneal,
            **kw,
        )
        module.centroids.requires_grad_(False)
        self.n_iter_ = len(self.history_["cluster"])
        self._final_alpha = state.alpha
        self._keep_state(state, cluster_epochs=done + epochs)
        self._score_scales(training_set)

    def _cluster_learning_rate(self):
        """The clustering phase's starting rate: the full one when it trains
        on image warps, else a tenth (fine-tuning)."""
        if self._warped_clustering():
            return self.learning_rate
        return _FINE_TUNE * self.learning_rate

    def _keep_state(self, state, cluster_epochs):
        """Fitted centroids and scales, and what partial_fit continues from."""
        self._distance_scale = state.distance_scale
        self.cluster_centers_ = self.module_.centroids.detach().cpu().numpy().copy()
        self._stream.extra.update(
            counts=state.counts.cpu().numpy(),
            distance_scale=state.distance_scale,
            recon_scale=state.recon_scale,
            cluster_epochs=cluster_epochs,
        )

    def _partial_fit_chunk(self, training_set, rng, first):
        module = self.module_
        extra = self._stream.extra
        state = _ClusterState(self._image_shape)
        module.centroids.requires_grad_(False)
        if "counts" not in extra:
            # The stream's first chunk (after fit, "counts" exists and none
            # pretrains).
            extra["cluster_epochs"] = 0
            extra["pretrain_chunks_left"] = _STREAM_PRETRAIN_CHUNKS
        if (
            extra.get("pretrain_chunks_left", 0) > 0
            and training_set.n_samples >= self.n_clusters
        ):
            # Each of the first chunks pretrains and initialises on it, as fit
            # does; one with fewer rows than clusters (too small to place them;
            # never the first, which partial_fit checks) is only clustered.
            self._pretrain(training_set, rng, state, online=True)
            extra["pretrain_chunks_left"] -= 1
        else:
            state.distance_scale = extra["distance_scale"]
            state.recon_scale = extra["recon_scale"]
            state.counts = torch.as_tensor(
                extra["counts"], device=module.centroids.device
            )
        state.decay = _COUNT_DECAY
        done, epochs = extra["cluster_epochs"], self._partial_epochs()
        alphas = dkm_alpha_schedule(_ALPHA, done + epochs)

        def anneal(epoch):
            # tau falls from 1 to 0.1 over the fewest clustering epochs of a fit.
            state.alpha = alphas[done + epoch]
            state.tau = 0.1 ** min((done + epoch) / (_CLUSTER_BUDGET[1] - 1), 1.0)

        self._cluster(training_set, state, epochs, anneal, done=done, online=True)

    def _pretrain(self, training_set, rng, state, *, online, epochs=None):
        """Denoising-autoencoder pretraining, then centroids from the embedding.

        ``epochs`` defaults to ``pretrain_epochs``, else to the step budget.
        """
        if epochs is None:
            epochs = self.pretrain_epochs
        if epochs is None:
            epochs = auto_epochs(training_set.n_batches, *_PRETRAIN_BUDGET)
        if epochs:
            self._train(
                "pretrain",
                lambda module, x, index: _pretrain_loss(module, x, state),
                training_set,
                epochs=epochs,
                stop_after=(_TOL, _N_ITER_NO_CHANGE),
                online=online,
                # Pretraining is a whole phase on its chunk, as in fit: a
                # constant rate leaves a noisier embedding for k-means.
                decay=True,
            )
        self._init_centroids(training_set, rng, state)

    def _reseed_starved(self, z, state):
        """Move each starved centroid to one half of the largest cluster.

        As k-means relocates an empty centroid: a centroid left with under a
        fifth of its 1/K share of the check rows (embeddings ``z``) takes the
        mean of one two-means half of the largest cluster, whose centroid
        takes the other. Returns whether it moved one.
        """
        module = self.module_
        with torch.no_grad():
            labels = module.sq_distances(z).argmin(1)
            pairs = starved_pairs(labels, self.n_clusters)
            for k, j in pairs:
                self._split_into(z, labels, k, j, state)
                if self.verbose:
                    print(f"centroid {k} re-seeded from half of cluster {j}")
        return bool(pairs)

    def _split_into(self, z, labels, k, j, state):
        """Centroids ``k`` and ``j`` take the two-means halves of cluster
        ``j`` (embeddings ``z``), and share its count."""
        centroids = self.module_.centroids
        members = z[labels == j]
        _, _, side = split_axis(members)
        centroids[k] = members[side].mean(0)
        centroids[j] = members[~side].mean(0)
        state.counts[k] = state.counts[j] = state.counts[j] / 2

    def _repair_split(self, training_set, z, state):
        """Merge two clusters that hold one class, and split the largest other.

        Only with image warps, which keep a row's class. A class split
        between two centroids leaves two other classes to share one, and
        k-means' own steps do not undo it: no centroid is starved. The two
        halves give themselves away as warps of a row cross the arbitrary
        boundary between them far more often than one between two classes
        (:func:`~sknclust._reseed.redundant_pair`). The smaller half's
        centroid joins the other at their common mean and re-seeds with one
        two-means half of the largest other cluster, as a starved centroid
        does. ``z`` holds the embeddings of the check rows. Returns whether
        it did.
        """
        if (
            self._image_shape is None
            or self.strategy != "alternating"
            or self.n_clusters < 3  # no third cluster to split, or to compare with
        ):
            return False
        module, n_clusters = self.module_, self.n_clusters
        encoder = module.autoencoder.encoder
        with torch.no_grad():
            labels = module.sq_distances(z).argmin(1)
            # The warps come from a fork of the RNG: checks that find nothing
            # leave training's random stream as it was.
            with _private_torch_rng(0, torch.device(self.device_)):
                z_view = torch.cat(
                    [encoder(state.view(x)) for x, _ in check_blocks(training_set)]
                )
            view_labels = module.sq_distances(z_view).argmin(1)
            rate = view_swap_rate(labels, view_labels, n_clusters)
            plan = merge_plan(rate, labels, n_clusters)
            if plan is None:
                return False
            k, partner, j = plan
            union = (labels == k) | (labels == partner)
            module.centroids[partner] = z[union].mean(0)
            state.counts[partner] += state.counts[k]
            self._split_into(z, labels, k, j, state)
        if self.verbose:
            share = torch.bincount(labels, minlength=n_clusters) / len(labels)
            print(
                f"clusters {k} and {partner} swap {rate[k, partner]:.1%} of "
                f"their warps: {k} ({share[k]:.1%}) joins {partner}, and half "
                f"of cluster {j} ({share[j]:.1%}) re-seeds it"
            )
        return True

    def _score_scales(self, training_set):
        """Total variances of the scaled data and of its embedding, for score."""
        rows, embeddings = [], []
        with torch.no_grad():
            for x, _ in training_set.all_batches():
                rows.append(x)
                embeddings.append(self.module_.autoencoder.encoder(x))
        spread = [
            float(torch.cat(t).var(0, correction=0).sum()) for t in (rows, embeddings)
        ]
        self._data_variance, self._embedding_variance = (max(v, 1e-12) for v in spread)

    def _init_centroids(self, training_set, rng, state):
        """Centroids from the pretrained embedding; sets them and the loss scales.

        The centroids start at the means of the parts of the embedding's
        nearest-neighbour graph (:func:`~sknclust._graph.modularity_partition`
        on the check rows), or k-means' centroids where the graph gives no
        partition into ``n_clusters`` parts (see :func:`_start_centers`).
        Every row then counts for its nearest centroid.
        """
        module = self.module_
        embeddings, errors = [], []
        with torch.no_grad():
            for x, _ in training_set.all_batches():
                z, x_hat = module(x)
                embeddings.append(z)
                errors.append(reconstruction_loss(x, x_hat))
        Z = torch.cat(embeddings).cpu().numpy().astype(np.float64)
        recon = float(torch.cat(errors).mean())
        centers = _start_centers(Z, self.n_clusters, rng.randint(2**31 - 1))
        with torch.no_grad():
            module.centroids.copy_(torch.as_tensor(centers))
        sq = (Z**2).sum(1, keepdims=True) - 2 * Z @ centers.T + (centers**2).sum(1)
        nearest = sq.argmin(1)
        state.distance_scale = max(float(sq.min(1).clip(0).mean()), 1e-12)
        state.recon_scale = max(recon, 1e-12)
        state.counts = torch.as_tensor(
            np.bincount(nearest, minlength=self.n_clusters),
            dtype=torch.float32,
            device=module.centroids.device,
        )

    # ------------------------------------------------------------- inference
    def _embed(self, module, rows):
        return module.autoencoder.encoder(rows)

    def _cluster_scores(self, module, rows):
        d = module.sq_distances(self._embed(module, rows)) / self._distance_scale
        return -self._final_alpha * d

    def _score_samples(self, module, rows):
        # Scale-free, so models with other architectures or embedding scales
        # compare: each term is a fraction of the training data's variance.
        z, x_hat = module(rows)
        d = module.sq_distances(z).min(1).values / self._embedding_variance
        recon = reconstruction_loss(rows, x_hat) / self._data_variance
        return -(recon + self.cluster_weight * d)
