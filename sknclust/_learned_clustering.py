"""LearnedClustering: a set network that learns to cluster from labelled sets."""

import copy
import math
import warnings
import zlib
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import ClassifierTags
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn
from torch.nn import functional as F

from sknclust._base import (
    TorchStateMixin,
    _denormals_flushed,
    _private_torch_rng,
    assign_populated,
    check_network_shape,
    torch_seed,
    validate_rows,
)
from sknclust._data import TrainingSet, fit_scaling, iter_scaled, resolve_scaler
from sknclust._device import resolve_device
from sknclust._engine import run_phase
from sknclust.nn import ConvDecoder, ConvEncoder, mlp

# Width, heads and depth of the set network (the transformer over the items).
_WIDTH = 64
_HEADS = 4
_LAYERS = 2
# Channels of the convolutional item encoder (image rows).
_CHANNELS = (16, 32, 64)
# Weight of the items' reconstruction error in the loss.
_RECONSTRUCTION = 1.0
# Share of training sets whose classes may be blends of two training classes.
_MIXED_SETS = 0.5
# Sets per optimiser step, and optimiser steps per engine epoch.
_SETS_PER_BATCH = 16
_BATCHES_PER_EPOCH = 50
# Concentration of the Dirichlet draw that splits a set among its classes:
# at 2, classes of a set differ in size but rarely vanish.
_CLASS_SPLIT = 2.0
# Rows per batch when the item encoder runs at inference.
_ENCODE_BATCH = 1024
# Weight of the pairwise term under the true number of classes.
_TRUE_K_WEIGHT = 1.0
# Probability clip of the pairwise cross-entropy.
_EPS = 1e-6


# One configuration for the set encoder's and the slot decoder's layers.
_LAYER = dict(
    d_model=_WIDTH,
    nhead=_HEADS,
    dim_feedforward=2 * _WIDTH,
    dropout=0.0,
    batch_first=True,
    norm_first=True,
)


class _SetClusterNet(nn.Module):
    """Item encoder, set transformer, cluster-count head and per-k slot heads.

    ``embed`` maps rows to item embeddings; ``cluster`` maps sets of item
    embeddings ``(n_sets, n_items, embedding_dim)`` to the cluster-count logits
    ``(n_sets, max_clusters)`` and, for each k, the assignment logits
    ``(n_sets, n_items, k)``. Each k owns k learned slot queries; a
    transformer decoder lets them attend to the items (and to each other), and
    an item's logit for a slot is the scaled dot product of the two. Without
    positional encodings every output is equivariant to the order of the items.
    """

    def __init__(self, n_features, hidden_dims, embedding_dim, image_shape, max_k):
        super().__init__()
        if image_shape is None:
            self.encoder = mlp([n_features, *hidden_dims, embedding_dim])
            self.decoder = mlp([embedding_dim, *reversed(hidden_dims), n_features])
        else:
            self.encoder = ConvEncoder(image_shape, embedding_dim, channels=_CHANNELS)
            self.decoder = ConvDecoder(image_shape, embedding_dim, channels=_CHANNELS)
        self.max_k = max_k
        self.project = nn.Linear(embedding_dim, _WIDTH)
        self.items = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(**_LAYER),
            _LAYERS,
            norm=nn.LayerNorm(_WIDTH),
            enable_nested_tensor=False,
        )
        self.count = mlp([2 * _WIDTH, _WIDTH, max_k])
        n_slots = max_k * (max_k + 1) // 2
        self.seeds = nn.Parameter(torch.randn(n_slots, _WIDTH))
        self.slots = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(**_LAYER),
            _LAYERS,
            norm=nn.LayerNorm(_WIDTH),
        )
        self.item_key = nn.Linear(_WIDTH, _WIDTH)
        self.slot_key = nn.Linear(_WIDTH, _WIDTH)
        # Slots of one k attend only to each other; -inf elsewhere.
        group = torch.repeat_interleave(torch.arange(max_k), torch.arange(1, max_k + 1))
        mask = torch.zeros(n_slots, n_slots)
        mask[group[:, None] != group[None, :]] = -math.inf
        self.register_buffer("slot_mask", mask)

    def embed(self, x):
        return self.encoder(x)

    def cluster(self, z):
        # Each set is centred on its mean and scaled to a unit mean squared
        # norm: where a set lies and how far it spreads depend on its classes,
        # and classes never seen in training lie and spread otherwise. How to
        # group a set is in its shape.
        z = z - z.mean(1, keepdim=True)
        spread = z.square().sum(2).mean(1).clamp_min(1e-12).sqrt()
        z = z / spread[:, None, None]
        h = self.items(self.project(z))
        pooled = torch.cat([h.mean(1), h.amax(1)], dim=1)
        count_logits = self.count(pooled)
        seeds = self.seeds.to(h.dtype).expand(h.shape[0], -1, -1)
        slots = self.slots(seeds, h, tgt_mask=self.slot_mask.to(h.dtype))
        logits = self.item_key(h) @ self.slot_key(slots).transpose(1, 2)
        logits = logits / math.sqrt(_WIDTH)
        bounds = np.cumsum([0, *range(1, self.max_k + 1)])
        per_k = [
            logits[..., bounds[k - 1] : bounds[k]] for k in range(1, self.max_k + 1)
        ]
        return count_logits, per_k

    def forward(self, x):
        n_sets, n_items = x.shape[:2]
        flat = x.reshape(n_sets * n_items, -1)
        z = self.embed(flat)
        reconstruction_error = (self.decoder(z) - flat).square().mean()
        return (*self.cluster(z.reshape(n_sets, n_items, -1)), reconstruction_error)


