"""The estimator registry of ``sknclust benchmark`` and ``sknclust cluster``.

Every estimator the command line knows is one entry of :data:`ESTIMATORS`: a
name mapped to an :class:`EstimatorSpec`, whose factory builds the estimator
from ``(n_clusters, random_state, image_shape)``. A new deep estimator exported
by :mod:`sknclust` is added with one line, for instance::

    "NeuralMixtureEM": EstimatorSpec(deep("NeuralMixtureEM"), embeds=True),

Every entry runs with the estimator's defaults: the only things taken from the
data are ``n_clusters`` and, for images, ``image_shape``.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

ImageShape = tuple[int, int, int]
Factory = Callable[[int, int | None, ImageShape | None], BaseEstimator]


@dataclass(frozen=True)
class EstimatorSpec:
    """How to build one registered estimator.

    Parameters
    ----------
    factory : callable
        ``factory(n_clusters, random_state, image_shape) -> estimator``.
    embeds : bool, default=False
        Whether ``transform`` returns a learned embedding; the benchmark figure
        then shows it, and otherwise shows the standardised input.
    """

    factory: Factory
    embeds: bool = False

    def build(
        self,
        n_clusters: int,
        random_state: int | None = None,
        image_shape: ImageShape | None = None,
        *,
        params: Mapping[str, Any] | None = None,
    ) -> BaseEstimator:
        """Build the estimator; ``params`` override its defaults."""
        estimator = self.factory(n_clusters, random_state, image_shape)
        return set_params(estimator, params or {})


def _kmeans(n_clusters, random_state, image_shape):
    return KMeans(n_clusters, n_init=10, random_state=random_state)


def _gaussian_mixture(n_clusters, random_state, image_shape):
    # On standardised pixels, nearly constant features get tiny variances that
    # dominate a diagonal model; reg_covar=0.1 floors every variance at a tenth
    # of a feature's total variance (ACC on digits 0.5 -> 0.6).
    return make_pipeline(
        StandardScaler(),
        GaussianMixture(
            n_clusters,
            covariance_type="diag",
            reg_covar=0.1,
            random_state=random_state,
        ),
    )


def deep(class_name: str, **kwargs: Any) -> Factory:
    """Factory for an estimator class exported by :mod:`sknclust`.

    The class is looked up when the factory runs, so registering it here does
    not import torch, and a class still being written does not break the CLI.

    Parameters
    ----------
    class_name : str
        Name of the class in the :mod:`sknclust` namespace.
    **kwargs
        Fixed constructor arguments, e.g. ``strategy="soft"``.

    Returns
    -------
    factory : callable
        ``factory(n_clusters, random_state, image_shape) -> estimator``.
    """

    def factory(n_clusters, random_state, image_shape):
        import sknclust

        cls = getattr(sknclust, class_name, None)
        if cls is None:
            raise ValueError(f"sknclust does not export {class_name!r}.")
        return cls(
            n_clusters=n_clusters,
            random_state=random_state,
            image_shape=image_shape,
            **kwargs,
        )

    return factory


ESTIMATORS: dict[str, EstimatorSpec] = {
    "KMeans": EstimatorSpec(_kmeans),
    "GaussianMixture": EstimatorSpec(_gaussian_mixture),
    "DeepKMeans": EstimatorSpec(deep("DeepKMeans"), embeds=True),
    "NeuralMixtureEM": EstimatorSpec(deep("NeuralMixtureEM"), embeds=True),
    "GMVAEClustering": EstimatorSpec(deep("GMVAEClustering"), embeds=True),
}


def set_params(estimator: BaseEstimator, params: Mapping[str, Any]) -> BaseEstimator:
    """``estimator.set_params(**params)`` with a short error for unknown names.

    For a :class:`~sklearn.pipeline.Pipeline`, a name without ``__`` that is not
    a pipeline parameter goes to the final step, so ``covariance_type=...``
    reaches the GaussianMixture of the baseline pipeline.
    """
    if isinstance(estimator, Pipeline):
        own = estimator.get_params(deep=False)
        final = estimator.steps[-1][0]
        params = {
            k if "__" in k or k in own else f"{final}__{k}": v
            for k, v in params.items()
        }
    valid = estimator.get_params(deep=True)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"{type(estimator).__name__} has no parameter "
            f"{', '.join(map(repr, unknown))}."
        )
    return estimator.set_params(**params)


def make_estimator(
    name: str,
    n_clusters: int,
    random_state: int | None = None,
    image_shape: ImageShape | None = None,
    *,
    params: Mapping[str, Any] | None = None,
) -> BaseEstimator:
    """Build a registered estimator, or any class :mod:`sknclust` exports.

    Raises
    ------
    ValueError
        If ``name`` is unknown or a parameter does not exist.
    """
    if name in ESTIMATORS:
        spec = ESTIMATORS[name]
    else:
        import sknclust

        if not isinstance(getattr(sknclust, name, None), type):
            raise ValueError(
                f"Unknown estimator {name!r}; choose one of "
                f"{', '.join(ESTIMATORS)} or a class exported by sknclust."
            )
        spec = EstimatorSpec(deep(name))
    return spec.build(n_clusters, random_state, image_shape, params=params)


def embeds(name: str) -> bool:
    """Whether the estimator called ``name`` has a learned embedding to plot."""
    return ESTIMATORS[name].embeds if name in ESTIMATORS else True
