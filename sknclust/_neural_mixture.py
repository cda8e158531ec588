"""NeuralMixtureEM: a mixture whose component densities are network outputs."""

import math
from numbers import Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn
from torch.nn import functional as F

from sknclust._base import BaseDeepClusterer
from sknclust._neighbors import VIEW_PARAMETER_CONSTRAINTS
from sknclust._runs import CHECK_ROWS, RUN_PARAMETER_CONSTRAINTS, check_index
from sknclust.nn import ConvEncoder, mlp

# Variance floor of the per-neuron standardisation, as in BatchNorm.
_EPS = 1e-5
# Step of the running (EMA) M-step for the mixing weights.
_WEIGHT_MOMENTUM = 0.1
# A component holding fewer points than this share of 1/K is re-seeded by
# splitting the largest one (as in split-and-merge EM). Uniform weights pull
# the sizes towards 1/K, so during the warm-up the bar is higher; learned
# weights let true clusters be small.
_STARVED = 0.2
_STARVED_IN_WARMUP = 0.5
# Check rows (evenly spaced): where starved components, the component to
# split and the agreement between runs are measured.
_SPLIT_ROWS = CHECK_ROWS


class _NeuralMixtureModule(nn.Module):
    """Representation network, a linear head to K logits, and mixture buffers.

    Buffers hold what inference needs besides the weights: the per-neuron logit
    statistics of the whole training set, the log-normaliser of the
    ``"batchnorm"`` density and the log mixing weights.
    """

    def __init__(self, n_features, hidden_dims, embedding_dim, n_clusters, image_shape):
        super().__init__()
        if image_shape is None:
            self.trunk = mlp([n_features, *hidden_dims, embedding_dim])
        else:
            self.trunk = ConvEncoder(image_shape, embedding_dim)
        self.head = nn.Linear(embedding_dim, n_clusters)
        self.register_buffer("logit_mean", torch.zeros(n_clusters))
        self.register_buffer("logit_std", torch.ones(n_clusters))
        self.register_buffer("log_mass", torch.zeros(n_clusters))
        self.register_buffer(
            "log_weights", torch.full((n_clusters,), -math.log(n_clusters))
        )

    def forward(self, x):
        z = self.trunk(x)
        # The representation is linear (what transform returns); a ReLU before
        # the head keeps the logits a non-linear function of it.
        return z, self.head(torch.relu(z))


def _standardise(u):
    """Per-neuron standardisation of logits ``u`` over their rows.

    Returns ``(u_hat, mean, std, log_mass)``; ``log_mass`` is the log of the mean
    of ``exp(u_hat)`` over the rows, which divides the ``"batchnorm"`` density so
    each neuron has unit mean mass.
    """
    mean = u.mean(0)
    std = (u.var(0, unbiased=False) + _EPS).sqrt()
    u_hat = (u - mean) / std
    return u_hat, mean, std, torch.logsumexp(u_hat, 0) - math.log(u.shape[0])


def _merge_candidate(gamma, share, exclude):
    """The smaller of the two components whose responsibilities overlap most.

    The overlap is the cosine between the columns of ``gamma`` (the merge
    criterion of split-and-merge EM); pairs with ``exclude`` do not count.
    """
    norm = gamma.norm(dim=0).clamp_min(1e-12)
    overlap = (gamma.T @ gamma) / torch.outer(norm, norm)
    overlap.fill_diagonal_(-1)
    overlap[exclude, :] = overlap[:, exclude] = -1
    i, j = divmod(int(overlap.argmax()), overlap.shape[1])
    return i if share[i] <= share[j] else j


def _split_axis(points, n_iter=10):
    """Centre of ``points`` and the unit axis between their two-means halves.

    The halves start from the sign of the first principal component.
    """
    centre = points.mean(0)
    centred = points - centre
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    side = centred @ vh[0] > 0
    for _ in range(n_iter):
        if side.all() or not side.any():
            break
        a, b = centred[side].mean(0), centred[~side].mean(0)
        side = ((centred - a) ** 2).sum(1) < ((centred - b) ** 2).sum(1)
    if side.all() or not side.any():
        return centre, vh[0]
    gap = centred[side].mean(0) - centred[~side].mean(0)
    return centre, gap / gap.norm().clamp_min(1e-12)


