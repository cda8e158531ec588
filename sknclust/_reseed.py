"""Re-seeding of starved clusters by splitting the largest one.

A cluster that loses (nearly) all its points during training leaves two
classes to share another cluster; the largest cluster is the likeliest to
hold two. As in split-and-merge EM, and as k-means relocates an empty
centroid, the starved cluster is re-seeded with one half of the largest.
"""

import torch

# A cluster holding less than this share of 1/K of the check rows is starved.
STARVED = 0.2


def starved_pairs(labels, n_clusters, bar=STARVED):
    """``(starved, donor)`` cluster pairs: each starved cluster with a large one.

    Donors are the largest clusters that are not starved, largest first; a
    donor needs at least two members to be split.
    """
    share = torch.bincount(labels, minlength=n_clusters) / max(len(labels), 1)
    starved = share < bar / n_clusters
    if not starved.any():
        return []
    targets = torch.nonzero(starved).flatten().tolist()
    donors = share.masked_fill(starved, -1).argsort(descending=True).tolist()
    pairs = []
    for k, j in zip(targets, donors, strict=False):
        if starved[j] or int((labels == j).sum()) < 2:
            break
        pairs.append((k, j))
    return pairs


def split_axis(points, n_iter=10):
    """Centre of ``points``, the unit axis between their two-means halves, and
    which points fall on the axis' positive side.

    The halves start from the sign of the first principal component.
    """
    centre = points.mean(0)
    centred = points - centre
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    side = centred @ vh[0] > 0
    for _ in range(n_iter):
        if side.all() or not side.any():
            break
        a, b = centred[side].mean(0), centred[~side].mean(0)
        side = ((centred - a) ** 2).sum(1) < ((centred - b) ** 2).sum(1)
    if side.all() or not side.any():
        return centre, vh[0], centred @ vh[0] > 0
    gap = centred[side].mean(0) - centred[~side].mean(0)
    return centre, gap / gap.norm().clamp_min(1e-12), side


def split_head(head, h, k, j):
    """Give logit ``k`` of a linear ``head`` one half of cluster ``j``.

    ``h`` holds the head's inputs for the members of cluster ``j``. Rows
    ``k`` and ``j`` of the head become row ``j`` tilted apart along the axis
    between the members' two-means halves, by about one standard deviation
    of logit ``j`` per standard deviation along the axis.
    """
    centre, axis, _ = split_axis(h)
    spread = ((h - centre) @ axis).std().clamp_min(1e-12)
    step = (h @ head.weight[j] + head.bias[j]).std() / spread
    head.weight[k] = head.weight[j] + step * axis
    head.bias[k] = head.bias[j] - step * (centre @ axis)
    head.weight[j] -= step * axis
    head.bias[j] += step * (centre @ axis)
