"""DeepKMeans inside scikit-learn's model-selection and pipeline tools."""

import numpy as np
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sknclust import DeepKMeans

FAST = dict(hidden_dims=(16,), pretrain_epochs=40, max_epochs=20, batch_size=16)


def _data():
    return make_blobs(
        n_samples=90, centers=3, n_features=4, cluster_std=0.6, random_state=1
    )


def _pipe():
    return Pipeline(
        [("scale", StandardScaler()), ("dkm", DeepKMeans(random_state=0, **FAST))]
    )


def test_grid_search_with_labels():
    X, y = _data()
    search = GridSearchCV(
        _pipe(), {"dkm__n_clusters": [2, 3]}, scoring="adjusted_rand_score", cv=2
    ).fit(X, y)
    assert search.best_params_ == {"dkm__n_clusters": 3}
    assert search.best_score_ > 0.8


def test_grid_search_default_score():
    X, _ = _data()
    search = GridSearchCV(_pipe(), {"dkm__cluster_weight": [0.1, 1.0]}, cv=2).fit(X)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.predict(X).shape == (90,)


def test_cross_validate_and_clone():
    X, y = _data()
    result = cross_validate(
        _pipe().set_params(dkm__n_clusters=3), X, y, cv=3, scoring="adjusted_rand_score"
    )
    assert result["test_score"].min() > 0.8
    est = DeepKMeans(3, strategy="gumbel", **FAST)
    twin = clone(est)
    assert twin.get_params() == est.get_params() and twin is not est
    assert not hasattr(twin, "labels_")
