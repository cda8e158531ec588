"""
=========================================
Tune a pipeline with and without labels
=========================================

A deep clustering estimator is an ordinary scikit-learn estimator, so it goes
into a :class:`~sklearn.pipeline.Pipeline` and its settings can be tuned with
:class:`~sklearn.model_selection.GridSearchCV`. This example does both on the
wine data (178 wines, 13 chemical measurements, 3 cultivars):

* **without labels**, the search ranks candidates by the estimator's own
  ``score``, its training objective on the held-out fold;
* **with labels**, for instance on a labelled sample of data like the data to
  cluster later, the search ranks them by agreement with the known classes.
"""

# %%
# A pipeline
# ----------
# The 13 measurements are in different units, so they are standardised first,
# as they would be for k-means. The data set is small, so a small network is
# enough: ``hidden_dims=(64, 32)`` instead of the default
# ``(500, 500, 2000)``.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_wine
from sklearn.metrics import make_scorer
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sknclust import DeepKMeans
from sknclust.metrics import clustering_accuracy

X, y = load_wine(return_X_y=True)

pipe = make_pipeline(
    StandardScaler(),
    DeepKMeans(n_clusters=3, hidden_dims=(64, 32), random_state=0),
)
labels = pipe.fit_predict(X)
print(f"accuracy of the untuned pipeline: {clustering_accuracy(y, labels):.3f}")

# %%
# Search without labels
# ---------------------
# Without ``scoring``, :class:`~sklearn.model_selection.GridSearchCV` calls the
# pipeline's ``score``, which is the last step's
# :meth:`~sknclust.DeepKMeans.score`: minus the training objective on the
# held-out fold, in units that do not depend on the network. It can compare
# networks, as here, or the ``strategy``, but not ``cluster_weight`` or
# ``n_clusters``, which change what the objective measures. Parameters of a
# pipeline step are named ``<step>__<parameter>``.
#
# The wine rows are sorted by cultivar, so the folds are shuffled: with the
# default unshuffled folds, each held-out fold would hold mostly one
# cultivar that training barely saw.
cv = KFold(n_splits=3, shuffle=True, random_state=0)
unsupervised = GridSearchCV(
    pipe,
    {"deepkmeans__hidden_dims": [(64, 32), (128, 64, 32)]},
    cv=cv,
)
unsupervised.fit(X)
print("best without labels:", unsupervised.best_params_)

# %%
# ``fit`` and ``score`` of the estimators accept ``y`` and ignore it, so the
# search above never saw the cultivars. They can still tell how well the
# chosen pipeline, refitted on all the data, recovers them:
best_labels = unsupervised.best_estimator_.predict(X)
print(f"accuracy of the chosen pipeline: {clustering_accuracy(y, best_labels):.3f}")

# %%
# Search with labels
# ------------------
# With ground-truth labels, an external score ranks the candidates: the
# scorer compares ``predict`` on each held-out fold with its labels. Here two
# scores are computed, the adjusted Rand index and the clustering accuracy
# (through :func:`~sklearn.metrics.make_scorer`), and the first one picks the
# winner. Now ``cluster_weight``, the weight of the k-means term, can be tuned
# as well.
supervised = GridSearchCV(
    pipe,
    {"deepkmeans__cluster_weight": [0.3, 1.0, 3.0]},
    scoring={
        "ARI": "adjusted_rand_score",
        "accuracy": make_scorer(clustering_accuracy),
    },
    refit="ARI",
    cv=cv,
)
supervised.fit(X, y)
print("best with labels:", supervised.best_params_)
best = supervised.best_index_
print(
    f"held-out ARI {supervised.cv_results_['mean_test_ARI'][best]:.3f}, "
    f"accuracy {supervised.cv_results_['mean_test_accuracy'][best]:.3f}"
)

# %%
# Compare the candidates
# ----------------------
# Each bar is a candidate's mean over the three held-out folds, with the
# spread across folds as error bars.
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
searches = [
    (unsupervised, "score", "DeepKMeans.score (no labels)"),
    (supervised, "ARI", "adjusted Rand index (labels)"),
]
for ax, (search, key, title) in zip(axes, searches, strict=True):
    results = search.cv_results_
    names = [", ".join(str(v) for v in params.values()) for params in results["params"]]
    key = "test_score" if key == "score" else f"test_{key}"
    best = np.argmax(results[f"mean_{key}"])
    colors = ["tab:orange" if i == best else "tab:blue" for i in range(len(names))]
    ax.barh(
        names,
        results[f"mean_{key}"],
        xerr=results[f"std_{key}"],
        color=colors,
    )
    ax.set_title(title)
    ax.invert_yaxis()
axes[0].set_xlabel("mean held-out score (higher is better)")
axes[1].set_xlabel("mean held-out ARI")
fig.suptitle("Grid-search candidates (best in orange)")
fig.tight_layout()
plt.show()
