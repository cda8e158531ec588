"""The shared core of every deep clustering estimator.

:class:`BaseDeepClusterer` owns input validation, device choice, seeding, the
training run (through the private skorch engine), batched inference, the final
assignment of training labels and persistence. A subclass supplies its network
(:meth:`_build_module`), its training schedule (:meth:`_fit_schedule`) and three
per-batch inference hooks (:meth:`_embed`, :meth:`_cluster_scores`,
:meth:`_score_samples`); :meth:`_partial_fit_chunk` trains on one chunk of a
stream for ``partial_fit``.
"""

import copy
import math
import warnings
from abc import ABC, abstractmethod
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import ClassifierTags, check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from sknclust._data import RunningScaling, TrainingSet, iter_scaled, resolve_scaler
from sknclust._device import loadable_device, resolve_device
from sknclust._engine import run_phase
from sknclust._runs import on_check_rows
from sknclust._stream import StreamState


def torch_seed(random_state) -> int:
    """An int seed drawn from ``random_state``.

    ``None`` draws fresh entropy rather than from numpy's global RNG, whose
    state is the user's.
    """
    if random_state is None:
        return int(np.random.default_rng().integers(np.iinfo(np.int32).max))
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


@contextmanager
def _private_torch_rng(seed, device):
    """Seed torch inside a fork of its RNG, so the user's global state is kept.

    Only the CPU's generator and that of ``device`` are forked and seeded:
    ``torch.manual_seed`` would also reseed every other GPU, whose streams are
    the user's and are not forked.
    """
    accelerator = device.type in ("cuda", "mps")
    devices = [device.index or 0] if accelerator else []
    with torch.random.fork_rng(devices=devices, device_type=device.type):
        torch.default_generator.manual_seed(seed)
        if device.type == "cuda":
            # The fork above has initialised CUDA, so the generator exists.
            torch.cuda.default_generators[devices[0]].manual_seed(seed)
        elif device.type == "mps":
            torch.mps.manual_seed(seed)
        yield


def _flushing_denormals() -> bool:
    """Whether float32 results below the normal range are flushed to zero."""
    return float(torch.tensor([torch.finfo(torch.float32).tiny]) / 2) == 0.0


_PARALLEL_GRAIN = 32768  # elements per thread below which ATen stays serial


@contextmanager
def _denormals_flushed():
    """Flush denormal floats to zero on the CPU while training, then restore.

    Adam's running gradient mean decays geometrically for weights whose
    gradient is zero (dead ReLU units) and spends many steps in the denormal
    range, where x86 arithmetic is tens of times slower: about 15% of a fit's
    time on digits. Adam steps built from such values fall far below the
    rounding step of a float32 weight, so fits come out the same, only faster.
    Intra-op worker threads that already run keep their own setting.
    """
    before = _flushing_denormals()
    if not before:
        # The setting is per thread and new threads inherit it: start every
        # intra-op worker now, so none is created flushing and keeps it after.
        torch.zeros(_PARALLEL_GRAIN * torch.get_num_threads()).sum()
        torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if not before:
            torch.set_flush_denormal(False)


