"""
==================================
Cluster short texts from tf-idf
==================================

Text is usually clustered from a sparse bag-of-words matrix such as tf-idf.
The deep clustering estimators take a SciPy sparse matrix as it is: it stays
sparse and is densified one mini-batch at a time. This example clusters a
small corpus of short texts on five topics with
:class:`~sknclust.NeuralMixtureEM` and compares it with
:class:`~sklearn.cluster.KMeans`.
"""

# %%
# A small corpus
# --------------
# The documentation is built offline, so the corpus is made here: 400 short
# texts, each mixing words of one topic with everyday filler words, and a few
# words shared by two topics ("launch", "season", "rate"...). With real
# documents, only this cell changes; for instance
# :func:`~sklearn.datasets.fetch_20newsgroups` downloads a classic corpus.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import adjusted_rand_score

from sknclust import NeuralMixtureEM
from sknclust.metrics import clustering_accuracy

topics = {
    "space": "planet orbit telescope galaxy comet rocket astronaut moon star "
    "nebula satellite crater solar gravity asteroid eclipse probe launch",
    "cooking": "recipe oven garlic simmer sauce flour butter onion roast bake "
    "pepper salad dough spice kitchen chef dessert pan",
    "football": "goal striker referee match league penalty keeper midfield "
    "coach stadium tackle dribble offside fans transfer kick pitch season",
    "finance": "market shares investor bond inflation dividend bank stock "
    "portfolio loan currency profit budget trader earnings tax fund rate",
    "gardening": "soil seed compost tomato weeds prune bloom hedge rose shovel "
    "mulch sprout lawn fence harvest greenhouse orchard season",
}
shared = {"launch": "finance", "pan": "gardening", "pitch": "space", "rate": "cooking"}
filler = (
    "the a today new week local report people good big small time year first "
    "last great long old right early many news talk about"
).split()

rng = np.random.default_rng(0)
names = list(topics)
documents, y = [], []
for _ in range(400):
    topic = rng.integers(len(names))
    vocabulary = topics[names[topic]].split()
    vocabulary += [word for word, other in shared.items() if other == names[topic]]
    n_words = rng.integers(6, 12)
    words = [
        rng.choice(vocabulary) if rng.random() < 0.5 else rng.choice(filler)
        for _ in range(n_words)
    ]
    documents.append(" ".join(words))
    y.append(topic)
y = np.array(y)
for doc, topic in zip(documents[:4], y[:4], strict=True):
    print(f"{names[topic]:>10}: {doc}")

# %%
# Tf-idf features
# ---------------
# :class:`~sklearn.feature_extraction.text.TfidfVectorizer` returns a sparse
# CSR matrix with one row per text and one column per word.
vectorizer = TfidfVectorizer()
X = vectorizer.fit_transform(documents)
print(repr(X))

# %%
# Cluster
# -------
# The sparse matrix goes straight to ``fit``. Without ``image_shape``,
# :class:`~sknclust.NeuralMixtureEM` learns that each text belongs with its
# nearest neighbours in tf-idf space. ``max_epochs=30`` keeps this page quick
# to build; the default, ``max_epochs=None``, trains longer.
nmm = NeuralMixtureEM(n_clusters=5, max_epochs=30, random_state=0)
labels = nmm.fit_predict(X)

kmeans_labels = KMeans(n_clusters=5, n_init=10, random_state=0).fit_predict(X)

for name, pred in [("NeuralMixtureEM", labels), ("KMeans", kmeans_labels)]:
    print(
        f"{name:>16}: accuracy {clustering_accuracy(y, pred):.3f}, "
        f"ARI {adjusted_rand_score(y, pred):.3f}"
    )

# %%
# On a corpus this small and this clean, k-means on tf-idf already finds the
# topics, and the deep model does as well. The workflow is the same on real
# collections: a sparse matrix in, ``labels_`` out, and ``transform`` for an
# embedding of each text.

# %%
# What each cluster is about
# --------------------------
# The mean tf-idf weight of each word over a cluster's texts names the
# cluster: its top words are those of one topic, the filler words score low
# because tf-idf weighs down words that appear everywhere.
terms = vectorizer.get_feature_names_out()
fig, axes = plt.subplots(1, 5, figsize=(12, 3.2))
for k, ax in enumerate(axes):
    weights = np.asarray(X[labels == k].mean(axis=0)).ravel()
    top = np.argsort(weights)[::-1][:8]
    ax.barh(terms[top], weights[top], color="tab:blue")
    ax.invert_yaxis()
    main_topic = names[np.bincount(y[labels == k], minlength=5).argmax()]
    ax.set_title(
        f"cluster {k} ({np.sum(labels == k)} texts)\nmostly {main_topic}", fontsize=9
    )
    ax.tick_params(axis="x", labelsize=7)
fig.suptitle("Top words per cluster (mean tf-idf)")
fig.tight_layout()
plt.show()