class NeuralMixtureEM(BaseDeepClusterer):
    """Neural mixture model trained end to end by batch-wise EM (experimental).

    A network maps each sample to K relevance scores; a fixed transformation
    turns them into component densities :math:`p_k(x)` that share a common
    total mass, so no component can claim every point. Each mini-batch runs one
    EM iteration: the forward pass computes the responsibilities (E-step), the
    backward pass raises the expected complete-data log-likelihood (M-step).
    A consistency term asks two random views of each sample to fall in the same
    component. After Tissera et al., "Neural Mixture Models with
    Expectation-Maximization for End-to-end Deep Clustering" (2022).

    Read more in the :ref:`User Guide <neural_mixture_em>`.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of mixture components.
    density : {"batchnorm", "sigmoid"}, default="batchnorm"
        Transformation from logits to densities. Both standardise each logit
        neuron over the batch. ``"sigmoid"`` then takes
        :math:`p_k = \\sigma(\\hat u_k) / C`; ``"batchnorm"`` takes
        :math:`p_k = \\exp(\\hat u_k)` normalised to a unit mean over the batch.
        See Notes.
    hidden_dims : tuple of int, default=(500, 500, 2000)
        Widths of the MLP's hidden layers. Ignored by the convolutional network.
    embedding_dim : int, default=32
        Size of the representation before the K-unit head (what
        :meth:`transform` returns).
    image_shape : tuple of int, default=None
        ``(channels, height, width)`` of flattened image rows. When set, a small
        convolutional encoder replaces the MLP and the augmented views are random
        shifts, rotations, zooms and intensity changes instead of noise and
        feature dropout.
    architecture : {"auto", "mlp", "conv"}, default="auto"
        Network type. ``"auto"`` builds the convolutional one when
        ``image_shape`` is set and the MLP otherwise. ``"mlp"`` with
        ``image_shape`` keeps the MLP but still uses image augmentations.
    scaler : {"auto", "standard", "minmax", "maxabs", "global"} or None, \
            default="auto"
        Scaling applied to the input inside the estimator: per-feature
        standardisation, per-feature [0, 1], per-feature division by the maximum
        absolute value (keeps sparse input sparse), or one min-max range shared
        by all features (for pixels). ``"auto"`` picks ``"global"`` with
        ``image_shape``, ``"maxabs"`` for sparse input and ``"standard"``
        otherwise. ``None`` uses the data as given.
    consistency : {"agreement", "cross_entropy"}, default="agreement"
        Form of the consistency term. ``"agreement"``: minus the log of the
        probability that two random views of a sample fall in the same
        component, :math:`-\\log\\sum_k \\gamma_k(x')\\gamma_k(x'')`, with
        gradients through both views. ``"cross_entropy"``: the cross-entropy
        from the (fixed) responsibilities of the sample to those of one view.
    consistency_weight : float, default=1.0
        Weight of the consistency term. 0 turns it (and augmentation) off.
    views : {"augment", "neighbors"}, default="augment"
        Where the consistency term's views come from. ``"augment"``: random
        augmentations (image warps with ``image_shape``, noise and feature
        dropout otherwise). ``"neighbors"``: the row itself and one of its
        ``n_neighbors`` nearest training rows, drawn anew at every step (as in
        SCAN), which needs no knowledge of what the features mean. The
        neighbours are found once per fit, by an exact Euclidean search in the
        space that ``neighbor_space`` names: time grows with the square of the
        number of rows. See the :ref:`User Guide <neural_mixture_em>`.
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
    update_weights : bool, default=True
        Learn the mixing weights π by a running closed-form M-step (an
        exponential moving average of the batch-mean responsibilities, then one
        full-data step after training). They stay uniform for the first half
        of the epochs. After every epoch, a component left with under half of
        its 1/K share of the points during that warm-up, or under a fifth
        after it, is re-seeded by splitting the largest one (see Notes), so
        true clusters smaller than half of 1/K can be cut into during the
        warm-up. ``False`` keeps π uniform throughout, with no re-seeding,
        which favours clusters of equal size. With the MLP on MNIST, plain
        learned weights collapsed every benchmark fit; use
        ``weight_shrinkage=0.5`` or ``False`` there.
    weight_warmup : float, default=0.5
        Share of the epochs (rounded up) during which π is held uniform, with
        the warm-up's higher re-seeding bar, before it is learned; ignored
        with ``update_weights=False``. ``1.0`` holds π uniform for the whole
        fit while still re-seeding starved components, which suits clusters
        known to be of about equal size (MNIST in the User Guide); π then
        stays uniform after training too.
    weight_shrinkage : float, default=0.0
        Share :math:`\\lambda` in [0, 1) by which each M-step target for π is
        pulled towards uniform, :math:`(1 - \\lambda)\\,\\bar\\gamma_k +
        \\lambda / K`: the maximum a posteriori step under a symmetric
        Dirichlet prior worth :math:`\\lambda / (1 - \\lambda)` times the
        data's own count. It keeps a component's weight from running down
        while its points drift away. 0 is the plain M-step; ignored with
        ``update_weights=False``. Meant for the MLP: with the convolutional
        trunk it lowered ACC on digits and USPS, and on MNIST it helped one
        seed and hurt another (see the User Guide).
    split_above : float or None, default=None
        Also re-seed, after an epoch in which no component starved, when the
        largest component holds more than ``split_above`` times 1/K of the
        points: it is most likely two classes sharing one component. It is
        split, and the half goes to the smaller of the two components whose
        responsibilities overlap most (likely the two halves of a split
        class), as in split-and-merge EM. Set it above the largest true
        cluster's share times K; ``None`` turns it off. Ignored with
        ``update_weights=False``. Experimental: on MNIST it has not helped
        (see the User Guide).
    n_init : int, default=1
        Number of training runs from different initialisations; one of them
        is kept (see ``run_selection``).
    run_selection : {"agreement", "loss"}, default="agreement"
        How the run to keep is chosen when ``n_init > 1``. Runs can end in
        different partitions (two classes sharing a component while another
        class is split), and such runs disagree with each other.
        ``"agreement"``: with three runs or more, the run whose partition of
        the check rows (see Notes) agrees most with the others' (mean
        normalised mutual information), the lower final loss breaking ties;
        with two runs, as ``"loss"``. ``"loss"``: the run with the lowest
        training loss in its last epoch. With learned weights a merged
        partition can have the lower loss; with uniform weights
        (``update_weights=False``, as for flat MNIST in the User Guide) it
        does not gain from merges.
    batch_size : int, default=256
        Mini-batch size. Logits are standardised over each batch, so batches
        should be large; a ragged last batch is dropped when full ones exist.
    learning_rate : float, default=1e-3
        Adam learning rate.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        Learning-rate schedule; ``"cosine"`` decays to a tenth.
    max_epochs : int, default=100
        Epochs of EM training. All are run: the EM loss is not monotone (its
        targets γ and π move), so it cannot signal convergence.
    device : str, default="auto"
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``
        or ``"mps"``.
    random_state : int, RandomState instance or None, default=None
        Seeds weights, shuffling and augmentations. The global numpy and torch
        RNGs are left untouched.
    verbose : int, default=0
        Print a progress bar and a per-epoch log.

    Attributes
    ----------
    weights_ : ndarray of shape (n_clusters,)
        Mixing weights π.
    labels_ : ndarray of shape (n_samples,), dtype=int64
        Cluster of each training sample; every cluster is populated.
    n_iter_ : int
        Epochs of EM training run (of the kept run).
    history_ : dict of list of dict
        Per-epoch training loss and duration of the kept run, under ``"em"``.
    device_ : str
        Device the network lives on.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    sklearn.mixture.GaussianMixture : A mixture with Gaussian components, fit by
        EM on the raw features.

    Notes
    -----
    This estimator is **experimental**. The paper's exact transformation from
    network outputs to densities is not given in any source available when it
    was written (no official code is known); both formulations below are
    reconstructions consistent with the paper's description ("normalise the
    input to a sigmoid, then divide by a constant").

    Let :math:`u_k(x)` be the logits and :math:`\\hat u_k(x) = (u_k(x) -
    \\mu_k) / \\sigma_k` their standardisation, with :math:`\\mu_k, \\sigma_k`
    the mean and standard deviation of neuron k over the batch during training
    and over the whole training set (one full pass after training) at
    inference. Inference therefore never depends on batch composition.

    - ``"sigmoid"``: :math:`\\log p_k(x) = \\log\\sigma(\\hat u_k(x)) - \\log C`
      with :math:`C = 1`.
    - ``"batchnorm"``: :math:`\\log p_k(x) = \\hat u_k(x) - A_k` where
      :math:`A_k = \\log \\operatorname{mean}_j \\exp \\hat u_k(x_j)` over the
      batch in training and over the training set at inference, so every
      :math:`p_k` has unit mean.

    The E-step gives :math:`\\gamma_{ik} \\propto \\pi_k p_k(x_i)` (held
    constant); the M-step loss is :math:`-\\frac{1}{|B|}\\sum_i\\sum_k
    \\gamma_{ik}[\\log\\pi_k + \\log p_k(x_i)]`.

    With ``update_weights=True``, π is uniform for the first half of the epochs
    (uniform weights favour equal cluster sizes, but learned from the start
    they let components starve), then follows the M-step
    :math:`\\pi_k = \\operatorname{mean}_i \\gamma_{ik}` (shrunk towards
    :math:`1/K` by ``weight_shrinkage``). A component can starve in either
    phase, leaving two classes to share another: a class split in two during
    the warm-up can merge back, and on MNIST a component shrank to nothing
    during the warm-up itself. So after every epoch, a component holding
    under :math:`0.5/K` of the points during the warm-up (where uniform
    weights pull the sizes towards :math:`1/K`), or under :math:`0.2/K`
    after it (where learned weights let true clusters be small), is
    re-seeded from the largest component, as in split-and-merge EM. Shares
    are argmax counts of :math:`\\gamma` on up to 10,000 evenly spaced
    training rows, the check rows. The two head rows are tilted apart along
    the axis between the largest component's two-means halves (in the head's
    input space); after the warm-up they also share its weight, while in it
    π stays uniform. With ``split_above`` set, a component holding more than
    ``split_above``:math:`/K` of the points is split the same way when none
    starved; the component it re-seeds is the smaller of the pair
    :math:`(i, j)` (neither of them the large one) with the highest merge
    criterion :math:`\\gamma_i^\\top\\gamma_j / (\\lVert\\gamma_i\\rVert
    \\lVert\\gamma_j\\rVert)` over the check rows, whose points then mostly
    join the other one of the pair.

    :meth:`predict_proba` returns the responsibilities :math:`\\gamma`.
    :meth:`score` is the mean per-sample log-likelihood
    :math:`\\log\\sum_k \\pi_k p_k(x)` under the fixed transformation (up to
    the constant :math:`\\log C`); the consistency term is not part of it.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from sknclust import NeuralMixtureEM
    >>> X, _ = make_blobs(n_samples=300, centers=3, random_state=0)
    >>> nmm = NeuralMixtureEM(n_clusters=3, hidden_dims=(32,), batch_size=64,
    ...                       max_epochs=20, random_state=0).fit(X)
    >>> nmm.labels_.shape
    (300,)
    >>> nmm.predict_proba(X[:2]).shape
    (2, 3)
    >>> nmm.transform(X[:2]).shape
    (2, 32)
    """

    _parameter_constraints: dict = {
        **BaseDeepClusterer._parameter_constraints,
        "density": [StrOptions({"sigmoid", "batchnorm"})],
        "consistency": [StrOptions({"agreement", "cross_entropy"})],
        "consistency_weight": [Interval(Real, 0, None, closed="left")],
        "update_weights": ["boolean"],
        "weight_warmup": [Interval(Real, 0, 1, closed="both")],
        "weight_shrinkage": [Interval(Real, 0, 1, closed="left")],
        "split_above": [Interval(Real, 1, None, closed="neither"), None],
        **RUN_PARAMETER_CONSTRAINTS,
        **VIEW_PARAMETER_CONSTRAINTS,
    }

    _drop_last = True

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        density: str = "batchnorm",
        hidden_dims: tuple[int, ...] = (500, 500, 2000),
        embedding_dim: int | None = 32,
        image_shape: tuple[int, ...] | None = None,
        architecture: str = "auto",
        scaler: str | None = "auto",
        consistency: str = "agreement",
        consistency_weight: float = 1.0,
        views: str = "augment",
        n_neighbors: int = 10,
        neighbor_space: str = "pca",
        update_weights: bool = True,
        weight_warmup: float = 0.5,
        weight_shrinkage: float = 0.0,
        split_above: float | None = None,
        n_init: int = 1,
        run_selection: str = "agreement",
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        lr_schedule: str = "cosine",
        max_epochs: int = 100,
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
        self.density = density
        self.consistency = consistency
        self.consistency_weight = consistency_weight
        self.views = views
        self.n_neighbors = n_neighbors
        self.neighbor_space = neighbor_space
        self.update_weights = update_weights
        self.weight_warmup = weight_warmup
        self.weight_shrinkage = weight_shrinkage
        self.split_above = split_above
        self.n_init = n_init
        self.run_selection = run_selection

    def _embedding_size(self):
        return self.embedding_dim or 32

    def _build_module(self, n_features):
        return _NeuralMixtureModule(
            n_features,
            self.hidden_dims,
            self._embedding_size(),
            self.n_clusters,
            self._conv_shape,
        )

    # -------------------------------------------------------------- densities
    def _batch_log_density(self, u):
        """log p_k of a training batch, standardised with the batch's statistics."""
        u_hat, _, _, log_mass = _standardise(u)
        if self.density == "sigmoid":
            return F.logsigmoid(u_hat)
        return u_hat - log_mass

    def _stored_log_density(self, module, u):
        """log p_k with the stored training-set statistics (batch independent)."""
        u_hat = (u - module.logit_mean) / module.logit_std
        if self.density == "sigmoid":
            return F.logsigmoid(u_hat)
        return u_hat - module.log_mass

    # --------------------------------------------------------------- training
    def _loss(self, module, x, index):
        _, u = module(x)
        log_weights = module.log_weights
        joint = self._batch_log_density(u) + log_weights
        # E-step: responsibilities are targets, not a path for gradients.
        gamma = torch.softmax(joint.detach(), dim=1)
        loss = -(gamma * joint).sum(1).mean()
        if self.consistency_weight > 0:
            loss = loss + self.consistency_weight * self._consistency_loss(
                module, x, joint, index
            )
        if self._learning_weights:
            self._step_weights(module, gamma.mean(0))
        return loss

    def _view_log_posterior(self, module, view):
        """log γ of a batch of views, under the batch's own statistics."""
        _, u = module(view)
        return torch.log_softmax(self._batch_log_density(u) + module.log_weights, 1)

    def _consistency_loss(self, module, x, joint, index):
        """Consistency term; ``joint`` holds log π_k p_k of the batch's rows."""
        if self.consistency == "cross_entropy":
            gamma = torch.softmax(joint.detach(), dim=1)
            view = self._view(x, index)
            return -(gamma * self._view_log_posterior(module, view)).sum(1).mean()
        # Probability that two views land in the same component; its log is
        # bounded below by the clamp when the views disagree completely. With
        # neighbours, the row itself is the first view (its posterior is at
        # hand).
        if self.views == "neighbors":
            log_a = torch.log_softmax(joint, dim=1)
        else:
            log_a = self._view_log_posterior(module, self._augment(x))
        log_b = self._view_log_posterior(module, self._view(x, index))
        same = torch.logsumexp(log_a + log_b, dim=1)
        return -same.clamp_min(math.log(1e-8)).mean()

    def _step_weights(self, module, target, momentum=_WEIGHT_MOMENTUM):
        """Closed-form M-step for π: shrunk towards uniform, damped, floored.

        The shrinkage is the MAP step under a symmetric Dirichlet prior; the
        floor keeps every component alive.
        """
        with torch.no_grad():
            weights = module.log_weights.exp()
            shrink = self.weight_shrinkage
            target = (1 - shrink) * target + shrink / self.n_clusters
            weights = (1 - momentum) * weights + momentum * target.to(weights.dtype)
            floor = 0.01 / self.n_clusters
            weights = weights.clamp_min(floor)
            module.log_weights.copy_((weights / weights.sum()).log())

    def _fit_schedule(self, training_set, rng):
        # π stays uniform during the warm-up; learned from the first epoch, it
        # lets the components starve one by one.
        warmup = math.ceil(self.weight_warmup * self.max_epochs)

        def begin_epoch(epoch):
            self._learning_weights = self.update_weights and epoch >= warmup

        def end_epoch(epoch):
            if self.update_weights:
                self._split_starved(training_set, warm_up=not self._learning_weights)

        self._learning_weights = False
        self._prepare_views(training_set)

        def train_run():
            return self._train(
                "em",
                self._loss,
                training_set,
                epochs=self.max_epochs,
                early_stopping=False,
                on_epoch_begin=begin_epoch,
                on_epoch_end=end_epoch,
            )

        def partition(training_set):
            return self._check_rows(training_set)[2].cpu().numpy()

        try:
            history = self._train_runs("em", train_run, training_set, partition)
        finally:
            del self._learning_weights
        self.n_iter_ = len(history)
        learned = self.update_weights and warmup < self.max_epochs
        self._fit_inference_statistics(training_set, step_weights=learned)
        self.weights_ = self.module_.log_weights.exp().cpu().numpy().astype(np.float64)

    def _check_rows(self, training_set):
        """Head inputs, logits and hard assignments on the check rows.

        The assignments use the batch-standardised density over these rows:
        the inference statistics are stored only after training.
        """
        module = self.module_
        with torch.no_grad():
            index = check_index(training_set.n_samples, _SPLIT_ROWS)
            h = torch.cat(
                [
                    torch.relu(module.trunk(training_set.rows(part)))
                    for part in index.split(1024)
                ]
            )
            u = module.head(h)
            log_p = self._batch_log_density(u) + module.log_weights
            return h, u, log_p.argmax(1)

    def _split_starved(self, training_set, *, warm_up=False):
        """Re-seed each starved component by splitting the largest one.

        A component can lose its points, in the warm-up or after it, while
        two other classes still share one component; the largest component is
        the likeliest to hold two. A starved component takes half of it: in
        the head's input space, their two logits are tilted apart along the
        axis between the component's two-means halves, and after the warm-up
        its weight is shared between them. In the warm-up (``warm_up=True``)
        the higher bar applies and π stays uniform. With ``split_above`` set
        and none starved, an over-full largest component is split the same
        way into the merge candidate (:func:`_merge_candidate`).
        """
        module = self.module_
        h, u, labels = self._check_rows(training_set)
        with torch.no_grad():
            share = torch.bincount(labels, minlength=self.n_clusters) / len(h)
            bar = _STARVED_IN_WARMUP if warm_up else _STARVED
            starved = share < bar / self.n_clusters
            if not starved.any() and self.split_above is not None:
                # A component holding two classes: re-seed the component most
                # likely to be half of a split class, the SMEM merge pick.
                largest = int(share.argmax())
                if share[largest] > self.split_above / self.n_clusters:
                    log_p = self._batch_log_density(u) + module.log_weights
                    k = _merge_candidate(torch.softmax(log_p, 1), share, largest)
                    starved[k] = True
            if not starved.any():
                return
            targets = torch.nonzero(starved).flatten().tolist()
            largest = share.masked_fill(starved, -1).argsort(descending=True).tolist()
            head = module.head
            for k, j in zip(targets, largest, strict=False):
                members = labels == j
                if starved[j] or members.sum() < 2:
                    break
                centre, axis = _split_axis(h[members])
                proj = (h[members] - centre) @ axis
                # Tilt the logits by about one of their standard deviations
                # per standard deviation along the axis.
                step = u[members, j].std() / proj.std().clamp_min(1e-12)
                head.weight[k] = head.weight[j] + step * axis
                head.bias[k] = head.bias[j] - step * (centre @ axis)
                head.weight[j] -= step * axis
                head.bias[j] += step * (centre @ axis)
                if not warm_up:
                    weights = module.log_weights.exp()
                    weights[k] = weights[j] = weights[j] / 2
                    module.log_weights.copy_((weights / weights.sum()).log())
                if self.verbose:
                    print(
                        f"split component {j} ({share[j]:.1%} of the check rows): "
                        f"half of it re-seeds component {k} ({share[k]:.1%})"
                    )

    def _fit_inference_statistics(self, training_set, *, step_weights):
        """Whole-training-set logit statistics, then one full-data step for π.

        The step is taken only where π was learned in training.
        """
        module = self.module_
        with torch.no_grad():
            u = torch.cat(
                [module(x)[1].double() for x, _ in training_set.all_batches()]
            )
            _, mean, std, log_mass = _standardise(u)
            module.logit_mean.copy_(mean)
            module.logit_std.copy_(std)
            module.log_mass.copy_(log_mass)
            if step_weights:
                log_p = self._stored_log_density(module, u)
                gamma = torch.softmax(log_p + module.log_weights.double(), dim=1)
                self._step_weights(module, gamma.mean(0), momentum=1.0)

    # -------------------------------------------------------------- inference
    def _embed(self, module, rows):
        return module.trunk(rows)

    def _cluster_scores(self, module, rows):
        _, u = module(rows)
        return self._stored_log_density(module, u) + module.log_weights

    def _score_samples(self, module, rows):
        return torch.logsumexp(self._cluster_scores(module, rows), dim=1)