def check_network_shape(hidden_dims, image_shape, n_features):
    """Check ``hidden_dims``; return ``image_shape`` as ``(C, H, W)`` or None.

    ``(H, W)`` means one channel; the shape must hold ``n_features`` values.
    """
    if not all(isinstance(h, Integral) and h > 0 for h in hidden_dims):
        raise ValueError(
            f"hidden_dims must be a tuple of positive integers, got {hidden_dims!r}."
        )
    if image_shape is None:
        return None
    shape = tuple(image_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or not all(isinstance(s, Integral) and s > 0 for s in shape):
        raise ValueError(
            "image_shape must be (channels, height, width) or (height, width) "
            f"of positive integers, got {image_shape!r}."
        )
    if math.prod(shape) != n_features:
        raise ValueError(
            f"image_shape={image_shape!r} holds {math.prod(shape)} "
            f"values but X has {n_features} features."
        )
    return tuple(int(s) for s in shape)


def validate_rows(estimator, X, reset):
    """``X`` validated for a torch estimator: dense float32/float64 or CSR;
    fitting needs two rows, predicting one."""
    return validate_data(
        estimator,
        X,
        reset=reset,
        accept_sparse="csr",
        dtype=[np.float64, np.float32],
        ensure_min_samples=2 if reset else 1,
    )


def auto_epochs(n_batches, steps, min_epochs, max_epochs) -> int:
    """``ceil(steps / n_batches)`` epochs, clipped to ``[min_epochs, max_epochs]``."""
    return int(min(max(math.ceil(steps / max(n_batches, 1)), min_epochs), max_epochs))


def assign_populated(scores):
    """Labels ``argmax(scores + bias)`` with every cluster holding a point.

    Returns ``(labels, bias)``. ``bias`` is zero unless a cluster is empty; then the
    smallest per-cluster offset that lets it take its most favourable point (from a
    cluster that keeps other members) is added, which amounts to raising that
    cluster's prior. Points must outnumber clusters. Rows whose scores are
    (nearly) identical move together, so a collapsed model whose rows cannot be
    told apart may keep empty clusters: a ``ConvergenceWarning`` says so.
    """
    n_samples, n_clusters = scores.shape
    bias = np.zeros(n_clusters)
    # One step per empty cluster usually suffices; near-ties can empty another
    # cluster, so allow more steps before giving up.
    for _ in range(10 * n_clusters):
        labels = np.argmax(scores + bias, axis=1)
        counts = np.bincount(labels, minlength=n_clusters)
        empty = np.flatnonzero(counts == 0)
        if empty.size == 0:
            break
        k = empty[0]
        shifted = scores + bias
        margin = shifted.max(axis=1) - shifted[:, k]
        margin[counts[labels] < 2] = np.inf
        i = int(np.argmin(margin))
        gap = margin[i]
        bias[k] += gap + max(1e-6 * abs(gap), 1e-9)
    labels = np.argmax(scores + bias, axis=1)
    found = np.unique(labels).size
    if found < n_clusters:
        warnings.warn(
            f"Only {found} of {n_clusters} clusters hold a training sample: the "
            "model gives (nearly) the same cluster scores to many samples, so no "
            "cluster prior can separate them. The network has probably collapsed; "
            "try another random_state, learning rate or architecture.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return labels.astype(np.int64), bias


class TorchStateMixin:
    """Pickling of a fitted ``module_`` that loads on machines without its device.

    The module is pickled from the CPU; on loading it goes back to ``device_``
    when that device is present, else stays on the CPU (with a warning).
    """

    def __getstate__(self):
        state = dict(super().__getstate__())
        module = state.get("module_")
        if module is not None and next(module.parameters()).device.type != "cpu":
            state["module_"] = copy.deepcopy(module).cpu()
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "module_" in state and self.device_ != "cpu":
            device = loadable_device(self.device_)
            self.module_.to(device)
            self.device_ = str(device)


class BaseDeepClusterer(
    TorchStateMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    ClusterMixin,
    BaseEstimator,
    ABC,
):
    """Base class for deep clustering estimators.

    Warning: this class should not be used directly. Use derived classes instead.
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "hidden_dims": [tuple],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "image_shape": [tuple, None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), None],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_clusters,
        *,
        hidden_dims,
        embedding_dim,
        image_shape,
        batch_size,
        learning_rate,
        max_epochs,
        device,
        random_state,
        verbose,
    ):
        self.n_clusters = n_clusters
        self.hidden_dims = hidden_dims
        self.embedding_dim = embedding_dim
        self.image_shape = image_shape
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_epochs = max_epochs
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _build_module(self, n_features):
        """Return the untrained ``torch.nn.Module`` for ``n_features`` inputs."""

    @abstractmethod
    def _fit_schedule(self, training_set, rng):
        """Train ``self.module_`` on ``training_set`` (calls :meth:`_train`)."""

    @abstractmethod
    def _partial_fit_chunk(self, training_set, rng, first):
        """Train ``self.module_`` on one chunk of a stream (calls :meth:`_train`
        with ``online=True``); ``first`` marks the call that built the network.
        Keep state between chunks in ``self._stream.extra``."""

    @abstractmethod
    def _embed(self, module, rows):
        """Embedding of a batch of scaled rows (what :meth:`transform` returns)."""

    @abstractmethod
    def _cluster_scores(self, module, rows):
        """Per-cluster log-scores; labels are their argmax, probabilities their
        softmax."""

    @abstractmethod
    def _score_samples(self, module, rows):
        """Per-sample objective value, higher is better (:meth:`score` averages it)."""

    # ------------------------------------------------------------ validation
    def _check_params_vs_input(self, X):
        n_samples, n_features = X.shape
        if self.n_clusters > n_samples:
            raise ValueError(
                f"n_samples={n_samples} should be >= n_clusters={self.n_clusters}."
            )
        self._image_shape = check_network_shape(
            self.hidden_dims, self.image_shape, n_features
        )
        # The shape the network is built for; None builds the MLP.
        self._conv_shape = self._image_shape if self._conv_images else None

    def _validate_X(self, X, reset):
        return validate_rows(self, X, reset)

    # ------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the network and the clustering on ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Sparse input is densified one batch at a time.
        y : Ignored
            Not used, present here for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X = self._validate_X(X, reset=True)
        self._check_params_vs_input(X)
        device = resolve_device(self.device)
        seed = torch_seed(self.random_state)

        self._scaling_stats = RunningScaling(
            resolve_scaler(X, self._image_shape), X.shape[1]
        ).update(X)
        self._offset, self._scale = self._scaling_stats.offset_scale()
        training_set = self._training_set(X, device, seed)
        self.device_ = str(device)
        self.history_ = {}
        # A later partial_fit continues from the fitted state.
        self._stream = StreamState(seed)
        with _private_torch_rng(seed, device), _denormals_flushed():
            self.module_ = self._build_module(X.shape[1]).to(device)
            self._fit_schedule(training_set, np.random.RandomState(seed))
        self.module_.eval()
        n_epochs = sum(len(history) for history in self.history_.values())
        self.n_steps_ = self._stream.n_steps = n_epochs * training_set.n_batches

        scores = self._inference(X, self._cluster_scores)
        self.labels_, self._label_bias = assign_populated(scores)
        self._n_features_out = self.embedding_dim
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train on one chunk of data, continuing from the current state.

        The first call (on an unfitted estimator) builds the network; every
        call then trains it on ``X`` for ``max_epochs`` passes (default: half
        the passes a fit makes over large data, so that two passes over a
        stream train about as long as :meth:`fit`), at a constant learning
        rate, keeping the optimiser state, the schedule position and the
        scaling statistics (updated with each chunk) between calls. After
        :meth:`fit`, it continues from the fitted model. Memory grows with
        the chunk, not with the number of chunks.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            One chunk of training data, with the features of the first chunk.
            The first chunk needs at least ``n_clusters`` rows.
        y : Ignored
            Not used, present here for API consistency by convention.

        Returns
        -------
        self : object
            The estimator, trained on one more chunk; ``labels_`` holds the
            chunk's clusters.
        """
        first = not hasattr(self, "module_")
        # Everything is checked before any state changes: a bad chunk leaves
        # the model as it was.
        X = self._validate_X(X, reset=first)
        if first:
            self._check_params_vs_input(X)
        self._check_chunk(X, y)
        if first:
            device = resolve_device(self.device)
            self.device_ = str(device)
            self.history_ = {}
            self._scaling_stats = RunningScaling(
                resolve_scaler(X, self._image_shape), X.shape[1]
            )
            self._stream = StreamState(torch_seed(self.random_state))
        device = torch.device(self.device_)
        stream = self._stream
        self._scaling_stats.update(X)
        self._offset, self._scale = self._scaling_stats.offset_scale()
        seed = stream.call_seed()
        training_set = self._training_set(X, device, seed)
        with _private_torch_rng(seed, device), _denormals_flushed():
            if first:
                self.module_ = self._build_module(X.shape[1]).to(device)
            self._partial_fit_chunk(training_set, np.random.RandomState(seed), first)
        self.module_.eval()
        stream.n_calls += 1
        self.n_steps_ = stream.n_steps
        # No bias on a stream: every cluster need not appear in every chunk.
        self._label_bias = np.zeros(self.n_clusters)
        self.labels_ = self.predict(X)
        self._n_features_out = self.embedding_dim
        return self

    def _training_set(self, X, device, seed):
        """``X`` scaled with the current statistics, batched for training."""
        return TrainingSet(
            X,
            self._offset,
            self._scale,
            device=device,
            batch_size=min(self._batch_size(), X.shape[0]),
            seed=seed,
            drop_last=self._drop_last,
        )

    def _check_chunk(self, X, y):
        """Estimator-specific checks of a ``partial_fit`` chunk (before any
        state changes)."""

    # Class-level choices of each estimator, not user parameters.
    _drop_last = False  # drop a ragged last batch (batch statistics)
    _conv_images = False  # build the convolutional network for image rows
    _lr_schedule = "cosine"
    # Training length when max_epochs is None: about _STEPS optimiser steps,
    # with at least _MIN_EPOCHS passes over large data and at most _MAX_EPOCHS
    # over small data.
    _STEPS = 5000
    _MIN_EPOCHS = 20
    _MAX_EPOCHS = 100

    def _batch_size(self):
        """The mini-batch size to train with (``batch_size`` unless a subclass
        derives it from the data)."""
        return self.batch_size

    def _epochs(self, training_set):
        """Epochs of training: ``max_epochs``, else derived from a step budget.

        Small data sets need many passes to take enough optimiser steps, but
        each pass is cheap; large ones take enough steps in a few passes.
        """
        if self.max_epochs is not None:
            return int(self.max_epochs)
        return auto_epochs(
            training_set.n_batches, self._STEPS, self._MIN_EPOCHS, self._MAX_EPOCHS
        )

    def _partial_epochs(self):
        """Passes over a ``partial_fit`` chunk: ``max_epochs``, else half of
        the fewest epochs a fit makes, so two passes over a stream train about
        as long as a fit on the whole of it."""
        if self.max_epochs is not None:
            return int(self.max_epochs)
        return max(self._MIN_EPOCHS // 2, 1)

    def _train(
        self,
        name,
        loss_fn,
        training_set,
        *,
        epochs,
        stop_after=None,
        online=False,
        decay=None,
        **kw,
    ):
        """Run one training phase of ``self.module_`` and record its history.

        ``stop_after=(tol, n_epochs)`` stops the phase once ``n_epochs`` epochs
        in a row improved the training loss by less than ``tol`` (relative).
        ``online=True`` (``partial_fit``) continues the phase's optimiser from
        the last chunk, appends to its history and advances the stream's step
        count. ``decay`` says whether the learning rate follows the schedule
        over this call's epochs; by default it does except online, where a
        phase goes on over chunks and has no last epoch to decay towards.
        """
        if stop_after is not None:
            kw.update(tol=stop_after[0], n_iter_no_change=stop_after[1])
        if decay is None:
            decay = not online
        lr_schedule = self._lr_schedule if decay else None
        if online:
            kw["optimizer_state"] = self._stream.optimizers.setdefault(name, {})
        history = run_phase(
            name,
            self.module_,
            loss_fn,
            training_set,
            epochs=epochs,
            learning_rate=kw.pop("learning_rate", self.learning_rate),
            device=self.device_,
            lr_schedule=lr_schedule,
            early_stopping=stop_after is not None,
            verbose=self.verbose,
            **kw,
        )
        if online:
            self.history_.setdefault(name, []).extend(history)
            self._stream.n_steps += len(history) * training_set.n_batches
        else:
            self.history_[name] = history
        self.module_.eval()
        return history

    def _check_partition(self, training_set):
        """Labels of the check rows: the argmax of :meth:`_cluster_scores`."""
        with torch.no_grad():
            scores = on_check_rows(
                training_set, lambda rows: self._cluster_scores(self.module_, rows)
            )
        return scores.argmax(1).cpu().numpy()

    # ------------------------------------------------------------- inference
    def _inference(self, X, fn, *, scaled=True):
        """Apply ``fn(module, rows)`` to batches of validated ``X``.

        Runs in eval mode without gradients, in the input's dtype: float64 input
        goes through a float64 copy of the network, so results do not depend on how
        rows are batched. Memory grows with the batch size, not with ``len(X)``.
        ``scaled=False`` feeds the rows as given (for instance latent codes).
        """
        offset, scale = (self._offset, self._scale) if scaled else (0.0, 1.0)
        dtype = torch.float64 if X.dtype == np.float64 else torch.float32
        module = self.module_
        if dtype != torch.float32:
            module = copy.deepcopy(module).to(dtype)
        device = next(module.parameters()).device
        outputs = []
        with torch.inference_mode():
            for rows in iter_scaled(
                X,
                offset,
                scale,
                dtype=dtype,
                device=device,
                batch_size=max(self._batch_size(), 1024),
            ):
                outputs.append(fn(module, rows).cpu().numpy())
        return np.concatenate(outputs).astype(X.dtype, copy=False)

    def _biased_scores(self, X):
        # float64, as in fit: a float32 sum could undo the bias that keeps
        # every training cluster populated.
        scores = self._inference(X, self._cluster_scores)
        return scores.astype(np.float64) + self._label_bias

    def _checked(self, X):
        check_is_fitted(self)
        return self._validate_X(X, reset=False)

    def predict(self, X):
        """Predict the closest cluster each sample in ``X`` belongs to.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data.

        Returns
        -------
        labels : ndarray of shape (n_samples,), dtype=int64
            Index of the cluster each sample belongs to.
        """
        scores = self._biased_scores(self._checked(X))
        return np.argmax(scores, axis=1).astype(np.int64)

    def predict_proba(self, X):
        """Soft cluster assignments of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_clusters)
            Rows sum to one; their argmax is :meth:`predict`.
        """
        X = self._checked(X)
        scores = self._biased_scores(X)
        scores -= scores.max(axis=1, keepdims=True)
        proba = np.exp(scores)
        return (proba / proba.sum(axis=1, keepdims=True)).astype(X.dtype, copy=False)

    def transform(self, X):
        """Map ``X`` to the learned embedding.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_embedding)
            Embedding, in the dtype of ``X``.
        """
        return self._inference(self._checked(X), self._embed)

    def score(self, X, y=None):
        """Mean per-sample value of the training objective (higher is better).

        See the estimator's documentation for the exact quantity.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data.
        y : Ignored
            Not used, present here for API consistency by convention.

        Returns
        -------
        score : float
            Mean of the per-sample objective over ``X``; higher is better.
        """
        return float(np.mean(self._inference(self._checked(X), self._score_samples)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        # scikit-learn's sparse-input check reads classifier tags of anything with
        # predict_proba; soft assignments do cover more than two groups.
        tags.classifier_tags = ClassifierTags(multi_class=True)
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
