"""
====================================================
Learn to cluster, and to choose the number of groups
====================================================

:class:`~sknclust.LearnedClustering` is trained on labelled examples of
*some* classes and then clusters new sets of rows, of classes it has never
seen, in one forward pass, choosing how many groups each set holds. It is
the tool for a clustering task that repeats with new data of the same kind.

Here the task is to group 2-D points into blobs: the model trains on 200
labelled blobs, then clusters new sets of points drawn from new blobs.
"""

# %%
# Labelled examples of the task
# -----------------------------
# 200 classes, each a blob of 30 points with its own centre and spread.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import adjusted_rand_score

from sknclust import LearnedClustering


def blobs(n_blobs, n_points, rng):
    """Points of ``n_blobs`` new blobs and the blob of each point."""
    centres = rng.uniform(-10, 10, size=(n_blobs, 2))
    spreads = rng.uniform(0.3, 1.0, size=n_blobs)
    labels = rng.randint(n_blobs, size=n_points)
    points = centres[labels] + rng.normal(size=(n_points, 2)) * spreads[labels, None]
    return points, labels


rng = np.random.RandomState(0)
X_train, y_train = blobs(200, 6000, rng)

# %%
# Training
# --------
# ``fit`` draws random sets from the labelled rows, each with 1 to
# ``max_clusters`` classes and ``set_size`` rows, and trains the set network
# to tell which rows of a set belong together and how many groups it holds.
# The defaults draw 20,000 sets; 3,000 are enough for this small task.
model = LearnedClustering(
    max_clusters=5,
    hidden_dims=(64,),
    embedding_dim=32,
    set_size=(20, 100),
    n_sets=3000,
    random_state=0,
).fit(X_train, y_train)

# %%
# Clustering new sets
# -------------------
# Each new set comes from blobs the model has never seen. ``predict`` labels
# its rows; ``predict_n_clusters_proba`` shows how sure the model is of the
# number of groups.
test_rng = np.random.RandomState(1)
fig, axes = plt.subplots(2, 3, figsize=(10, 6), height_ratios=[3, 1])
for column, n_blobs in enumerate([2, 3, 5]):
    points, truth = blobs(n_blobs, 80, test_rng)
    labels = model.predict(points)
    p_k = model.predict_n_clusters_proba(points)
    ari = adjusted_rand_score(truth, labels)
    axes[0, column].scatter(*points.T, c=labels, cmap="tab10", s=12)
    axes[0, column].set_title(
        f"{n_blobs} blobs: {labels.max() + 1} clusters, ARI {ari:.2f}"
    )
    axes[1, column].bar(np.arange(1, 6), p_k)
    axes[1, column].set_xlabel("number of clusters k")
    axes[1, column].set_ylim(0, 1)
axes[1, 0].set_ylabel("P(k)")
fig.tight_layout()
plt.show()

# %%
# Over many new sets
# ------------------
# 100 sets of 1 to 5 new blobs: how often the number of groups is exactly
# right, and how well the partitions match.
exact, scores = 0, []
for _ in range(100):
    n_blobs = test_rng.randint(1, 6)
    points, truth = blobs(n_blobs, test_rng.randint(20, 100), test_rng)
    labels = model.predict(points)
    exact += np.unique(labels).size == np.unique(truth).size
    scores.append(adjusted_rand_score(truth, labels))
print(f"k exact on {exact} of 100 sets; mean ARI {np.mean(scores):.2f}")

# %%
# The model learns the grouping that its training classes show. On data whose
# new classes differ more from the training ones (digits it never saw, for
# instance), it does less well: see the user guide's benchmark before relying
# on it, and compare with clustering its embedding (``transform``).