def _pair_loss(same, target, off_diagonal):
    """Weighted binary cross-entropy of P(same) against "same class", per set.

    Positive and negative pairs weigh half each (all of it when a set has one
    class); the diagonal is left out.
    """
    same = same.clamp(_EPS, 1 - _EPS)
    pos = target * off_diagonal
    neg = (1 - target) * off_diagonal
    n_pos = pos.sum((1, 2), keepdim=True)
    n_neg = neg.sum((1, 2), keepdim=True)
    share = torch.where(n_neg > 0, 0.5, 1.0)
    weights = share * pos / n_pos.clamp_min(1) + (1 - share) * neg / n_neg.clamp_min(1)
    log_likelihood = target * same.log() + (1 - target) * (1 - same).log()
    return -(weights * log_likelihood).sum((1, 2))


def _set_loss(module, rows, labels):
    """Pairwise same-cluster cross-entropy plus cross-entropy on the count.

    ``labels`` holds each item's class within its set, ``(n_sets, n_items)``.
    P(same) of items i and j is the sum over k of P(k) times the probability
    that both fall in the same of k clusters. A second pairwise term scores
    the assignments under the set's true number of classes alone, so that each
    k's head learns from every set of k classes whatever P(k) says.
    """
    count_logits, per_k, reconstruction_error = module(rows)
    pk = torch.softmax(count_logits, dim=1)
    n_classes = (labels.max(1).values + 1).clamp(max=module.max_k)
    target = (labels[:, :, None] == labels[:, None, :]).to(pk.dtype)
    off_diagonal = 1 - torch.eye(labels.shape[1], dtype=pk.dtype, device=pk.device)
    same = 0.0
    same_true = torch.zeros_like(target)
    for k, logits in enumerate(per_k, start=1):
        p = torch.softmax(logits, dim=2)
        agree = p @ p.transpose(1, 2)
        same = same + pk[:, k - 1, None, None] * agree
        same_true = torch.where((n_classes == k)[:, None, None], agree, same_true)
    loss = _pair_loss(same, target, off_diagonal)
    if _TRUE_K_WEIGHT:
        loss = loss + _TRUE_K_WEIGHT * _pair_loss(same_true, target, off_diagonal)
    count_loss = F.cross_entropy(count_logits, n_classes - 1, reduction="none")
    return (loss + count_loss).mean() + _RECONSTRUCTION * reconstruction_error


