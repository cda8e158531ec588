"""GMVAEClustering: a Gaussian-mixture VAE with a Gumbel-softmax cluster variable."""

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted
from torch import nn
from torch.nn import functional as F

from sknclust._base import BaseDeepClusterer, torch_seed
from sknclust._neighbors import VIEW_PARAMETER_CONSTRAINTS
from sknclust._runs import RUN_PARAMETER_CONSTRAINTS
from sknclust.nn import ConvDecoder, ConvEncoder, mlp

# Width of the features a convolutional encoder hands to q(z|x,y) with images.
_CONV_FEATURES = 256
# Added to variances before a log or a division, as in the reference.
_EPS = 1e-8
# Default temperature decay rate: the reference's ln(2)/50 per epoch.
_LN2_OVER_50 = math.log(2) / 50


def categorical_kl_uniform(logits: torch.Tensor) -> torch.Tensor:
    """KL(q(y|x) || Uniform(K)) per sample, from the logits of q(y|x).

    Equals ``sum_k q_k log q_k + log K`` for any number of clusters ``K``.
    """
    log_q = F.log_softmax(logits, dim=1)
    return (log_q.exp() * log_q).sum(1) + math.log(logits.shape[1])


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


def reconstruction_loss(x, output, bernoulli: bool) -> torch.Tensor:
    """Per-sample reconstruction loss summed over features.

    ``output`` holds decoder logits for the Bernoulli likelihood (binary
    cross-entropy) and decoder means otherwise (squared error).
    """
    if bernoulli:
        return F.binary_cross_entropy_with_logits(output, x, reduction="none").sum(1)
    return ((x - output) ** 2).sum(1)


