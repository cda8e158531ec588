"""GMVAEClustering: a Gaussian-mixture VAE with a Gumbel-softmax cluster variable."""

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_array, check_is_fitted
from torch import nn
from torch.nn import functional as F

from sknclust._base import BaseDeepClusterer, torch_seed
from sknclust._runs import RunSelection
from sknclust._start import GraphStart
from sknclust._views import Views
from sknclust.nn import mlp, reconstruction_loss

# Added to variances before a log or a division, as in the reference.
_EPS = 1e-8
# Gumbel-softmax temperature: from 1 down to the reference's floor of 0.5.
_TAU_START, _TAU_MIN = 1.0, 0.5
# Top probability of q(y|x) from which a row enters the consistency term.
_CONFIDENT = 0.7
# Semi-supervised fits: labelled rows appended to every batch, and the weight
# of their cross-entropy (M2's alpha: a few labels must not drown in the
# unlabelled rows' bound).
_LABELLED_PER_BATCH = 64
_SUPERVISED_WEIGHT = 10.0
# Share of the epochs after the graph start during which the bound does not
# train q(y|x) on rows without views: the generative path first learns the
# start's clusters.
_HOLD = 0.1


def categorical_kl_uniform(logits: torch.Tensor) -> torch.Tensor:
    """KL(q(y|x) || Uniform(K)) per sample, from the logits of q(y|x).

    Equals ``sum_k q_k log q_k + log K`` for any number of clusters ``K``.
    """
    log_q = F.log_softmax(logits, dim=1)
    return (log_q.exp() * log_q).sum(1) + math.log(logits.shape[1])


def marginal_kl_uniform(logits: torch.Tensor) -> torch.Tensor:
    """KL(q(y) || Uniform(K)) of the batch marginal q(y) = mean_i q(y|x_i).

    The batch mean of the per-sample KL of :func:`categorical_kl_uniform`
    splits into the mutual information between x and y plus this term. The
    training loss keeps only this one: it still pulls the clusters towards
    equal use, without penalising the information about x that clustering
    wants y to carry.
    """
    log_q = F.log_softmax(logits, dim=1)
    marginal = log_q.exp().mean(0)
    log_marginal = torch.logsumexp(log_q, dim=0) - math.log(logits.shape[0])
    return (marginal * log_marginal).sum() + math.log(logits.shape[1])


def gaussian_kl(mean, var, prior_mean, prior_var) -> torch.Tensor:
    """Analytic KL(N(mean, var) || N(prior_mean, prior_var)) per sample.

    Both Gaussians are diagonal; the KL is summed over dimensions.
    """
    var = var + _EPS
    prior_var = prior_var + _EPS
    return 0.5 * (
        torch.log(prior_var)
        - torch.log(var)
        + (var + (mean - prior_mean) ** 2) / prior_var
        - 1.0
    ).sum(1)


class _GMVAEModule(nn.Module):
    """q(y|x), q(z|x,y), p(z|y) and p(x|z) of the Gaussian-mixture VAE."""

    def __init__(self, n_features, hidden_dims, embedding_dim, n_clusters):
        super().__init__()
        k, d = n_clusters, embedding_dim
        self.qy = mlp([n_features, *hidden_dims, k])
        self.qz_trunk = mlp([n_features + k, *hidden_dims], last_activation=True)
        width = hidden_dims[-1] if hidden_dims else n_features + k
        self.decoder = mlp([d, *reversed(hidden_dims), n_features])
        self.z_mean = nn.Linear(width, d)
        self.z_var = nn.Linear(width, d)
        self.prior_mean = nn.Linear(k, d)
        self.prior_var = nn.Linear(k, d)
        for layer in self.modules():  # the reference's initialisation
            if isinstance(layer, nn.Linear):
                nn.init.xavier_normal_(layer.weight)
                nn.init.zeros_(layer.bias)

    def posterior(self, x, y):
        """Mean and variance of q(z|x,y)."""
        h = self.qz_trunk(torch.cat([x, y.to(x.dtype)], dim=1))
        return self.z_mean(h), F.softplus(self.z_var(h))

    def prior(self, y):
        """Mean and variance of p(z|y)."""
        return self.prior_mean(y), F.softplus(self.prior_var(y))


