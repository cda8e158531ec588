"""scikit-learn's estimator checks on every estimator, with no expected failures."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sknclust import (
    DeepKMeans,
    GMVAEClustering,
    NeuralMixtureEM,
    ProjectiveClusteringCompressor,
)

# n_clusters=4 matches the four classes of the sparse-input check's labels.
FAST = dict(
    n_clusters=4, hidden_dims=(16,), pretrain_epochs=10, max_epochs=10, batch_size=32
)

ESTIMATORS = [
    *(DeepKMeans(strategy=s, **FAST) for s in ("soft", "alternating", "gumbel")),
    GMVAEClustering(
        n_clusters=4, hidden_dims=(16,), embedding_dim=4, max_epochs=10, batch_size=32
    ),
    *(
        NeuralMixtureEM(
            n_clusters=4, density=d, hidden_dims=(16,), max_epochs=10, batch_size=32
        )
        for d in ("batchnorm", "sigmoid")
    ),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    "cls",
    [DeepKMeans, GMVAEClustering, NeuralMixtureEM, ProjectiveClusteringCompressor],
    ids=lambda c: c.__name__,
)
def test_constraints_cover_exactly_the_parameters(cls):
    # Every public parameter is validated, and no validated name is a leftover
    # that the estimator does not take.
    assert set(cls._parameter_constraints) == set(cls().get_params(deep=False))
