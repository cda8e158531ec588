"""Dask: grid searches on a cluster, and streams of dask chunks (extra 'dask')."""

import joblib
import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV

from sknclust import DeepKMeans, NeuralMixtureEM

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
wrappers = pytest.importorskip("dask_ml.wrappers")

SMALL = dict(hidden_dims=(8,), pretrain_epochs=5, max_epochs=4, random_state=0)


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(n_samples=160, centers=3, n_features=4, random_state=0)
    return X


def test_grid_search_on_a_local_cluster_matches_n_jobs(blobs):
    grid = {"n_clusters": [2, 3], "cluster_weight": [0.5, 1.0]}
    search = GridSearchCV(DeepKMeans(**SMALL), grid, cv=2)
    local = search.set_params(n_jobs=2).fit(blobs)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
        joblib.parallel_backend("dask"),
    ):
        remote = GridSearchCV(DeepKMeans(**SMALL), grid, cv=2, n_jobs=-1).fit(blobs)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_allclose(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )


@pytest.mark.parametrize("cls", [DeepKMeans, NeuralMixtureEM])
def test_incremental_fits_dask_chunks_through_partial_fit(cls, blobs):
    params = (
        dict(SMALL)
        if cls is DeepKMeans
        else dict(hidden_dims=(8,), max_epochs=4, batch_size=32, random_state=0)
    )
    chunks = da.from_array(blobs, chunks=40)
    incremental = wrappers.Incremental(cls(3, **params), shuffle_blocks=False)
    incremental.fit(chunks)
    by_hand = cls(3, **params)
    for start in range(0, len(blobs), 40):
        by_hand.partial_fit(blobs[start : start + 40])
    model = incremental.estimator_
    assert model.n_steps_ == by_hand.n_steps_
    np.testing.assert_array_equal(model.predict(blobs), by_hand.predict(blobs))
    # Prediction on a dask array is lazy, chunk by chunk.
    lazy = wrappers.ParallelPostFit(model).predict(chunks)
    assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(lazy.compute(), by_hand.predict(blobs))