class GMVAEClustering(BaseDeepClusterer):
    """Clustering with a Gaussian-mixture variational autoencoder (GMVAE).

    A categorical latent variable y (the cluster) and a Gaussian latent
    variable z generate each sample: y is uniform over the clusters, z given y
    is a learned diagonal Gaussian, and the decoder maps z to the sample. The
    encoder q(y|x) is relaxed with the Gumbel-softmax trick, with a temperature
    annealed per epoch, and everything is trained end to end on the negative
    evidence lower bound, with the categorical term on the batch's mean
    q(y|x) (see Notes). Clusters are the argmax of q(y|x). Partially
    labelled data (unlabelled rows marked ``-1``) add a cross-entropy on
    q(y|x) and condition the generative path of each labelled row on its known
    class, as in Kingma et al.'s M2, which makes the model semi-supervised;
    labelled rows are added to every batch, and an optional consistency term
    spreads the labels through confident predictions on warped images.

    Read more in the :ref:`User Guide <gmvae>`.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters K (categories of y).
    hidden_dims : tuple of int, default=(512, 512)
        Widths of the hidden layers of q(y|x) and of q(z|x,y); the decoder
        mirrors them.
    embedding_dim : int, default=64
        Size of z (what :meth:`transform` returns).
    image_shape : tuple of int, default=None
        ``(channels, height, width)`` of flattened image rows. When set, pixels
        are scaled to [0, 1] and modelled as Bernoulli, and the consistency
        term compares each image with random warps of it.
    consistency_weight : float, default=4.0
        Weight of a consistency term on image rows: the cross-entropy from
        q(y|x') of a random warp x' of an image to the argmax of q(y|x), for
        images where q(y|x) gives its top cluster at least 0.7. It also
        weighs the balance term (the KL of the batch's mean q(y|x) to the
        uniform prior) by ``1 + consistency_weight``. 0 turns it off, as in
        the reference model. Rows without ``image_shape`` have no
        consistency term: nearest-neighbour views, which serve
        :class:`NeuralMixtureEM`, lowered this model's clustering.
    n_init : int, default=1
        Number of training runs from different initialisations (of the
        network; an unsupervised fit starts every run from the same graph
        partition, see Notes). With three or more, the run whose partition
        agrees most with the others' is kept; with two, the one with the
        lower final loss.
    batch_size : int, default=64
        Mini-batch size.
    learning_rate : float, default=1e-3
        Adam learning rate.
    max_epochs : int or None, default=None
        Training epochs. ``None`` takes about 12,000 optimiser steps, within
        30 to 100 epochs. The Gumbel-softmax temperature falls from 1 to its
        floor of 0.5 over the first half of the epochs.
    device : str, default="auto"
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``
        or ``"mps"``.
    random_state : int, RandomState instance or None, default=None
        Seeds weights, shuffling, Gumbel and Gaussian noise, and
        :meth:`sample`. The global numpy and torch RNGs are left untouched when
        it is an int or a RandomState.
    verbose : int, default=0
        Print a progress bar and a per-epoch log.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training sample, every cluster populated; in a
        semi-supervised fit, the class label of that cluster (see ``classes_``).
        After :meth:`partial_fit`, the clusters of the last chunk.
    classes_ : ndarray of shape (n_clusters,)
        Only after a semi-supervised fit: the label of each cluster. The sorted
        labels seen in ``y`` come first; clusters left over get the integers
        following the largest label.
    reconstruction_ : str
        Likelihood used, ``"bernoulli"`` or ``"gaussian"``.
    temperature_ : float
        Gumbel-softmax temperature of the last epoch.
    n_iter_ : int
        Epochs run (by the kept run when ``n_init > 1``).
    history_ : dict of list of dict
        Per-epoch training loss and duration of the kept run, under
        ``"train"``, and of its start (unsupervised fits) under ``"start"``.
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
    DeepKMeans : Autoencoder embedding with k-means centroids.
    sklearn.mixture.GaussianMixture : Gaussian mixture on the raw features.

    Notes
    -----
    The model follows the PyTorch GMVAE of J. Arias Figueroa (jariasf/GMVAE),
    with two differences in the training loss: KL(q(z|x,y) || p(z|y)) is
    computed analytically instead of from the sampled z, and the categorical
    term is the KL of the batch's mean q(y|x) to the uniform prior, not the
    batch mean of each row's KL. The two differ by the mutual information
    between x and y, which a clustering should keep rather than penalise.
    With the consistency term, the categorical term is weighted
    ``1 + consistency_weight``, so that it keeps every cluster in use against
    the term's sharpening of q(y|x).

    An unsupervised :meth:`fit` starts each run by training q(y|x) for
    about 100 steps to predict a partition of the rows'
    10-nearest-neighbour graph (of at most 10,000 evenly spaced rows), then
    trains on the ELBO. From a random network the ELBO settles on partitions
    that vary widely between seeds; the graph gives every run the same,
    steadier start. Without the consistency term (rows without
    ``image_shape``, or ``consistency_weight=0``), for the first tenth of
    the epochs the ELBO trains the generative path only, with q(y|x) held
    at the start: a random decoder and prior have no reason to prefer the
    start's partition, and their gradient into q(y|x) would undo it before
    they have learned it. With the term, q(y|x) trains on the views from
    the first step, with the balance term that guards that training. A
    semi-supervised fit starts from its labels instead; data sets of at
    most ``2 * n_clusters`` rows and :meth:`partial_fit` start from the
    random network.

    :meth:`transform` returns the mean of q(z|x,y) with y set to the
    probabilities q(y|x). :meth:`score` is the mean per-sample evidence lower
    bound with unit weights, computed without noise: y is q(y|x) and the
    reconstruction is decoded from the mean of q(z|x,y). Squared error stands
    for the Gaussian log-likelihood up to scale and constants.

    ``y`` in :meth:`fit` is used only when it contains ``-1`` (the mark of an
    unlabelled row); otherwise it is ignored, so scikit-learn tools that pass
    ground-truth labels to ``fit`` (cross-validation, grid search) do not
    leak them into the model.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from sknclust import GMVAEClustering
    >>> X, _ = make_blobs(n_samples=200, centers=3, random_state=0)
    >>> gmvae = GMVAEClustering(n_clusters=3, hidden_dims=(32,), embedding_dim=4,
    ...                         max_epochs=20, random_state=0).fit(X)
    >>> gmvae.labels_.shape
    (200,)
    >>> gmvae.transform(X[:2]).shape
    (2, 4)
    >>> X_new, y_new = gmvae.sample(5)
    >>> X_new.shape, y_new.shape
    ((5, 2), (5,))
    """

    _parameter_constraints: dict = {
        **BaseDeepClusterer._parameter_constraints,
        "consistency_weight": [Interval(Real, 0, None, closed="left")],
        **RunSelection.parameter_constraints,
    }

    _lr_schedule = "constant"
    # q(y|x) keeps sharpening long after the reconstruction has settled; the
    # reference trains 100 epochs. Small data sets stop at 100 passes: on
    # digits, 150 took half as long again for the same accuracy.
    _STEPS = 12000
    _MIN_EPOCHS = 30
    _MAX_EPOCHS = 100

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        hidden_dims: tuple[int, ...] = (512, 512),
        embedding_dim: int = 64,
        image_shape: tuple[int, ...] | None = None,
        consistency_weight: float = 4.0,
        n_init: int = 1,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
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
        self.consistency_weight = consistency_weight
        self.n_init = n_init

    # ------------------------------------------------------------------- fit
    def fit(self, X, y=None) -> "GMVAEClustering":
        """Train the GMVAE on ``X``, semi-supervised when ``y`` marks unlabelled rows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Sparse input is densified one batch at a time.
        y : array-like of shape (n_samples,), default=None
            Integer class labels with ``-1`` for unlabelled rows. Used only when
            it contains at least one ``-1``; otherwise (including ``None``) it
            is ignored and the fit is unsupervised. At most ``n_clusters``
            distinct labels, at least one labelled row.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self._y_fit = y if _is_semi_supervised(y) else None
        self._fit_classes = None
        try:
            super().fit(X)
            classes = self._fit_classes
        finally:
            del self._y_fit, self._fit_classes
        if classes is None:
            if hasattr(self, "classes_"):
                del self.classes_
        else:
            self.classes_ = classes
            self.labels_ = classes[self.labels_]
        return self

    def _build_module(self, n_features):
        return _GMVAEModule(
            n_features, self.hidden_dims, self.embedding_dim, self.n_clusters
        )

    def _fit_schedule(self, training_set, rng):
        y_codes = self._encode_labels(training_set)
        start = None
        if y_codes is None:
            start = GraphStart().prepare(training_set, self.n_clusters, rng)
        bernoulli = self._choose_reconstruction(training_set)
        epochs = self._epochs(training_set)
        views = None
        if self.consistency_weight > 0 and self._image_shape is not None:
            views = Views(self._image_shape)
        state = _GMVAEState(
            views, y_codes, training_set, bernoulli, self.consistency_weight
        )
        decay = math.log(_TAU_START / _TAU_MIN) / max(epochs / 2, 1)
        # Nothing is held without a partition (no start, or too few rows),
        # nor with views: their term trains q(y|x) from the first step, and
        # holding the bound would leave its sharpening without the balance
        # term that guards it.
        started = start is not None and start.labels is not None
        hold = math.ceil(_HOLD * epochs) if started and views is None else 0

        def anneal(epoch):
            state.tau = max(_TAU_START * math.exp(-decay * epoch), _TAU_MIN)

        def begin_epoch(epoch):
            anneal(epoch)
            state.hold = epoch < hold

        def train_run():
            if start is not None:
                start.train(self, training_set, lambda module, x: module.qy(x))
            begin_epoch(0)
            return self._train(
                "train",
                lambda module, x, index: self._loss(module, x, index, state),
                training_set,
                epochs=epochs,
                on_epoch_begin=begin_epoch,
            )

        runs = RunSelection(self.n_init, self.verbose)
        try:
            history = runs.fit(self, train_run, self._check_partition, training_set)
        finally:
            if start is not None:
                start.release()
        self.history_["train"] = history
        self.n_iter_ = len(history)
        anneal(len(history) - 1)
        self.temperature_ = float(state.tau)

    def _choose_reconstruction(self, training_set):
        """Bernoulli likelihood for scaled rows in [0, 1], else Gaussian."""
        low, high = math.inf, -math.inf
        for rows, _ in training_set.all_batches():
            low = min(low, float(rows.min()))
            high = max(high, float(rows.max()))
        bernoulli = low >= 0.0 and high <= 1.0
        self.reconstruction_ = "bernoulli" if bernoulli else "gaussian"
        return bernoulli

    def _check_chunk(self, X, y):
        if _is_semi_supervised(y):
            raise ValueError(
                "partial_fit trains without labels; for a semi-supervised model "
                "use fit(X, y) with -1 marking the unlabelled rows."
            )

    def _partial_fit_chunk(self, training_set, rng, first):
        if first:
            bernoulli = self._choose_reconstruction(training_set)
        else:
            bernoulli = self.reconstruction_ == "bernoulli"
        views = None
        if self.consistency_weight > 0 and self._image_shape is not None:
            views = Views(self._image_shape)
        state = _GMVAEState(
            views, None, training_set, bernoulli, self.consistency_weight
        )
        # The temperature follows the stream's optimiser steps: it reaches its
        # floor after half the step budget of a fit.
        start, n_batches = self._stream.n_steps, training_set.n_batches
        decay = math.log(_TAU_START / _TAU_MIN) / (self._STEPS / 2)

        def anneal(epoch):
            steps = start + epoch * n_batches
            state.tau = max(_TAU_START * math.exp(-decay * steps), _TAU_MIN)

        anneal(0)
        self._train(
            "train",
            lambda module, x, index: self._loss(module, x, index, state),
            training_set,
            epochs=self._partial_epochs(),
            on_epoch_begin=anneal,
            online=True,
        )
        self.n_iter_ = len(self.history_["train"])
        self.temperature_ = float(state.tau)

    def _encode_labels(self, training_set):
        """Cluster index per training row (-1: unlabelled) as a device tensor."""
        y = self._y_fit
        if y is None:
            return None
        y = np.asarray(y)
        if y.shape[0] != training_set.n_samples:
            raise ValueError(
                f"y has {y.shape[0]} entries but X has {training_set.n_samples} rows."
            )
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)) or np.any(y < -1):
            raise ValueError(
                "y must hold non-negative integer class labels, with -1 for "
                "unlabelled rows."
            )
        y = y.astype(np.int64)
        labelled = y != -1
        if not labelled.any():
            raise ValueError(
                "y marks every row unlabelled (-1); give at least one labelled row, "
                "or fit without y for unsupervised clustering."
            )
        classes = np.unique(y[labelled])
        if classes.size > self.n_clusters:
            raise ValueError(
                f"y has {classes.size} distinct class labels but n_clusters="
                f"{self.n_clusters}; there can be at most one class per cluster."
            )
        codes = np.full(y.shape, -1, dtype=np.int64)
        codes[labelled] = np.searchsorted(classes, y[labelled])
        extra = classes.max() + 1 + np.arange(self.n_clusters - classes.size)
        self._fit_classes = np.concatenate([classes, extra]).astype(np.int64)
        return torch.as_tensor(codes, device=training_set.device)

    # ---------------------------------------------------------------- losses
    def _loss(self, module, x, index, state):
        if state.labelled is not None:
            # Few labels in many rows: without this, most batches hold none.
            pool = state.labelled
            pick = torch.randperm(pool.numel(), device=pool.device)
            pick = pool[pick[:_LABELLED_PER_BATCH]]
            x = torch.cat([x, state.rows(pick)])
            index = torch.cat([index, pick])
        logits = module.qy(x)
        if state.hold:
            # q(y|x) holds the start while p(z|y) and the decoder learn its
            # clusters (rows without views only).
            logits = logits.detach()
        y = F.gumbel_softmax(logits, tau=state.tau)
        mask = None
        if state.y_codes is not None:
            codes = state.y_codes[index]
            mask = codes >= 0
            # As in Kingma et al.'s M2: a labelled row's generative path is
            # conditioned on its known class, not on a sample of q(y|x).
            known = F.one_hot(codes.clamp_min(0), self.n_clusters).to(y.dtype)
            y = torch.where(mask.unsqueeze(1), known, y)
        mean, var = module.posterior(x, y)
        z = mean + torch.sqrt(var + 1e-10) * torch.randn_like(mean)
        prior_mean, prior_var = module.prior(y)
        loss = (
            reconstruction_loss(x, module.decoder(z), state.bernoulli)
            + gaussian_kl(mean, var, prior_mean, prior_var)
        ).mean() + state.balance_weight * marginal_kl_uniform(logits)
        if mask is not None and bool(mask.any()):
            supervised = F.cross_entropy(logits[mask], codes[mask])
            loss = loss + _SUPERVISED_WEIGHT * supervised
        if state.views is not None:
            loss = loss + self.consistency_weight * _consistency(
                module, x, index, logits, state.views
            )
        return loss

    # ------------------------------------------------------------- inference
    def _embed(self, module, rows):
        proba = torch.softmax(module.qy(rows), dim=1)
        return module.posterior(rows, proba)[0]

    def _cluster_scores(self, module, rows):
        return F.log_softmax(module.qy(rows), dim=1)

    def _score_samples(self, module, rows):
        logits = module.qy(rows)
        proba = torch.softmax(logits, dim=1)
        mean, var = module.posterior(rows, proba)
        prior_mean, prior_var = module.prior(proba)
        bernoulli = self.reconstruction_ == "bernoulli"
        return -(
            reconstruction_loss(rows, module.decoder(mean), bernoulli)
            + gaussian_kl(mean, var, prior_mean, prior_var)
            + categorical_kl_uniform(logits)
        )

    def _decode(self, module, z):
        """Scaled decoder mean for latent codes ``z``."""
        out = module.decoder(z)
        return torch.sigmoid(out) if self.reconstruction_ == "bernoulli" else out

    def _unscale(self, x):
        return x * self._scale + self._offset

    def predict(self, X):
        """Predict the cluster (or class label) of each sample in ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Argmax of q(y|x): a cluster index, or after a semi-supervised fit the
            matching entry of ``classes_``.
        """
        labels = super().predict(X)
        classes = getattr(self, "classes_", None)
        return labels if classes is None else classes[labels]

    def fit_predict(self, X, y=None):
        """Fit on ``X`` and return ``labels_``.

        Training is semi-supervised when ``y`` marks unlabelled rows with -1.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,), default=None
            As in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Cluster (or class) label of each training sample.
        """
        return self.fit(X, y).labels_

    def inverse_transform(self, X):
        """Decode embeddings back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, embedding_dim)
            Latent codes z, e.g. from :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, `n_features_in_`)
            Decoder mean of p(x|z), with the input scaling undone, in the dtype
            of ``X`` (float64 or float32).
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=[np.float64, np.float32])
        if Z.shape[1] != self._n_features_out:
            raise ValueError(
                f"X has {Z.shape[1]} features, but {type(self).__name__} expects "
                f"embeddings of size {self._n_features_out}."
            )
        decoded = self._inference(Z, self._decode, scaled=False)
        return self._unscale(decoded).astype(Z.dtype, copy=False)

    def sample(self, n_samples: int = 1, cluster=None) -> tuple[np.ndarray, np.ndarray]:
        """Generate samples from the fitted model.

        Draws y uniformly over the clusters (or sets it to ``cluster``), z from
        p(z|y), and returns the decoder mean of p(x|z) in the input space.
        ``random_state`` seeds the draws through a private generator: an int
        gives the same samples on every call.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.
        cluster : int, default=None
            Generate from this cluster only: a label as returned by
            :meth:`predict` (a cluster index, or an entry of ``classes_`` after
            a semi-supervised fit).

        Returns
        -------
        X : ndarray of shape (n_samples, `n_features_in_`)
            Generated samples, float64.
        y : ndarray of shape (n_samples,)
            Label of the cluster each sample was drawn from.
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(
                f"n_samples must be a positive integer, got {n_samples!r}."
            )
        classes = getattr(self, "classes_", None)
        labels = np.arange(self.n_clusters) if classes is None else classes
        generator = torch.Generator().manual_seed(torch_seed(self.random_state))
        if cluster is None:
            codes = torch.randint(self.n_clusters, (n_samples,), generator=generator)
        else:
            match = np.flatnonzero(labels == cluster)
            if match.size == 0:
                raise ValueError(
                    f"cluster={cluster!r} is not one of the labels {labels.tolist()}."
                )
            codes = torch.full((n_samples,), int(match[0]), dtype=torch.int64)
        noise = torch.randn(n_samples, self._n_features_out, generator=generator)
        module = self.module_
        device = next(module.parameters()).device
        with torch.inference_mode():
            y = F.one_hot(codes, self.n_clusters).float().to(device)
            mean, var = module.prior(y)
            z = mean + torch.sqrt(var) * noise.to(device)
            x = self._decode(module, z).cpu().numpy().astype(np.float64)
        return self._unscale(x), labels[codes.numpy()]


class _GMVAEState:
    """Training state the loss reads: views, labels, likelihood, temperature."""

    def __init__(self, views, y_codes, training_set, bernoulli, consistency_weight):
        self.views = views
        self.y_codes = y_codes
        self.rows = training_set.rows
        self.bernoulli = bernoulli
        self.tau = _TAU_START
        self.hold = False
        # The balance term outweighs the consistency term's sharpening of
        # q(y|x), else clusters that lose their confident rows starve.
        self.balance_weight = 1.0 + (consistency_weight if views is not None else 0.0)
        self.labelled = None
        if y_codes is not None:
            self.labelled = torch.nonzero(y_codes >= 0).squeeze(1)


def _consistency(module, x, index, logits, views):
    """Cross-entropy of q(y|view) to the confident argmax of q(y|x).

    Summed over the rows whose top probability reaches the threshold and
    divided by the batch size, so the term grows as the model grows sure.
    """
    with torch.no_grad():
        confidence, target = torch.softmax(logits, dim=1).max(1)
        keep = confidence >= _CONFIDENT
    if not bool(keep.any()):
        return logits.new_zeros(())
    view_logits = module.qy(views(x[keep], index[keep]))
    loss = F.cross_entropy(view_logits, target[keep], reduction="sum")
    return loss / x.shape[0]


def _is_semi_supervised(y) -> bool:
    """Whether ``y`` is a 1-d numeric vector marking some rows unlabelled (-1)."""
    if y is None:
        return False
    try:
        y = np.asarray(y)
    except Exception:
        return False
    return y.ndim == 1 and y.dtype.kind in "iuf" and bool(np.any(y == -1))
