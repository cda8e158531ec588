"""NeuralMixtureEM: a mixture whose component densities are network outputs."""

import copy
import math
from numbers import Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn
from torch.nn import functional as F

from sknclust._base import BaseDeepClusterer, _private_torch_rng
from sknclust._reseed import (
    SETTLE,
    TRIAL,
    merge_plan,
    split_head,
    starved_pairs,
    view_swap_rate,
)
from sknclust._runs import RunSelection, check_blocks, on_check_rows
from sknclust._start import GraphStart
from sknclust._views import Views
from sknclust.nn import ConvEncoder, mlp

# Variance floor of the per-neuron standardisation, as in BatchNorm.
_EPS = 1e-5
# Step of the running (EMA) M-step for the mixing weights.
_WEIGHT_MOMENTUM = 0.1
# Share of the epochs during which the mixing weights stay uniform.
_WARMUP = 0.5
# Power of π in the responsibilities that train the network. With the full π
# a component that grows draws more rows, which raises its weight again; on
# classes the network has not yet told apart this loop merges them. Half the
# log-prior halves the loop's gain and still lets truly large classes grow.
_PRIOR_POWER = 0.5


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


class _EMState:
    """What the loss needs besides the batch: the views and the weight phase."""

    def __init__(self, views):
        self.views = views
        self.learning_weights = False
        # First epoch whose end may re-seed a redundant component.
        self.settled_from = 0
        # (saved state dict, swap rate of the merged pair, k, j) of a re-seed on
        # trial: kept only if k and j swap fewer views than the pair did.
        self.trial = None


