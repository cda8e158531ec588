"""The private training engine: one skorch net per training phase.

Estimators never expose skorch. They hand the engine a module, a loss function
``loss_fn(module, rows, index) -> scalar tensor`` and a :class:`TrainingSet`; the
engine runs mini-batch Adam with a learning-rate schedule, early stopping on the
training loss, optional per-epoch hooks, a progress bar and a per-epoch log, and
returns the epoch history as plain dictionaries.
"""

import math

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping, LRScheduler, ProgressBar
from torch.optim.lr_scheduler import LambdaLR


def _silent(*args, **kwargs):
    pass


class _RelativeEarlyStopping(EarlyStopping):
    """Early stopping whose relative threshold also works for negative losses."""

    def _calc_new_threshold(self, score):
        return score - self.threshold * abs(score)


class _EpochHook(Callback):
    """Calls ``hook(epoch)`` (0-based) at the start and/or end of each epoch."""

    def __init__(self, on_begin=None, on_end=None):
        self.on_begin = on_begin
        self.on_end = on_end

    def on_epoch_begin(self, net, **kwargs):
        if self.on_begin is not None:
            self.on_begin(len(net.history) - 1)

    def on_epoch_end(self, net, **kwargs):
        if self.on_end is not None:
            self.on_end(len(net.history) - 1)


class _CosineFactor:
    """Picklable cosine decay of the learning rate to ``floor`` times its start."""

    def __init__(self, epochs, floor=0.1):
        self.epochs = max(int(epochs), 1)
        self.floor = floor

    def __call__(self, epoch):
        progress = min(epoch / self.epochs, 1.0)
        return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * progress))


class _PhaseNet(NeuralNet):
    """skorch net whose data is a :class:`TrainingSet` and whose loss is a callable."""

    def __init__(self, *args, loss_fn, extra_params=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_fn = loss_fn
        self.extra_params = extra_params

    def get_all_learnable_params(self):
        yield from super().get_all_learnable_params()
        for i, param in enumerate(self.extra_params):
            yield f"extra_{i}", param

    def get_dataset(self, X, y=None):
        return X

    def get_iterator(self, dataset, training=False):
        return dataset

    def train_step_single(self, batch, **fit_params):
        # Switching a module to training mode walks all its submodules, a few
        # percent of a small step; the package only ever switches the whole
        # module, so its own flag tells whether a hook left it in eval mode.
        if not self.module_.training:
            self._set_training(True)
        rows, index = batch
        loss = self.loss_fn(self.module_, rows, index)
        loss.backward()
        return {"loss": loss, "y_pred": None}


def _adam_implementation(device):
    """Adam's fastest implementation for ``device``: one fused kernel per
    update where torch has it (its update is a large share of a step for the
    wide MLPs), else one multi-tensor dispatch per op instead of one per tensor."""
    if torch.device(device).type in ("cpu", "cuda"):
        return {"optimizer__fused": True}
    return {"optimizer__foreach": True}


def run_phase(
    name,
    module,
    loss_fn,
    training_set,
    *,
    epochs,
    learning_rate,
    device,
    lr_schedule="cosine",
    tol=1e-4,
    n_iter_no_change=10,
    early_stopping=True,
    on_epoch_begin=None,
    on_epoch_end=None,
    extra_params=(),
    optimizer_state=None,
    verbose=0,
):
    """Train ``module`` for one phase and return its history as a list of dicts.

    ``extra_params`` are tensors outside ``module`` that the optimiser also updates.
    ``optimizer_state`` is a dict that carries Adam's state from one call to the
    next (``partial_fit``): loaded when it holds one, refreshed at the end, on
    the CPU so that it pickles for any machine.
    """
    callbacks = [("hook", _EpochHook(on_epoch_begin, on_epoch_end))]
    if lr_schedule == "cosine":
        callbacks.append(
            ("lr", LRScheduler(policy=LambdaLR, lr_lambda=_CosineFactor(epochs)))
        )
    if early_stopping:
        callbacks.append(
            (
                "early_stopping",
                _RelativeEarlyStopping(
                    monitor="train_loss",
                    patience=n_iter_no_change,
                    threshold=tol,
                    sink=print if verbose else _silent,
                ),
            )
        )
    if verbose:
        callbacks.append(("progress", ProgressBar(detect_notebook=False)))
    net = _PhaseNet(
        module,
        criterion=torch.nn.Identity,
        loss_fn=loss_fn,
        extra_params=tuple(extra_params),
        optimizer=torch.optim.Adam,
        **_adam_implementation(device),
        lr=learning_rate,
        max_epochs=epochs,
        batch_size=training_set.batch_size,
        train_split=None,
        callbacks=callbacks,
        device=device,
        verbose=int(verbose),
    )
    if verbose:
        print(f"[{name}] {epochs} epochs on {device}")
    if optimizer_state is None:
        net.fit(training_set)
    else:
        net.initialize()
        if "adam" in optimizer_state:
            net.optimizer_.load_state_dict(optimizer_state["adam"])
            # The saved state holds the last call's rate: this call's wins
            # (a schedule over the stream, or set_params between calls).
            for group in net.optimizer_.param_groups:
                group["lr"] = learning_rate
                group.pop("initial_lr", None)
        net.partial_fit(training_set)
        optimizer_state["adam"] = _to_cpu(net.optimizer_.state_dict())
    keys = ("epoch", "train_loss", "dur")
    return [{k: row[k] for k in keys if k in row} for row in net.history]


def _to_cpu(obj):
    """``obj`` with every tensor in its nested dicts and lists copied to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj
