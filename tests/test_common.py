"""scikit-learn's estimator checks on every estimator.

No check is expected to fail. LearnedClustering's predict clusters the rows of X
as one set; the row-subset invariance check sets ``n_clusters=1``, as it does for
every clusterer, and one cluster is the same for a set and for each of its rows.
"""

import inspect

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sknclust import (
    DeepKMeans,
    GMVAEClustering,
    LearnedClustering,
    NeuralMixtureEM,
    OnlineKMeans,
    ProjectiveClusteringCompressor,
)

# Default parameters except for size. n_clusters=4 matches the four classes of
# the sparse-input check's labels.
FAST = dict(n_clusters=4, hidden_dims=(16,), max_epochs=10, batch_size=32)

ESTIMATORS = [
    *(
        DeepKMeans(strategy=s, pretrain_epochs=10, **FAST)
        for s in ("soft", "alternating", "gumbel")
    ),
    GMVAEClustering(embedding_dim=4, **FAST),
    *(NeuralMixtureEM(density=d, **FAST) for d in ("batchnorm", "sigmoid")),
    *(OnlineKMeans(n_clusters=4, forgetting=f) for f in ("exponential", "linear")),
    LearnedClustering(max_clusters=4, hidden_dims=(16,), set_size=(9, 16), n_sets=64),
]

ALL = [
    DeepKMeans,
    GMVAEClustering,
    LearnedClustering,
    NeuralMixtureEM,
    OnlineKMeans,
    ProjectiveClusteringCompressor,
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_constraints_cover_exactly_the_parameters(cls):
    # Every public parameter is validated, and no validated name is a leftover
    # that the estimator does not take.
    assert set(cls._parameter_constraints) == set(cls().get_params(deep=False))


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_at_most_fifteen_parameters(cls):
    # The public API stays lean: settings beyond these are internal defaults.
    parameters = inspect.signature(cls.__init__).parameters
    assert len(parameters) - 1 <= 15  # without self