class NeuralMixtureEM(BaseDeepClusterer):
    """Neural mixture model trained end to end by batch-wise EM.

    A network maps each sample to K relevance scores; a fixed transformation
    turns them into component densities :math:`p_k(x)` that share a common
    total mass, so no component can claim every point. Each mini-batch runs one
    EM iteration: the forward pass computes the responsibilities (E-step), the
    backward pass raises the expected complete-data log-likelihood (M-step).
    A consistency term asks two views of each sample to fall in the same
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
        :math:`p_k = \\sigma(\\hat u_k)`; ``"batchnorm"`` takes
        :math:`p_k = \\exp(\\hat u_k)` normalised to a unit mean over the batch.
    hidden_dims : tuple of int, default=(500, 500, 2000)
        Widths of the MLP's hidden layers. Ignored with ``image_shape``.
    embedding_dim : int, default=32
        Size of the representation before the K-unit head (what
        :meth:`transform` returns).
    image_shape : tuple of int, default=None
        ``(channels, height, width)`` of flattened image rows. When set, a small
        convolutional network replaces the MLP and the views are random
        shifts, rotations, zooms and intensity changes; otherwise the view of
        a row is one of its ``n_neighbors`` nearest training rows.
    consistency_weight : float, default=3.0
        Weight of the consistency term. 0 turns it off.
    n_neighbors : int, default=10
        Neighbours per row from which views of non-image rows are drawn. The
        neighbours are found once per fit by an exact search among the rows
        projected on their 100 leading principal components; time grows with
        the square of the number of rows. The start's graph (see Notes) has
        as many neighbours.
    n_init : int, default=1
        Number of training runs from different initialisations (of the
        network; rows without ``image_shape`` start every run from the same
        graph partition). With three or more, the run whose partition agrees
        most with the others' is kept; with two, the one with the lower
        final loss.
    batch_size : int, default=256
        Mini-batch size. Logits are standardised over each batch, so batches
        should be large; a ragged last batch is dropped when full ones exist.
    learning_rate : float, default=1e-3
        Adam learning rate (with a cosine decay to a tenth).
    max_epochs : int or None, default=None
        Epochs of EM training, all of them run: the EM loss is not monotone
        (its targets γ and π move), so it cannot signal convergence. ``None``
        takes about 5,000 optimiser steps, within 20 to 100 epochs.
    device : str, default="auto"
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``
        or ``"mps"``.
    random_state : int, RandomState instance or None, default=None
        Seeds weights, shuffling and views. The global numpy and torch RNGs
        are left untouched.
    verbose : int, default=0
        Print a progress bar and a per-epoch log.

    Attributes
    ----------
    weights_ : ndarray of shape (n_clusters,)
        Mixing weights π.
    labels_ : ndarray of shape (n_samples,), dtype=int64
        Cluster of each training sample; every cluster is populated. After
        :meth:`partial_fit`, the clusters of the last chunk.
    n_iter_ : int
        Epochs of EM training run (of the kept run).
    history_ : dict of list of dict
        Per-epoch training loss and duration of the kept run, under ``"em"``,
        and of its start (rows without ``image_shape``) under
        ``"start"``.
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
    sklearn.mixture.GaussianMixture : A mixture with Gaussian components, fit by
        EM on the raw features.

    Notes
    -----
    Let :math:`u_k(x)` be the logits and :math:`\\hat u_k(x) = (u_k(x) -
    \\mu_k) / \\sigma_k` their standardisation, with :math:`\\mu_k, \\sigma_k`
    the mean and standard deviation of neuron k over the batch during training
    and over the whole training set (one full pass after training) at
    inference, so inference never depends on batch composition.
    ``"batchnorm"`` takes :math:`\\log p_k(x) = \\hat u_k(x) - A_k` with
    :math:`A_k = \\log \\operatorname{mean}_j \\exp \\hat u_k(x_j)`, so every
    :math:`p_k` has unit mean; ``"sigmoid"`` takes :math:`\\log p_k(x) =
    \\log\\sigma(\\hat u_k(x))`. The E-step gives :math:`\\gamma_{ik} \\propto
    \\pi_k p_k(x_i)` (held constant); the M-step loss is
    :math:`-\\frac{1}{|B|}\\sum_i\\sum_k \\gamma_{ik}[\\log\\pi_k + \\log
    p_k(x_i)]`. The consistency term is minus the log of the probability that
    two views of a sample fall in the same component.

    On rows without ``image_shape``, each run of :meth:`fit` starts by
    training the network for about 100 steps to predict a partition of the
    rows' ``n_neighbors`` graph (spectral parts merged by modularity, see the
    User Guide); image rows start from the random network.

    π is uniform for the first half of the epochs, then follows a running
    M-step :math:`\\pi_k = \\operatorname{mean}_i \\gamma_{ik}`. The
    responsibilities that train the network take :math:`\\pi^{1/2}`
    (renormalised) in place of π: with the full weights, a component that
    grows draws more points, which raises its weight again, and classes the
    network has not yet told apart merge. After every epoch, a component
    holding under :math:`0.2/K` of the points is re-seeded by splitting the
    largest component in two, as in split-and-merge EM. Two components whose
    rows' consistency views cross between them far more often than into any
    other hold one class: one joins the other and is re-seeded likewise
    (with neighbour views, the re-seed is undone unless the two halves it
    makes cross less).

    :meth:`predict_proba` returns the responsibilities :math:`\\gamma`.
    :meth:`score` is the mean per-sample log-likelihood
    :math:`\\log\\sum_k \\pi_k p_k(x)`; the consistency term is not part of it.

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
        "consistency_weight": [Interval(Real, 0, None, closed="left")],
        **Views.parameter_constraints,
        **GraphStart.parameter_constraints,
        **RunSelection.parameter_constraints,
    }

    _drop_last = True
    _conv_images = True

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        density: str = "batchnorm",
        hidden_dims: tuple[int, ...] = (500, 500, 2000),
        embedding_dim: int = 32,
        image_shape: tuple[int, ...] | None = None,
        consistency_weight: float = 3.0,
        n_neighbors: int = 10,
        n_init: int = 1,
        batch_size: int = 256,
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
        self.density = density
        self.consistency_weight = consistency_weight
        self.n_neighbors = n_neighbors
        self.n_init = n_init

    def _build_module(self, n_features):
        return _NeuralMixtureModule(
            n_features,
            self.hidden_dims,
            self.embedding_dim,
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
    def _loss(self, module, x, index, state):
        _, u = module(x)
        log_p = self._batch_log_density(u)
        joint = log_p + _training_prior(module)
        # E-step: responsibilities are targets, not a path for gradients.
        gamma = torch.softmax(joint.detach(), dim=1)
        loss = -(gamma * joint).sum(1).mean()
        if self.consistency_weight > 0:
            loss = loss + self.consistency_weight * self._consistency_loss(
                module, x, joint, index, state.views
            )
        if state.learning_weights:
            # π itself follows the mixture's own posterior.
            posterior = torch.softmax(log_p.detach() + module.log_weights, dim=1)
            _step_weights(module, posterior.mean(0))
        return loss

    def _view_log_posterior(self, module, view):
        """log γ of a batch of views, under the batch's own statistics."""
        _, u = module(view)
        prior = _training_prior(module)
        return torch.log_softmax(self._batch_log_density(u) + prior, 1)

    def _consistency_loss(self, module, x, joint, index, views):
        """Minus the log probability that two views land in the same component.

        ``joint`` holds log p_k plus the training prior (see
        :func:`_training_prior`) of the batch's rows. With neighbours, the
        row itself is the first view (its posterior is at hand). The clamp
        bounds the term when the views disagree completely.
        """
        if views.uses_neighbors:
            log_a = torch.log_softmax(joint, dim=1)
        else:
            log_a = self._view_log_posterior(module, views.augment(x))
        log_b = self._view_log_posterior(module, views(x, index))
        same = torch.logsumexp(log_a + log_b, dim=1)
        return -same.clamp_min(math.log(1e-8)).mean()

    def _fit_schedule(self, training_set, rng):
        epochs = self._epochs(training_set)
        # π stays uniform during the warm-up; learned from the first epoch, it
        # lets the components starve one by one.
        warmup = math.ceil(_WARMUP * epochs)
        views = Views(self._image_shape, self.n_neighbors)
        if self.consistency_weight > 0:
            views.prepare(training_set)
        state = _EMState(views)
        trial_epochs = math.ceil(TRIAL * epochs)
        last_check = epochs - trial_epochs

        def begin_epoch(epoch):
            state.learning_weights = epoch >= warmup

        def end_epoch(epoch):
            # One pass over the check rows serves both tests: the second runs
            # only when the first changed nothing.
            check = self._check_rows(training_set)
            warm_up = not state.learning_weights
            if self._split_starved(training_set, warm_up=warm_up, check=check):
                state.settled_from = max(state.settled_from, epoch + 1 + SETTLE)
                return
            if state.trial is not None:
                if epoch + 1 < state.settled_from:
                    return
                saved, before, k, j = state.trial
                state.trial = None
                after = self._trial_swap_rate(training_set, views, check, k, j)
                if after >= before:
                    # The boundary drawn through j is crossed as often as the
                    # one removed: j was one class. Undo, and check no more.
                    self.module_.load_state_dict(saved)
                    state.settled_from = last_check
                    if self.verbose:
                        print(
                            f"components {k} and {j} swap {after:.1%} of their "
                            "views: the re-seed is undone"
                        )
                    return
            if (
                not warm_up
                and self.consistency_weight > 0
                and state.settled_from <= epoch < last_check
            ):
                plan = self._redundant_pair(training_set, views, check)
                if plan is None:
                    return
                if not views.uses_neighbors:
                    # A warp keeps a row's class: the evidence is sound.
                    self._reseed_redundant(plan, check)
                    state.settled_from = epoch + 1 + SETTLE
                    return
                # A neighbour can belong to an overlapping class: on trial.
                saved = copy.deepcopy(self.module_.state_dict())
                k, _, j, rate = plan
                state.trial = (saved, rate, k, j)
                self._reseed_redundant(plan, check)
                state.settled_from = epoch + 1 + trial_epochs

        start = None
        if self._image_shape is None:
            start = GraphStart(self.n_neighbors).prepare(
                training_set, self.n_clusters, rng
            )

        def train_run():
            state.learning_weights = False
            state.settled_from = 0
            state.trial = None
            if start is not None:
                start.train(self, training_set, lambda module, x: module(x)[1])
            return self._train(
                "em",
                lambda module, x, index: self._loss(module, x, index, state),
                training_set,
                epochs=epochs,
                on_epoch_begin=begin_epoch,
                on_epoch_end=end_epoch,
            )

        def partition(training_set):
            return self._check_rows(training_set)[2].cpu().numpy()

        runs = RunSelection(self.n_init, self.verbose)
        try:
            history = runs.fit(self, train_run, partition, training_set)
        finally:
            views.release()
            if start is not None:
                start.release()
        self.history_["em"] = history
        self.n_iter_ = len(history)
        self._fit_inference_statistics(training_set, step_weights=warmup < epochs)
        self.weights_ = self.module_.log_weights.exp().cpu().numpy().astype(np.float64)

    def _partial_fit_chunk(self, training_set, rng, first):
        # The schedule follows the stream's optimiser steps: π stays uniform
        # for the first _WARMUP share of the step budget a fit takes.
        stream = self._stream
        warmup_steps = _WARMUP * self._STEPS
        views = Views(self._image_shape, self.n_neighbors)
        if self.consistency_weight > 0:
            views.prepare(training_set)  # neighbours within the chunk
        state = _EMState(views)
        start = stream.n_steps

        def begin_epoch(epoch):
            steps = start + epoch * training_set.n_batches
            state.learning_weights = steps >= warmup_steps

        def end_epoch(epoch):
            self._split_starved(training_set, warm_up=not state.learning_weights)

        try:
            self._train(
                "em",
                lambda module, x, index: self._loss(module, x, index, state),
                training_set,
                epochs=self._partial_epochs(),
                on_epoch_begin=begin_epoch,
                on_epoch_end=end_epoch,
                online=True,
            )
        finally:
            views.release()
        # The statistics of the current network on the latest chunk.
        self._fit_inference_statistics(training_set, step_weights=False)
        self.n_iter_ = len(self.history_["em"])
        self.weights_ = self.module_.log_weights.exp().cpu().numpy().astype(np.float64)

    def _check_rows(self, training_set):
        """Head inputs, logits and hard assignments on the check rows.

        The assignments use the batch-standardised density over these rows:
        the inference statistics are stored only after training.
        """
        module = self.module_
        with torch.no_grad():
            h = on_check_rows(training_set, lambda rows: torch.relu(module.trunk(rows)))
            u = module.head(h)
            return h, u, self._batch_labels(u)

    def _batch_labels(self, u):
        """Hard assignments of a batch of logits ``u``, standardised over it."""
        return (self._batch_log_density(u) + self.module_.log_weights).argmax(1)

    def _split_starved(self, training_set, *, warm_up=False, check=None):
        """Re-seed each starved component by splitting the largest one.

        A component can lose its points, in the warm-up or after it, while
        two other classes still share one component; the largest component is
        the likeliest to hold two. A starved component takes half of it: in
        the head's input space, their two logits are tilted apart along the
        axis between the component's two-means halves, and after the warm-up
        its weight is shared between them. In the warm-up (``warm_up=True``)
        π stays uniform. ``check`` is the result of :meth:`_check_rows` when
        the caller has it. Returns whether a component was re-seeded.
        """
        module = self.module_
        if check is None:
            check = self._check_rows(training_set)
        h, _, labels = check
        pairs = starved_pairs(labels, self.n_clusters)
        if self.verbose and pairs:
            share = torch.bincount(labels, minlength=self.n_clusters) / len(h)
        with torch.no_grad():
            for k, j in pairs:
                split_head(module.head, h[labels == j], k, j)
                if not warm_up:
                    weights = module.log_weights.exp()
                    weights[k] = weights[j] = weights[j] / 2
                    module.log_weights.copy_((weights / weights.sum()).log())
                if self.verbose:
                    print(
                        f"split component {j} ({share[j]:.1%} of the check rows): "
                        f"half of it re-seeds component {k} ({share[k]:.1%})"
                    )
        return bool(pairs)

    def _redundant_pair(self, training_set, views, check):
        """Two components that hold one class between them, and a donor.

        The warm-up's uniform weights can split a large class in two, leaving
        two other classes to share a component; once π is learned the loop
        between a component's size and its weight does not undo it. The two
        halves of a class give themselves away: a view of a row crosses the
        arbitrary boundary between them far more often than between two
        classes (:func:`~sknclust._reseed.redundant_pair`). Returns
        ``(k, partner, j, rate)``: the smaller half ``k``, the other half,
        the largest other component ``j``, which likely holds two classes,
        and the pair's swap rate; or None. ``check`` is the result of
        :meth:`_check_rows`.
        """
        _, _, labels = check
        rate = self._view_swap_rate(training_set, views, labels)
        plan = merge_plan(rate, labels, self.n_clusters)
        if plan is None:
            return None
        k, partner, j = plan
        if self.verbose:
            share = torch.bincount(labels, minlength=self.n_clusters) / len(labels)
            print(
                f"components {k} and {partner} swap {rate[k, partner]:.1%} of "
                f"their views: {k} ({share[k]:.1%}) joins {partner}, and half "
                f"of component {j} ({share[j]:.1%}) re-seeds it"
            )
        return k, partner, j, float(rate[k, partner])

    def _reseed_redundant(self, plan, check):
        """Merge ``k`` into ``partner`` and re-seed ``k`` with half of ``j``,
        as a starved component is (``plan`` from :meth:`_redundant_pair`)."""
        module = self.module_
        k, partner, j, _ = plan
        h, _, labels = check
        with torch.no_grad():
            split_head(module.head, h[labels == j], k, j)
            weights = module.log_weights.exp()
            weights[partner] += weights[k]
            weights[k] = weights[j] = weights[j] / 2
            module.log_weights.copy_((weights / weights.sum()).log())

    def _trial_swap_rate(self, training_set, views, check, k, j):
        """View-swap rate of components ``k`` and ``j`` on the check rows.

        The views come from a fixed seed in a forked random stream, so
        training's own random stream is left as it was.
        """
        with _private_torch_rng(0, torch.device(self.device_)):
            rate = self._view_swap_rate(training_set, views, check[2])
        return float(rate[k, j])

    def _view_swap_rate(self, training_set, views, labels):
        """:func:`~sknclust._reseed.view_swap_rate` of one view of each check
        row, whose assignments are ``labels``."""
        module = self.module_
        with torch.no_grad():
            u = torch.cat(
                [
                    module(views(rows, part))[1]
                    for rows, part in check_blocks(training_set)
                ]
            )
            return view_swap_rate(labels, self._batch_labels(u), self.n_clusters)

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
                _step_weights(module, gamma.mean(0), momentum=1.0)

    # -------------------------------------------------------------- inference
    def _embed(self, module, rows):
        return module.trunk(rows)

    def _cluster_scores(self, module, rows):
        _, u = module(rows)
        return self._stored_log_density(module, u) + module.log_weights

    def _score_samples(self, module, rows):
        return torch.logsumexp(self._cluster_scores(module, rows), dim=1)


def _training_prior(module):
    """log π^a renormalised, with a = _PRIOR_POWER: the prior of the training
    responsibilities."""
    return torch.log_softmax(_PRIOR_POWER * module.log_weights, dim=0)


def _step_weights(module, target, momentum=_WEIGHT_MOMENTUM):
    """Damped closed-form M-step for π, floored so every component stays alive."""
    with torch.no_grad():
        weights = module.log_weights.exp()
        weights = (1 - momentum) * weights + momentum * target.to(weights.dtype)
        n_clusters = weights.numel()
        weights = weights.clamp_min(0.01 / n_clusters)
        module.log_weights.copy_((weights / weights.sum()).log())