class _GMVAEModule(nn.Module):
    """q(y|x), q(z|x,y), p(z|y) and p(x|z) of the Gaussian-mixture VAE."""

    def __init__(self, n_features, hidden_dims, embedding_dim, n_clusters, image_shape):
        super().__init__()
        k, d = n_clusters, embedding_dim
        if image_shape is None:
            self.qy = mlp([n_features, *hidden_dims, k])
            self.x_features = nn.Identity()
            self.qz_trunk = mlp([n_features + k, *hidden_dims], last_activation=True)
            width = hidden_dims[-1] if hidden_dims else n_features + k
            self.decoder = mlp([d, *reversed(hidden_dims), n_features])
        else:
            self.qy = ConvEncoder(image_shape, k)
            self.x_features = nn.Sequential(
                ConvEncoder(image_shape, _CONV_FEATURES), nn.ReLU()
            )
            self.qz_trunk = mlp(
                [_CONV_FEATURES + k, _CONV_FEATURES], last_activation=True
            )
            width = _CONV_FEATURES
            self.decoder = ConvDecoder(image_shape, d)
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
        h = self.qz_trunk(torch.cat([self.x_features(x), y.to(x.dtype)], dim=1))
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
    evidence lower bound. Clusters are the argmax of q(y|x). Partially
    labelled data (unlabelled rows marked ``-1``) add a cross-entropy on
    q(y|x) and condition the generative path of each labelled row on its known
    class, as in Kingma et al.'s M2, which makes the model semi-supervised;
    labelled rows are added to every batch, and an optional consistency term
    spreads the labels through confident predictions on augmented views.

    Read more in the :ref:`User Guide <gmvae>`.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters K (categories of y).
    hidden_dims : tuple of int, default=(512, 512)
        Widths of the hidden layers of q(y|x) and of q(z|x,y); the decoder
        mirrors them. Ignored by the convolutional network.
    embedding_dim : int, default=64
        Size of z. ``None`` uses ``n_clusters``.
    image_shape : tuple of int, default=None
        ``(channels, height, width)`` of flattened image rows. When set,
        convolutional encoders read x in q(y|x) and q(z|x,y), and a
        convolutional decoder replaces the MLP decoder.
    architecture : {"auto", "mlp", "conv"}, default="auto"
        Network type. ``"auto"`` builds the convolutional one when
        ``image_shape`` is set and the MLP otherwise. ``"mlp"`` with
        ``image_shape`` keeps the MLP but still uses image augmentations.
    scaler : {"auto", "standard", "minmax", "maxabs", "global"} or None, \
            default="auto"
        Scaling applied to the input inside the estimator (see
        :class:`DeepKMeans`). ``"auto"`` picks ``"global"`` with
        ``image_shape``, ``"maxabs"`` for sparse input and ``"standard"``
        otherwise. Use ``"minmax"`` or ``"global"`` to get data in [0, 1] and
        hence a Bernoulli likelihood with ``reconstruction="auto"``.
    reconstruction : {"auto", "bernoulli", "gaussian"}, default="auto"
        Likelihood p(x|z). ``"bernoulli"``: binary cross-entropy against a
        sigmoid decoder output. ``"gaussian"``: squared error against a linear
        decoder output. ``"auto"`` uses ``"bernoulli"`` when all scaled
        training values lie in [0, 1] and ``"gaussian"`` otherwise.
    reconstruction_weight : float, default=1.0
        Weight of the reconstruction term.
    categorical_weight : float, default=1.0
        Weight of KL(q(y|x) || Uniform(K)).
    gaussian_weight : float, default=1.0
        Weight of KL(q(z|x,y) || p(z|y)).
    supervised_weight : float, default=1.0
        Weight of the cross-entropy on labelled rows (semi-supervised fits only).
    labelled_batch_size : int, default=64
        Semi-supervised fits only: labelled rows, drawn at random from all of
        them, appended to every training batch, so that the few labels take
        part in every step. 0 appends none.
    consistency_weight : float, default=0.0
        Weight of a consistency term: the cross-entropy from q(y|x') of a
        randomly augmented view x' (image warps with ``image_shape``, noise and
        feature dropout otherwise) to the argmax of q(y|x), for the rows where
        q(y|x) is confident. 0 turns it off, as in the reference model.
    consistency_threshold : float, default=0.7
        Top probability of q(y|x) from which a row enters the consistency term.
    views : {"augment", "neighbors"}, default="augment"
        The view x' of the consistency term. ``"augment"``: a random
        augmentation of the row. ``"neighbors"``: one of the row's
        ``n_neighbors`` nearest training rows, drawn anew at every step, so
        confident predictions spread to neighbouring rows. The neighbours are
        found once per fit, by an exact Euclidean search in the space that
        ``neighbor_space`` names: time grows with the square of the number of
        rows.
    n_neighbors : int, default=10
        Neighbours per row with ``views="neighbors"``; ignored otherwise.
    neighbor_space : {"pca", "autoencoder"}, default="pca"
        Where the neighbours of ``views="neighbors"`` are searched. ``"pca"``:
        the scaled rows projected on their 100 leading principal components
        (a truncated SVD for sparse input). ``"autoencoder"``: the 10-d
        embedding of an MLP autoencoder (500-500-2000 units, as in DEC),
        trained first for 20 epochs of MSE with Adam. It costs those epochs;
        on MNIST seen as flat vectors its neighbours share their row's class
        more often, but on small data sets such as digits 20 epochs are too
        few steps and they share it less. Ignored unless
        ``views="neighbors"``.
    initial_temperature : float, default=1.0
        Gumbel-softmax temperature τ0 of the first epoch.
    min_temperature : float, default=0.5
        Lower bound τ_min of the temperature.
    temperature_decay : float, default=ln(2)/50
        Rate r of the schedule ``τ_e = max(τ0 exp(-r e), τ_min)`` for epoch e
        (0-based); the default halves the temperature in 50 epochs.
    batch_size : int, default=64
        Mini-batch size.
    learning_rate : float, default=1e-3
        Adam learning rate.
    lr_schedule : {"cosine", "constant"}, default="constant"
        Learning-rate schedule; ``"cosine"`` decays to a tenth.
    max_epochs : int, default=100
        Maximum number of training epochs.
    tol : float, default=1e-4
        Relative improvement of the training loss below which an epoch counts as
        no progress.
    n_iter_no_change : int or None, default=10
        Training stops after this many epochs without progress; ``None``
        trains for ``max_epochs``, as the reference does. The temperature
        keeps falling while the loss stalls, so early stopping can end a run
        before the clusters separate (see the user guide).
    n_init : int, default=1
        Number of training runs from different initialisations; one of them
        is kept (see ``run_selection``).
    run_selection : {"agreement", "loss"}, default="agreement"
        How the run to keep is chosen when ``n_init > 1``. ``"agreement"``:
        with three runs or more, the run whose partition of up to 10,000
        evenly spaced training rows agrees most with the other runs'
        (mean normalised mutual information), the lower final loss breaking
        ties; with two runs, as ``"loss"``. ``"loss"``: the run with the
        lowest training loss in its last epoch.
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
        ``"train"``.
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
    with two differences: the KL to the uniform prior uses log K for any K, and
    KL(q(z|x,y) || p(z|y)) is computed analytically instead of from the
    sampled z.

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
        "reconstruction": [StrOptions({"auto", "bernoulli", "gaussian"})],
        "reconstruction_weight": [Interval(Real, 0, None, closed="left")],
        "categorical_weight": [Interval(Real, 0, None, closed="left")],
        "gaussian_weight": [Interval(Real, 0, None, closed="left")],
        "supervised_weight": [Interval(Real, 0, None, closed="left")],
        "labelled_batch_size": [Interval(Integral, 0, None, closed="left")],
        "consistency_weight": [Interval(Real, 0, None, closed="left")],
        "consistency_threshold": [Interval(Real, 0, 1, closed="both")],
        "initial_temperature": [Interval(Real, 0, None, closed="neither")],
        "min_temperature": [Interval(Real, 0, None, closed="neither")],
        "temperature_decay": [Interval(Real, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        **RUN_PARAMETER_CONSTRAINTS,
        **VIEW_PARAMETER_CONSTRAINTS,
    }

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        hidden_dims: tuple[int, ...] = (512, 512),
        embedding_dim: int | None = 64,
        image_shape: tuple[int, ...] | None = None,
        architecture: str = "auto",
        scaler: str | None = "auto",
        reconstruction: str = "auto",
        reconstruction_weight: float = 1.0,
        categorical_weight: float = 1.0,
        gaussian_weight: float = 1.0,
        supervised_weight: float = 1.0,
        labelled_batch_size: int = 64,
        consistency_weight: float = 0.0,
        consistency_threshold: float = 0.7,
        views: str = "augment",
        n_neighbors: int = 10,
        neighbor_space: str = "pca",
        initial_temperature: float = 1.0,
        min_temperature: float = 0.5,
        temperature_decay: float = _LN2_OVER_50,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        lr_schedule: str = "constant",
        max_epochs: int = 100,
        tol: float = 1e-4,
        n_iter_no_change: int | None = 10,
        n_init: int = 1,
        run_selection: str = "agreement",
        device: str = "auto",
        random_state=None,
        verbose: int = 0,
    ):
        super().__init__(
            n_clusters,
            hidden_dims=hidden_dims,
            embedding_dim=embedding_dim,
            image_shape=image_shape,
            architecture=architecture,
            scaler=scaler,
            batch_size=batch_size,
            learning_rate=learning_rate,
            lr_schedule=lr_schedule,
            max_epochs=max_epochs,
            device=device,
            random_state=random_state,
            verbose=verbose,
        )
        self.reconstruction = reconstruction
        self.reconstruction_weight = reconstruction_weight
        self.categorical_weight = categorical_weight
        self.gaussian_weight = gaussian_weight
        self.supervised_weight = supervised_weight
        self.labelled_batch_size = labelled_batch_size
        self.consistency_weight = consistency_weight
        self.consistency_threshold = consistency_threshold
        self.views = views
        self.n_neighbors = n_neighbors
        self.neighbor_space = neighbor_space
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.n_init = n_init
        self.run_selection = run_selection
        self.initial_temperature = initial_temperature
        self.min_temperature = min_temperature
        self.temperature_decay = temperature_decay

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
            n_features,
            self.hidden_dims,
            self._embedding_size(),
            self.n_clusters,
            self._conv_shape,
        )

    def _fit_schedule(self, training_set, rng):
        self._y_codes = self._encode_labels(training_set)
        if self.reconstruction == "auto":
            low, high = math.inf, -math.inf
            for rows, _ in training_set.all_batches():
                low = min(low, float(rows.min()))
                high = max(high, float(rows.max()))
            bernoulli = low >= 0.0 and high <= 1.0
        else:
            bernoulli = self.reconstruction == "bernoulli"
        self.reconstruction_ = "bernoulli" if bernoulli else "gaussian"
        self._tau_now = self.temperature(0)
        self._labelled = None
        if self._y_codes is not None and self.labelled_batch_size > 0:
            self._labelled = torch.nonzero(self._y_codes >= 0).squeeze(1)
            self._rows = training_set.rows

        self._prepare_views(training_set)

        def anneal(epoch):
            self._tau_now = self.temperature(epoch)

        def train_run():
            return self._train(
                "train",
                self._loss,
                training_set,
                epochs=self.max_epochs,
                on_epoch_begin=anneal,
            )

        try:
            history = self._train_runs("train", train_run, training_set)
            # The temperature of the kept run's last epoch.
            anneal(len(history) - 1)
        finally:
            del self._y_codes, self._labelled
            self.__dict__.pop("_rows", None)
        self.n_iter_ = len(history)
        self.temperature_ = float(self._tau_now)
        del self._tau_now

    def temperature(self, epoch: int) -> float:
        """Gumbel-softmax temperature ``max(τ0 exp(-r epoch), τ_min)`` of an epoch.

        Parameters
        ----------
        epoch : int
            Zero-based epoch index.

        Returns
        -------
        temperature : float
            The temperature used for that epoch's Gumbel-softmax samples.
        """
        tau = self.initial_temperature * math.exp(-self.temperature_decay * epoch)
        return max(tau, self.min_temperature)

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
    def _loss(self, module, x, index):
        if self._labelled is not None:
            # Few labels in many rows: without this, most batches hold none.
            pool = self._labelled
            pick = torch.randperm(pool.numel(), device=pool.device)
            pick = pool[pick[: self.labelled_batch_size]]
            x = torch.cat([x, self._rows(pick)])
            index = torch.cat([index, pick])
        logits = module.qy(x)
        y = F.gumbel_softmax(logits, tau=self._tau_now)
        mask = None
        if self._y_codes is not None:
            codes = self._y_codes[index]
            mask = codes >= 0
            # As in Kingma et al.'s M2: a labelled row's generative path is
            # conditioned on its known class, not on a sample of q(y|x).
            known = F.one_hot(codes.clamp_min(0), self.n_clusters).to(y.dtype)
            y = torch.where(mask.unsqueeze(1), known, y)
        mean, var = module.posterior(x, y)
        z = mean + torch.sqrt(var + 1e-10) * torch.randn_like(mean)
        prior_mean, prior_var = module.prior(y)
        bernoulli = self.reconstruction_ == "bernoulli"
        loss = (
            self.reconstruction_weight
            * reconstruction_loss(x, module.decoder(z), bernoulli)
            + self.gaussian_weight * gaussian_kl(mean, var, prior_mean, prior_var)
            + self.categorical_weight * categorical_kl_uniform(logits)
        ).mean()
        if mask is not None and bool(mask.any()):
            supervised = F.cross_entropy(logits[mask], codes[mask])
            loss = loss + self.supervised_weight * supervised
        if self.consistency_weight > 0:
            loss = loss + self.consistency_weight * self._consistency(
                module, x, index, logits
            )
        return loss

    def _consistency(self, module, x, index, logits):
        """Cross-entropy of q(y|view) to the confident argmax of q(y|x).

        Summed over the rows whose top probability reaches the threshold and
        divided by the batch size, so the term grows as the model grows sure.
        """
        with torch.no_grad():
            confidence, target = torch.softmax(logits, dim=1).max(1)
            keep = confidence >= self.consistency_threshold
        if not bool(keep.any()):
            return logits.new_zeros(())
        view_logits = module.qy(self._view(x[keep], index[keep]))
        loss = F.cross_entropy(view_logits, target[keep], reduction="sum")
        return loss / x.shape[0]

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


def _is_semi_supervised(y) -> bool:
    """Whether ``y`` is a 1-d numeric vector marking some rows unlabelled (-1)."""
    if y is None:
        return False
    try:
        y = np.asarray(y)
    except Exception:
        return False
    return y.ndim == 1 and y.dtype.kind in "iuf" and bool(np.any(y == -1))
