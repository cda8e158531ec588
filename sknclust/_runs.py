"""Several training runs from different initialisations, and which to keep.

Deep clusterers with ``n_init`` train that many networks on the same data and
keep one, as :class:`~sklearn.mixture.GaussianMixture` keeps one of its
initialisations; :class:`RunSelection` drives the runs and :func:`select_run`
makes the choice.
"""

from numbers import Integral

import numpy as np
import torch
from sklearn.metrics import normalized_mutual_info_score as nmi
from sklearn.utils._param_validation import Interval

# At most this many evenly spaced rows are compared between runs.
CHECK_ROWS = 10000


def check_index(n_samples: int, n_rows: int = CHECK_ROWS) -> torch.Tensor:
    """Indices of at most ``n_rows`` evenly spaced rows out of ``n_samples``.

    Evenly spaced rather than the first ones: data sorted by class would
    otherwise show only a few classes.
    """
    count = min(n_samples, n_rows)
    return torch.linspace(0, n_samples - 1, count).round().long()


def check_blocks(training_set):
    """``(rows, index)`` of the check rows of ``training_set``, in blocks of
    1024 scaled rows (``index`` for views, which need the rows' indices)."""
    for part in check_index(training_set.n_samples).split(1024):
        yield training_set.rows(part), part


def on_check_rows(training_set, fn) -> torch.Tensor:
    """``fn(rows)`` on the check rows of ``training_set``, block by block,
    concatenated. Call it under ``torch.no_grad()``."""
    return torch.cat([fn(rows) for rows, _ in check_blocks(training_set)])


def select_run(losses, partitions, verbose=0) -> int:
    """Index of the run to keep, given each run's final loss and partition.

    With three runs or more, the run whose partition agrees most (mean NMI)
    with the others', since runs that split one class and merge two others
    disagree with each other in different ways while good runs agree. The
    final loss decides ties and the choice between two runs.
    """
    losses = np.asarray(losses, dtype=float)
    if len(losses) < 3:
        return int(np.argmin(losses))
    agreement = agreements(partitions)
    # Lexicographic: highest agreement, then lowest loss.
    kept = int(np.lexsort((losses, -agreement.round(6)))[0])
    if verbose:
        print(f"kept run {kept}: agreement {np.round(agreement, 3).tolist()}")
    return kept


def agreements(partitions) -> np.ndarray:
    """Mean NMI of each partition with every other one."""
    return np.array(
        [
            np.mean([nmi(a, b) for j, b in enumerate(partitions) if j != i])
            for i, a in enumerate(partitions)
        ]
    )


class RunSelection:
    """Train ``n_init`` networks one after the other and keep one of them.

    Each run after the first starts from a fresh network drawn from the
    estimator's seeded RNG stream. With three runs or more the kept run is the
    one whose partition agrees most with the others' (see :func:`select_run`);
    with fewer, the one with the lowest final training loss.

    Parameters
    ----------
    n_init : int
        Number of runs.
    verbose : int, default=0
        Print the agreement of the runs.
    """

    parameter_constraints: dict = {
        "n_init": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, n_init, verbose=0):
        self.n_init = n_init
        self.verbose = verbose

    def fit(self, estimator, train_run, partition, training_set):
        """Train the runs on ``estimator.module_``; leave the kept one there.

        ``train_run()`` trains ``estimator.module_`` and returns its history;
        ``partition(training_set)`` gives the run's labels of the check rows.
        Returns the kept run's history.
        """
        runs = []
        for run in range(self.n_init):
            if run > 0:
                estimator.module_ = estimator._build_module(
                    estimator.n_features_in_
                ).to(estimator.device_)
            history = train_run()
            state = {k: v.clone() for k, v in estimator.module_.state_dict().items()}
            runs.append((history, state, partition(training_set)))
        kept = select_run(
            [history[-1]["train_loss"] for history, _, _ in runs],
            [labels for _, _, labels in runs],
            self.verbose,
        )
        history, state, _ = runs[kept]
        estimator.module_.load_state_dict(state)
        return history