def _class_counts(n_items, n_classes, rng):
    """Split ``n_items`` among ``n_classes``, each getting at least one."""
    shares = rng.dirichlet(np.full(n_classes, _CLASS_SPLIT))
    return 1 + rng.multinomial(n_items - n_classes, shares)


class _SetSampler:
    """Batches of random labelled sets drawn from the training rows.

    Each batch holds ``_SETS_PER_BATCH`` sets of one size, drawn uniformly from
    ``set_size``; each set draws its number of classes uniformly from 1 to
    ``max_clusters`` (at most the number of training classes and the set
    size), the classes themselves, the split of the set among them, and the
    rows of each class (with replacement only when a class has too few).
    In a share ``_MIXED_SETS`` of the sets, the classes are drawn from all
    pairs of training classes: a pair of two classes is a blended class whose
    rows mix one row of each with a weight drawn per class. Items of a set are
    yielded grouped by class: the network cannot see order.
    Iterating yields one engine epoch of ``(rows, labels)`` batches.
    """

    def __init__(self, rows, classes, max_k, set_size, n_batches, seed):
        self.rows = rows
        self.by_class = [np.flatnonzero(classes == c) for c in np.unique(classes)]
        self.max_k = max_k
        self.set_size = set_size
        self.n_batches = n_batches
        self.batch_size = _SETS_PER_BATCH
        self.mixing = _MIXED_SETS
        self.rng = np.random.RandomState(seed)

    def __len__(self):
        return self.n_batches * self.batch_size

    def draw(self):
        rng = self.rng
        n_items = rng.randint(self.set_size[0], self.set_size[1] + 1)
        shape = (self.batch_size, n_items)
        index, partner = np.empty(shape, dtype=np.int64), np.empty(shape, np.int64)
        labels, weight = np.empty(shape, dtype=np.int64), np.ones(shape)
        n_classes = len(self.by_class)
        pairs = [(a, b) for a in range(n_classes) for b in range(a, n_classes)]
        for s in range(self.batch_size):
            ids = (
                pairs
                if rng.rand() < _MIXED_SETS
                else [(a, a) for a in range(n_classes)]
            )
            k = rng.randint(1, min(self.max_k, len(ids), n_items) + 1)
            counts = _class_counts(n_items, k, rng)
            labels[s] = np.repeat(np.arange(k), counts)
            firsts, seconds, weights = [], [], []
            for i, m in zip(
                rng.choice(len(ids), k, replace=False), counts, strict=True
            ):
                a, b = ids[i]
                firsts.append(self._rows_of(a, m))
                seconds.append(self._rows_of(b, m))
                weights.append(np.full(m, 1.0 if a == b else rng.uniform(0.4, 0.6)))
            index[s], partner[s] = np.concatenate(firsts), np.concatenate(seconds)
            weight[s] = np.concatenate(weights)
        rows = self.rows.rows(index.ravel()).reshape(*shape, -1)
        if self.mixing:
            others = self.rows.rows(partner.ravel()).reshape(*shape, -1)
            w = torch.as_tensor(weight[..., None], dtype=rows.dtype, device=rows.device)
            rows = w * rows + (1 - w) * others
        return rows, torch.as_tensor(labels, device=rows.device)

    def _rows_of(self, c, m):
        """``m`` random training rows of class ``c``."""
        members = self.by_class[c]
        return self.rng.choice(members, m, replace=m > members.size)

    def __iter__(self):
        for _ in range(self.n_batches):
            yield self.draw()


class LearnedClustering(
    TorchStateMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Clustering learned from labelled examples, applied to sets of new data.

    Every other estimator is told how many clusters to find and learns them
    from the data it clusters. This one learns *how to cluster*: ``fit(X, y)``
    draws many random sets from labelled rows, each with 1 to ``max_clusters``
    classes, and trains a set network to group each set by class and to say
    how many classes it holds. :meth:`predict` then clusters a new set of rows
    (from classes never seen in training, as long as they are of the same
    kind) in one forward pass, choosing the number of clusters itself. After
    Meier et al., "Learning Neural Models for End-to-End Clustering" (2018).

    Read more in the :ref:`User Guide <learned_clustering>`.

    Parameters
    ----------
    max_clusters : int, default=5
        Largest number of clusters in a set: the training sets hold 1 to
        ``max_clusters`` classes (at most the number of classes in ``y``) and a
        set of up to ``set_size[1]`` rows gets 1 to ``max_clusters`` clusters.
        Larger sets, clustered in chunks, can get up to ``max_clusters`` too.
    n_clusters : int, default=None
        Number of clusters to split every set into, when it is known. By
        default the network estimates it for each set (the most probable k
        of :meth:`predict_n_clusters_proba`). Must not exceed
        ``max_clusters`` or the number of rows of a set. Used only at
        prediction, so it can be changed after ``fit``.
    hidden_dims : tuple of int, default=(256, 256)
        Widths of the item encoder's hidden layers. Ignored with
        ``image_shape``.
    embedding_dim : int, default=64
        Size of the item embedding (what :meth:`transform` returns).
    image_shape : tuple of int, default=None
        ``(channels, height, width)`` of flattened image rows. When set, a
        small convolutional network encodes the items instead of the MLP.
    set_size : tuple of int, default=(20, 200)
        Smallest and largest number of rows of a training set. Sets larger
        than ``set_size[1]`` are clustered in chunks of at most that size
        whose clusters are then merged.
    n_sets : int, default=20000
        Number of random sets drawn during training (16 per optimiser step).
    learning_rate : float, default=1e-3
        Adam learning rate (with a cosine decay to a tenth).
    device : str, default="auto"
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``
        or ``"mps"``.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights and the training sets. The global numpy and torch
        RNGs are left untouched.
    verbose : int, default=0
        Print a progress bar and a per-epoch log.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``. Sets at prediction time may hold others.
    history_ : dict of list of dict
        Per-epoch training loss and duration, under ``"sets"``.
    device_ : str
        Device the network lives on.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    sklearn.cluster.HDBSCAN : Density-based clustering that also chooses the
        number of clusters, without training.

    Notes
    -----
    The network embeds each row with an MLP (or a convolutional encoder),
    centres each set's embeddings on their mean and scales them to a unit
    mean squared norm, lets the items of a set attend to each other through
    a transformer encoder without positional encoding, and outputs a
    distribution :math:`P(k)` over :math:`k = 1, \\dots, K` (from the pooled
    items) and, for every k, a softmax :math:`p_i^{(k)}` of each item over k
    clusters (from k learned slot queries that attend to the items). Training
    minimises, per set,

    .. math::

        \\operatorname{BCE}_w(s, y)
        + \\operatorname{BCE}_w\\bigl(\\langle p_i^{(k^\\ast)},
        p_j^{(k^\\ast)} \\rangle, y\\bigr) - \\log P(k^\\ast) + \\lVert
        \\hat x - x \\rVert^2,
        \\qquad s_{ij} = \\sum_k P(k)\\, \\langle p_i^{(k)}, p_j^{(k)} \\rangle,

    where :math:`y_{ij}` says whether items i and j share a class,
    :math:`k^\\ast` is the set's number of classes, :math:`\\operatorname{BCE}_w`
    is the binary cross-entropy over the pairs, weighted so that positive and
    negative pairs carry half of it each, and the last term (the mean squared
    error of a decoder that reconstructs each row from its embedding) keeps
    the embedding informative about rows of other classes. Half of the
    training sets may also hold blends of two training classes (rows
    :math:`\\lambda x_a + (1 - \\lambda) x_b`, λ between 0.4 and 0.6) as
    further classes.

    :meth:`predict` takes :math:`\\hat k = \\arg\\max_k P(k)` (with
    :math:`k \\le` the number of rows), or ``n_clusters`` when it is given,
    and each row's most probable of the
    :math:`\\hat k` clusters, raising a cluster's prior where needed so that
    every cluster holds a row. Nothing about a predicted set is stored.

    There is no ``fit_predict``: ``fit`` learns from labelled classes, and
    the sets to cluster are meant to hold other ones.

    Examples
    --------
    >>> import numpy as np
    >>> from sknclust import LearnedClustering
    >>> rng = np.random.RandomState(0)
    >>> centres = rng.uniform(-10, 10, size=(40, 2))
    >>> y = np.repeat(np.arange(40), 25)
    >>> X = centres[y] + rng.normal(scale=0.5, size=(1000, 2))
    >>> model = LearnedClustering(max_clusters=3, hidden_dims=(16,),
    ...                           embedding_dim=8, set_size=(8, 24),
    ...                           n_sets=320, random_state=0).fit(X, y)
    >>> new = np.array([[30.0, 30.0], [30.2, 29.9], [-30.0, 30.0], [-30.1, 30.2]])
    >>> model.predict(new).shape
    (4,)
    >>> model.predict_n_clusters_proba(new).shape
    (3,)
    >>> model.transform(new).shape
    (4, 8)
    """

    _parameter_constraints: dict = {
        "max_clusters": [Interval(Integral, 1, None, closed="left")],
        "n_clusters": [Interval(Integral, 1, None, closed="left"), None],
        "hidden_dims": [tuple],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "image_shape": [tuple, None],
        "set_size": [tuple],
        "n_sets": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        max_clusters: int = 5,
        *,
        n_clusters: int | None = None,
        hidden_dims: tuple[int, ...] = (256, 256),
        embedding_dim: int = 64,
        image_shape: tuple[int, ...] | None = None,
        set_size: tuple[int, int] = (20, 200),
        n_sets: int = 20000,
        learning_rate: float = 1e-3,
        device: str = "auto",
        random_state=None,
        verbose: int = 0,
    ):
        self.max_clusters = max_clusters
        self.n_clusters = n_clusters
        self.hidden_dims = hidden_dims
        self.embedding_dim = embedding_dim
        self.image_shape = image_shape
        self.set_size = set_size
        self.n_sets = n_sets
        self.learning_rate = learning_rate
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------ validation
    def _check_params(self, n_features):
        size = self.set_size
        if not (
            len(size) == 2
            and all(isinstance(s, Integral) for s in size)
            and 1 <= size[0] <= size[1]
        ):
            raise ValueError(
                "set_size must be a tuple (smallest, largest) of positive integers "
                f"with smallest <= largest, got {size!r}."
            )
        self._check_n_clusters()
        if size[1] <= 2 * self.max_clusters:
            raise ValueError(
                f"set_size[1]={size[1]} must exceed 2 * max_clusters="
                f"{2 * self.max_clusters}: larger sets are clustered in chunks of "
                "set_size[1] rows whose clusters must be fewer than their rows."
            )
        return check_network_shape(self.hidden_dims, self.image_shape, n_features)

    def _check_n_clusters(self, n_rows=None):
        k = self.n_clusters
        if k is None:
            return
        if k > self.max_clusters:
            raise ValueError(
                f"n_clusters={k} exceeds max_clusters={self.max_clusters}: the "
                "network has assignment heads for 1 to max_clusters clusters only."
            )
        if n_rows is not None and k > n_rows:
            raise ValueError(
                f"n_clusters={k} exceeds the {n_rows} rows of the set to cluster."
            )

    def _validate_X(self, X, reset):
        return validate_rows(self, X, reset)

    # ------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn to cluster from random sets of the labelled rows ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training rows. Sparse input is densified one set at a time.
        y : array-like of shape (n_samples,)
            Class of each training row. The sets to cluster later may hold
            other classes, of the same kind.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None. It learns how to cluster from labelled examples: pass "
                "the class of each training row as y (the sets clustered later "
                "may hold other classes)."
            )
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            ensure_min_samples=2,
        )
        check_classification_targets(y)
        self.classes_, classes = np.unique(y, return_inverse=True)
        image_shape = self._check_params(X.shape[1])
        device = resolve_device(self.device)
        seed = torch_seed(self.random_state)

        self._scaling = resolve_scaler(X, image_shape)
        self._offset, self._scale = fit_scaling(X, self._scaling)
        rows = TrainingSet(
            X, self._offset, self._scale, device=device, batch_size=1, seed=seed
        )
        n_batches = math.ceil(self.n_sets / _SETS_PER_BATCH)
        epochs = math.ceil(n_batches / _BATCHES_PER_EPOCH)
        sampler = _SetSampler(
            rows,
            classes,
            self.max_clusters,
            tuple(self.set_size),
            math.ceil(n_batches / epochs),
            seed,
        )
        self.device_ = str(device)
        with _private_torch_rng(seed, device), _denormals_flushed():
            self.module_ = _SetClusterNet(
                X.shape[1],
                self.hidden_dims,
                self.embedding_dim,
                image_shape,
                self.max_clusters,
            ).to(device)
            history = run_phase(
                "sets",
                self.module_,
                _set_loss,
                sampler,
                epochs=epochs,
                learning_rate=self.learning_rate,
                device=self.device_,
                early_stopping=False,
                verbose=self.verbose,
            )
        self.module_.eval()
        self.history_ = {"sets": history}
        self._n_features_out = self.embedding_dim
        return self

    # ------------------------------------------------------------- inference
    def _inference_module(self, X):
        module = self.module_
        if X.dtype == np.float64:
            module = copy.deepcopy(module).to(torch.float64)
        return module

    def _embed_rows(self, module, X):
        """Item embeddings of validated ``X``, batch by batch, as one tensor."""
        param = next(module.parameters())
        return torch.cat(
            [
                module.embed(rows)
                for rows in iter_scaled(
                    X,
                    self._offset,
                    self._scale,
                    dtype=param.dtype,
                    device=param.device,
                    batch_size=_ENCODE_BATCH,
                )
            ]
        )

    def _partition(self, module, z, keys=None):
        """Cluster the item embeddings ``z`` as one set.

        Returns ``(labels, log P(k), proba)``. A set of more than
        ``set_size[1]`` items is split into chunks of at most that size, in
        the order of ``keys`` (a checksum of each item's content, so that the
        chunks do not depend on the order of the rows); each chunk is
        clustered, and the mean embeddings of the chunks' clusters are
        clustered in turn (recursively) to merge them. P(k) is then that of
        the merge.
        """
        n_items = z.shape[0]
        largest = self.set_size[1]
        if n_items <= largest:
            count_logits, per_k = module.cluster(z[None])
            count_logits = count_logits[0].double()
            count_logits[min(n_items, self.max_clusters) :] = -math.inf
            log_pk = torch.log_softmax(count_logits, 0).cpu().numpy()
            k = int(np.argmax(log_pk)) + 1
            if self.n_clusters is not None:
                k = min(self.n_clusters, n_items)
            scores = torch.log_softmax(per_k[k - 1][0].double(), 1).cpu().numpy()
            with warnings.catch_warnings():
                # Rows the network cannot tell apart leave a cluster empty; it
                # is dropped below, so k falls. A k the user fixed falling is
                # worth the warning.
                if self.n_clusters is None:
                    warnings.simplefilter("ignore", ConvergenceWarning)
                labels, bias = assign_populated(scores)
            labels, proba = _drop_empty(labels, scores + bias)
            return labels, log_pk, proba
        n_chunks = math.ceil(n_items / largest)
        if keys is None:
            keys = _content_keys(z.cpu().numpy())
        order = np.argsort(keys, kind="stable")
        chunk_labels = np.empty(n_items, dtype=np.int64)
        chunk_proba, prototypes, offset = [], [], 0
        for part in np.array_split(order, n_chunks):
            labels, _, proba = self._partition(module, z[part])
            members = torch.as_tensor(labels, device=z.device)
            counts = torch.bincount(members).to(z.dtype)
            sums = torch.zeros(
                proba.shape[1], z.shape[1], dtype=z.dtype, device=z.device
            )
            prototypes.append(sums.index_add_(0, members, z[part]) / counts[:, None])
            chunk_labels[part] = labels + offset
            chunk_proba.append((part, proba, offset))
            offset += proba.shape[1]
        merged, log_pk, _ = self._partition(module, torch.cat(prototypes))
        k = int(merged.max()) + 1
        proba = np.zeros((n_items, k))
        for part, p, start in chunk_proba:
            # Each chunk's assignment probabilities, summed over merged clusters.
            target = merged[start : start + p.shape[1]]
            np.add.at(proba, (part[:, None], target[None, :]), p)
        return merged[chunk_labels], log_pk, proba

    def _predict_set(self, X):
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        self._check_n_clusters(X.shape[0])
        module = self._inference_module(X)
        with torch.inference_mode():
            z = self._embed_rows(module, X)
            keys = _content_keys(X) if X.shape[0] > self.set_size[1] else None
            labels, log_pk, proba = self._partition(module, z, keys)
        return X, labels, log_pk, proba

    def predict(self, X):
        """Cluster the rows of ``X``, taken as one set.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The set to cluster. Rows beyond ``set_size[1]`` are clustered in
            chunks whose clusters are merged; memory grows linearly with the
            number of rows.

        Returns
        -------
        labels : ndarray of shape (n_samples,), dtype=int64
            Cluster of each row, ``0`` to ``k - 1``, every cluster populated, with
            ``k`` the most probable number of clusters, or ``n_clusters`` when
            given.
        """
        return self._predict_set(X)[1]

    def predict_proba(self, X):
        """Probabilities of each row's cluster under the chosen number of clusters.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The set to cluster.

        Returns
        -------
        proba : ndarray of shape (n_samples, max_clusters)
            Column ``c`` is the probability that the row is in cluster ``c`` of
            :meth:`predict`; the columns from ``k`` on (the clusters that
            :meth:`predict` does not use) are zero, and rows sum to one. For a
            set clustered in chunks, each row's probabilities over its chunk's
            clusters are summed over the clusters they were merged into.
        """
        X, _, _, proba = self._predict_set(X)
        padded = np.zeros((X.shape[0], self.max_clusters), dtype=X.dtype)
        padded[:, : proba.shape[1]] = proba
        return padded

    def predict_n_clusters_proba(self, X):
        """Distribution of the number of clusters in the set ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The set to cluster.

        Returns
        -------
        proba : ndarray of shape (max_clusters,)
            ``proba[k - 1]`` is the probability that the set holds ``k``
            clusters; it is zero for ``k`` above the number of rows.
            :meth:`predict` uses the most probable ``k``. For a set clustered
            in chunks, it is the distribution of the merge step.
        """
        X, _, log_pk, _ = self._predict_set(X)
        return np.exp(log_pk).astype(X.dtype, copy=False)

    def transform(self, X):
        """Map each row of ``X`` to its item embedding.

        The embedding does not depend on the other rows of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data.

        Returns
        -------
        X_new : ndarray of shape (n_samples, embedding_dim)
            Embedding, in the dtype of ``X``.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        module = self._inference_module(X)
        with torch.inference_mode():
            z = self._embed_rows(module, X)
        return z.cpu().numpy().astype(X.dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.required = True
        # scikit-learn's sparse-input check reads classifier tags of anything with
        # predict_proba; soft assignments do cover more than two groups.
        tags.classifier_tags = ClassifierTags(multi_class=True)
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _content_keys(X):
    """A checksum of each row of ``X`` (dense or CSR): a pseudo-random order
    of the rows that does not depend on where they stand."""
    if sp.issparse(X):
        return np.array(
            [
                zlib.crc32(X.indices[a:b].tobytes() + X.data[a:b].tobytes())
                for a, b in zip(X.indptr[:-1], X.indptr[1:], strict=True)
            ]
        )
    return np.array([zlib.crc32(row.tobytes()) for row in np.ascontiguousarray(X)])


def _drop_empty(labels, scores):
    """Renumber the populated clusters ``0..k-1`` in slot order, with their
    probabilities (the softmax of ``scores`` over the kept columns)."""
    kept = np.unique(labels)
    scores = scores[:, kept]
    scores = scores - scores.max(axis=1, keepdims=True)
    proba = np.exp(scores)
    proba /= proba.sum(axis=1, keepdims=True)
    return np.searchsorted(kept, labels).astype(np.int64), proba
