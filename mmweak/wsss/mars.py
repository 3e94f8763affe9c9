# Copyright (c) mmweak contributors.
"""MARS: biased-object removal from any WSSS pseudo labels (offline maths).

Sanghyun Jo, In-Jae Yu, Kyungsu Kim, "MARS: Model-agnostic Biased Object
Removal without Additional Supervision for Weakly-Supervised Semantic
Segmentation", ICCV 2023, arXiv 2304.09913 (``shared/specs/mars.md``,
sections 3-5).

Pipeline (all functions are pure torch, batched and device agnostic):

1. :func:`cluster_image_classes`: for every image ``i`` and every class
   ``c`` of its pseudo label ``Y^b_i`` (background ``c = 0`` included),
   K-means (:func:`kmeans_batched`) on the unit-norm unsupervised features
   of the pixels labelled ``c`` (``K_fg`` / ``K_bg`` clusters). One target
   and one biased cluster are intended per foreground class.
2. :func:`rank_centroids`: with ``D(v, v') = (1 - cos(v, v')) / 2``, each
   foreground centroid gets its distance to the background centroids of
   all images (Eq. 1, mean; ``'min'`` optional)::

       dist_k^c = 1 / N_bg * sum_j D(v_k^c, v_j^0)

   Per class the centroids are sorted by decreasing distance and the
   debiased class vector is the mean of the top ``ceil(alpha * N_c K_fg)``
   (Eqs. 2-3), re-normalised.
3. :func:`similarity_map` (Eq. 4)::

       M_i(y, x) = ReLU(max_{c in C_I} cos(F_i[:, y, x], V^c))

   :func:`binarize_similarity` turns it into ``M^db`` (``> 0.5`` or a
   two-label dense CRF) and :func:`debias_label` applies Eq. 5: foreground
   pixels with ``M^db = 0`` become "biased" (``-1`` in the paper, **254**
   on disk); background and ignore (255) pixels never change.

The sanity metric of the paper (share of selected centroids that are true
targets, IoU > 0.3 with the class's GT mask) is computed by
:func:`cluster_target_flags` and :func:`selected_target_share` from the
per-pixel cluster assignments that :func:`cluster_image_classes` returns
with ``return_assignments=True``.

Optional (mmweak): :func:`fit_feature_projection` fits a label-free
:class:`FeatureProjection` (centring, or centring plus principal
components) on the training images' features, applied before steps 1 and
3 to features that are not centred by their model.
"""
import math
from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

ArrayLike = Union[np.ndarray, Tensor]
IGNORE_INDEX = 255
BIASED_INDEX = 254


# ------------------------------------------ optional feature projection
class FeatureProjection(NamedTuple):
    """Label-free linear map of dense features, ``P (x - mean)``.

    Fitted on the features of the training images themselves (no label):
    centring alone (``components`` None) or centring plus the top
    principal components. Post-ReLU CNN maps are all non-negative, so any
    two of them have a high cosine and Eq. 4's similarity stays above 0.5
    almost everywhere; a few principal directions of the centred features
    keep what varies between image regions (the role STEGO's trained
    low-dimensional head plays for the paper's features).

    Attributes:
        mean (Tensor): (D, ) mean feature.
        components (Tensor | None): (k, D) orthonormal rows, by decreasing
            variance.
        explained (float | None): Share of the total variance the rows
            keep.
    """
    mean: Tensor
    components: Optional[Tensor] = None
    explained: Optional[float] = None

    @property
    def in_dim(self) -> int:
        return int(self.mean.shape[0])

    def __call__(self, feats: Tensor) -> Tensor:
        """(..., D, h, w) -> (..., k, h, w) (or centred (..., D, h, w))."""
        if feats.shape[-3] != self.in_dim:
            raise ValueError(f'features are {feats.shape[-3]}-d but the '
                             f'projection was fitted on {self.in_dim}-d ones')
        x = feats - self.mean.to(feats)[:, None, None]
        if self.components is None:
            return x
        return torch.einsum('kd,...dhw->...khw', self.components.to(x), x)


def feature_moments(feats: Tensor,
                    second: bool = True
                    ) -> Tuple[Tensor, Optional[Tensor], int]:
    """Sum, sum of outer products (float64; None with ``second=False``,
    enough for centring) and pixel count of (D, h, w) or (B, D, h, w)
    features: accumulate over images, then call
    :func:`fit_feature_projection`."""
    x = feats.movedim(-3, -1).reshape(-1, feats.shape[-3]).double()
    return x.sum(0), (x.T @ x if second else None), int(x.shape[0])


def fit_feature_projection(sum_x: Tensor,
                           sum_xx: Optional[Tensor],
                           count: int,
                           dim: Optional[int] = None) -> FeatureProjection:
    """Mean and (with ``dim``) the top-``dim`` principal components from
    the accumulated moments of :func:`feature_moments`.

    Each component's sign is fixed so its largest-magnitude entry is
    positive, so the result does not depend on the eigen-solver.
    """
    if count < 1:
        raise ValueError('no feature vector to fit the projection on')
    d = int(sum_x.shape[0])
    mean = sum_x.double() / count
    if dim is None:
        return FeatureProjection(mean.float())
    if not 1 <= int(dim) <= d:
        raise ValueError(f'the projection dim must be in [1, {d}] for '
                         f'{d}-d features, got {dim}')
    if sum_xx is None or tuple(sum_xx.shape) != (d, d):
        raise ValueError(f'sum_xx must be ({d}, {d}) for principal '
                         f'components, got '
                         f'{None if sum_xx is None else tuple(sum_xx.shape)}')
    cov = sum_xx.double() / count - torch.outer(mean, mean)
    evals, evecs = torch.linalg.eigh((cov + cov.T) / 2)
    order = torch.argsort(evals, descending=True)[:int(dim)]
    comps = evecs[:, order].T
    peak = comps.gather(1, comps.abs().argmax(1, keepdim=True))
    comps = comps * torch.where(peak < 0, -1.0, 1.0).to(comps)
    total = evals.clamp(min=0).sum()
    explained = float(evals[order].clamp(min=0).sum() / total) \
        if total > 0 else 0.0
    return FeatureProjection(mean.float(), comps.float(), explained)


# --------------------------------------------------------------- K-means
class KMeansResult(NamedTuple):
    """Output of :func:`kmeans_batched`.

    Attributes:
        centroids (Tensor): (P, K, D) unit-norm centroids, ``K = max(k)``.
            Rows ``>= k_p`` of a problem with fewer clusters and all rows of
            a problem without valid points are zero.
        labels (Tensor): (P, M) int64 cluster index of every point, -1 for
            invalid points.
        num_clusters (Tensor): (P,) int64 clusters actually fitted: ``k_p``,
            1 when the problem has fewer valid points than ``k_p`` (the
            centroid is then duplicated into the ``k_p`` rows), 0 without
            valid points.
        iterations (int): Lloyd iterations run (early stop included).
    """
    centroids: Tensor
    labels: Tensor
    num_clusters: Tensor
    iterations: int


def _sq_dist(x: Tensor, x_sq: Tensor, c: Tensor) -> Tensor:
    """Squared Euclidean distances (P, M, K) by one batched matrix product:
    ``|x|^2 + |c|^2 - 2 x c^T``, clamped at 0."""
    c_sq = (c * c).sum(-1)
    dist = torch.baddbmm(
        x_sq[:, :, None] + c_sq[:, None, :], x, c.transpose(1, 2), alpha=-2)
    return dist.clamp_(min=0)


def _sample_index(weights: Tensor, u: float) -> Tensor:
    """Per row, the index drawn with probability proportional to
    ``weights`` (P, M) (float64, >= 0) by inverse CDF at ``u`` in [0, 1):
    the first index whose cumulative weight exceeds ``u * total``. Zero
    weight (invalid or padded) points are never drawn."""
    cum = weights.cumsum(dim=1)
    target = cum[:, -1:] * u
    return (cum <= target).sum(dim=1).clamp_(max=weights.shape[1] - 1)


def kmeans_batched(x: Tensor,
                   valid: Optional[Tensor] = None,
                   k: Union[int, Sequence[int], Tensor] = 2,
                   iters: int = 100,
                   seed: int = 0) -> KMeansResult:
    """K-means on L2-normalised vectors for a batch of independent problems.

    Every problem ``p`` is a padded point set ``x[p]`` whose valid rows are
    ``valid[p]``. The points are L2-normalised (Euclidean K-means on the
    unit sphere, consistent with cosine), initialised by k-means++ and
    refined by Lloyd iterations until no assignment changes (or ``iters``);
    the final centroids are re-normalised. All problems are solved together
    with batched matrix products; only the iterations are a Python loop.

    - **Randomness.** k-means++ draws one uniform number per centre from a
      private ``torch.Generator`` seeded with ``seed`` (the global RNG is
      neither used nor advanced). The same draws serve every problem, and a
      draw picks a point by inverse CDF over the problem's own valid points,
      so a problem's result depends only on its own points, ``k_p`` and
      ``seed``: not on the other problems in the batch nor on its padding
      (up to floating-point rounding of the matrix products).
    - **Empty clusters** (after an update) are moved to the valid points
      farthest from their current centroids, one distinct point each.
    - **Fewer valid points than** ``k_p``: one cluster (the mean of the
      points) whose centroid is duplicated ``k_p`` times; every point gets
      label 0. A problem without valid points gets zero centroids.

    Args:
        x (Tensor): (P, M, D) points, any float dtype (half precision is
            computed in float32).
        valid (Tensor, optional): (P, M) bool mask of real points. Defaults
            to all points.
        k (int | Sequence[int] | Tensor): Clusters, one for all problems or
            one per problem (P,). Defaults to 2.
        iters (int): Maximum Lloyd iterations. Defaults to 100.
        seed (int): Seed of the k-means++ draws. Defaults to 0.

    Returns:
        KMeansResult: centroids (P, max k, D), labels (P, M), the number of
        fitted clusters per problem and the iterations run.
    """
    if x.dim() != 3 or not x.is_floating_point():
        raise ValueError('x must be a floating (P, M, D) tensor, got '
                         f'{x.dtype} {tuple(x.shape)}')
    num, length, dims = x.shape
    device = x.device
    if valid is None:
        valid = torch.ones(num, length, dtype=torch.bool, device=device)
    if tuple(valid.shape) != (num, length):
        raise ValueError(f'valid must have shape {(num, length)}, got '
                         f'{tuple(valid.shape)}')
    valid = valid.to(device=device, dtype=torch.bool)
    ks = torch.as_tensor(k, dtype=torch.long, device=device)
    ks = ks.expand(num).clone() if ks.dim() == 0 else ks.reshape(-1)
    if ks.numel() != num:
        raise ValueError(f'k must be an int or hold one value per problem '
                         f'({num}), got {ks.numel()} values')
    if num and int(ks.min()) < 1:
        raise ValueError(f'k must be >= 1, got {ks.tolist()}')
    if int(iters) < 0:
        raise ValueError(f'iters must be >= 0, got {iters}')
    kmax = int(ks.max()) if num else 1
    if num == 0 or length == 0:
        return KMeansResult(
            x.new_zeros(num, kmax, dims),
            torch.full((num, length), -1, dtype=torch.long, device=device),
            torch.zeros(num, dtype=torch.long, device=device), 0)

    # fp16 / bf16 feature caches are clustered in float32
    x = x.to(torch.promote_types(x.dtype, torch.float32))
    validf = valid.to(x.dtype)
    x = F.normalize(x, dim=-1) * validf[..., None]
    x_sq = (x * x).sum(-1)
    n_valid = valid.sum(1)
    rows = torch.arange(num, device=device)
    enabled = torch.arange(kmax, device=device)[None] < ks[:, None]
    regular = n_valid >= ks  # problems that get k_p real clusters
    live = enabled & regular[:, None]
    inf = torch.tensor(float('inf'), dtype=x.dtype, device=device)

    # k-means++ initialisation; disabled centres stay zero
    gen = torch.Generator(device='cpu').manual_seed(int(seed))
    centroids = x.new_zeros(num, kmax, dims)
    closest = None
    for j in range(kmax):
        u = float(torch.rand((), generator=gen, dtype=torch.float64))
        if closest is None:
            weights = valid.double()
        else:
            weights = closest.double() * valid
            weights = torch.where(weights.sum(1, keepdim=True) > 0, weights,
                                  valid.double())
        point = x[rows, _sample_index(weights, u)]
        centroids[:, j] = point * enabled[:, j:j + 1]
        dist = _sq_dist(x, x_sq, centroids[:, j:j + 1])[..., 0]
        closest = dist if closest is None else torch.where(
            enabled[:, j:j + 1], torch.minimum(closest, dist), closest)

    # Lloyd iterations on the active problems only: a problem whose
    # assignment did not change (and had no cluster moved) has reached its
    # fixed point (its centroids would be recomputed from the same points),
    # so it leaves the active set once a quarter of the set has converged,
    # and the batch shrinks; the padded length shrinks with it (valid
    # points are expected first, as cluster_image_classes packs them; any
    # layout stays correct)
    check = valid & regular[:, None]
    act = torch.arange(num, device=device)
    xa, xa_sq, va, ena, livea, checka = (x, x_sq, validf, enabled, live,
                                         check)
    ca = centroids
    prev = None
    done = 0
    for _ in range(int(iters)):
        if act.numel() == 0:
            break
        done += 1
        dist = _sq_dist(xa, xa_sq, ca).masked_fill_(~ena[:, None, :], inf)
        assign = dist.argmin(-1)
        onehot = F.one_hot(assign, kmax).to(x.dtype) * va[..., None]
        counts = onehot.sum(1)
        new = torch.bmm(onehot.transpose(1, 2), xa) / counts.clamp(
            min=1)[..., None]
        empty = (counts == 0) & livea
        moved = torch.zeros(act.numel(), dtype=torch.bool, device=device)
        if bool(empty.any()):
            # move the j-th empty cluster to the j-th farthest point; when
            # every point sits on a centroid (fewer distinct points than
            # k) nothing is gained: the cluster keeps its centroid
            own = dist.gather(-1, assign[..., None])[..., 0]
            own = own.masked_fill(va == 0, -1)
            far_d, far = own.sort(dim=1, descending=True, stable=True)
            rank = (empty.long().cumsum(1) - 1).clamp(
                min=0, max=min(kmax, xa.shape[1]) - 1)
            pick = far.gather(1, rank)
            useful = empty & (far_d.gather(1, rank) > 0)
            far_pts = xa.gather(1, pick[..., None].expand(-1, -1, dims))
            new = torch.where(useful[..., None], far_pts,
                              torch.where(empty[..., None], ca, new))
            moved = useful.any(1)
        centroids[act] = new
        masked = assign.masked_fill(~checka, 0)
        if prev is None:
            changed = torch.ones_like(moved)
        else:
            changed = (masked != prev).any(1) | moved
        num_changed = int(changed.sum())
        if num_changed > 0.75 * act.numel():
            # compacting copies the points: only worth it when the batch
            # shrinks by a quarter (a converged problem carried along
            # stays at its fixed point)
            ca, prev = new, masked
            continue
        keep = changed.nonzero()[:, 0]
        act = act[keep]
        if act.numel() == 0:
            break
        length_a = int(valid[act].sum(1).max())
        last = int(valid[act].float().cumsum(1).argmax(1).max()) + 1 \
            if length_a > 0 else 1
        xa, xa_sq = x[act, :last], x_sq[act, :last]
        va, ena, livea = validf[act, :last], enabled[act], live[act]
        checka = check[act, :last]
        ca, prev = new[keep], masked[keep, :last]

    dist = _sq_dist(x, x_sq, centroids).masked_fill_(
        ~enabled[:, None, :], inf)
    labels = dist.argmin(-1)

    # fewer points than k: one cluster, centroid duplicated
    small = ~regular
    if bool(small.any()):
        mean = x.sum(1) / n_valid.clamp(min=1)[:, None].to(x.dtype)
        dup = mean[:, None, :] * enabled[..., None]
        centroids = torch.where(small[:, None, None], dup, centroids)
        labels = labels.masked_fill(small[:, None], 0)
    centroids = F.normalize(centroids, dim=-1)
    labels = labels.masked_fill(~valid, -1)
    fitted = torch.where(regular, ks, (n_valid > 0).long())
    return KMeansResult(centroids, labels, fitted, done)


# ------------------------------------------------- step 1: per-image classes
class ImageClusters(NamedTuple):
    """Output of :func:`cluster_image_classes` with
    ``return_assignments=True``.

    Attributes:
        centroids (list[dict[int, Tensor]]): Per image ``{class: (K, D)}``.
        assignments (Tensor): (B, h, w) int64 cluster index (within its
            class) of every feature-grid pixel, -1 where the label is
            ignored (255 / 254) or out of range.
        labels (Tensor): (B, h, w) int64 labels on the feature grid (the
            nearest-neighbour downsampling that was clustered).
    """
    centroids: List[Dict[int, Tensor]]
    assignments: Tensor
    labels: Tensor


def downsample_labels(labels: ArrayLike, size: Tuple[int, int]) -> Tensor:
    """Nearest-neighbour resize of (B, H, W) integer labels to ``size``.

    Uses ``'nearest-exact'``: each output cell takes the label at its centre
    (e.g. pixel ``8 i + 4`` for stride 8), not the top-left corner.
    """
    labels = torch.as_tensor(labels)
    if labels.dim() != 3:
        raise ValueError('labels must be (B, H, W), got shape '
                         f'{tuple(labels.shape)}')
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels.long()
    out = F.interpolate(
        labels[:, None].double(), size=tuple(size), mode='nearest-exact')
    return out[:, 0].long()


def cluster_image_classes(
        feats: Tensor,
        labels: ArrayLike,
        k_fg: int = 2,
        k_bg: int = 2,
        ignore_index: int = IGNORE_INDEX,
        biased_index: int = BIASED_INDEX,
        iters: int = 100,
        seed: int = 0,
        return_assignments: bool = False
) -> Union[List[Dict[int, Tensor]], ImageClusters]:
    """Step 1 of MARS: K-means per (image, class) of the pseudo labels.

    The labels are downsampled to the feature grid (nearest, cell centre);
    pixels at ``ignore_index`` or ``biased_index`` are left out. Every
    (image, class present on the grid) pair is one K-means problem with
    ``k_bg`` clusters for background (0) and ``k_fg`` for the others; all
    problems of the batch go through one :func:`kmeans_batched` call, so
    the result of an image does not depend on the other images it is
    batched with. A class whose region vanishes on the feature grid is
    skipped.

    Args:
        feats (Tensor): (B, D, h, w) features (L2-normalised here anyway).
        labels (Tensor | np.ndarray): (B, H, W) pseudo labels 0..C, 255.
        k_fg (int): Clusters per foreground class. Defaults to 2.
        k_bg (int): Clusters for background. Defaults to 2.
        ignore_index (int): Ignored label. Defaults to 255.
        biased_index (int): "Biased" label, also left out. Defaults to 254.
        iters (int): K-means iterations. Defaults to 100.
        seed (int): K-means++ seed. Defaults to 0.
        return_assignments (bool): Also return the per-pixel assignments
            (for :func:`cluster_target_flags`). Defaults to False.

    Returns:
        list[dict[int, Tensor]] | ImageClusters: Per image ``{class_id:
        (K, D) unit-norm centroids}`` (or the :class:`ImageClusters` with
        assignments).
    """
    if feats.dim() != 4 or not feats.is_floating_point():
        raise ValueError('feats must be a floating (B, D, h, w) tensor, got '
                         f'{feats.dtype} {tuple(feats.shape)}')
    bsz, dims, height, width = feats.shape
    device = feats.device
    labels = torch.as_tensor(labels)
    if labels.dim() != 3 or labels.shape[0] != bsz:
        raise ValueError(f'labels must be (B={bsz}, H, W), got shape '
                         f'{tuple(labels.shape)}')
    small = downsample_labels(labels, (height, width)).to(device)
    flat = small.reshape(bsz, -1)
    ok = (flat >= 0) & (flat != ignore_index) & (flat != biased_index)
    num_labels = int(flat[ok].max()) + 1 if bool(ok.any()) else 1

    # problems = (image, class) pairs present on the grid, image-major
    present = torch.zeros(bsz, num_labels, dtype=torch.bool, device=device)
    img_idx = torch.arange(bsz, device=device)[:, None].expand_as(flat)
    present[img_idx[ok], flat[ok]] = True
    pid_table = present.reshape(-1).long().cumsum(0).reshape(
        bsz, num_labels) - 1
    pairs = present.nonzero()  # (P, 2): image, class (row-major order)
    num_prob = pairs.shape[0]

    # compact each problem's pixels (raster order) into a padded set
    pix = ok.reshape(-1).nonzero()[:, 0]
    pid = pid_table[img_idx.reshape(-1)[pix], flat.reshape(-1)[pix]]
    order = torch.argsort(pid, stable=True)
    pix, pid = pix[order], pid[order]
    counts = torch.bincount(pid, minlength=num_prob)
    starts = counts.cumsum(0) - counts
    pos = torch.arange(pid.numel(), device=device) - starts[pid]
    length = int(counts.max()) if num_prob else 0
    points = feats.permute(0, 2, 3, 1).reshape(-1, dims)
    x = feats.new_zeros(num_prob, length, dims)
    x[pid, pos] = points[pix]
    valid = torch.zeros(num_prob, length, dtype=torch.bool, device=device)
    valid[pid, pos] = True
    ks = torch.where(pairs[:, 1] == 0, int(k_bg), int(k_fg))

    result = kmeans_batched(x, valid, ks, iters=iters, seed=seed)

    out: List[Dict[int, Tensor]] = [dict() for _ in range(bsz)]
    for p, (b, c) in enumerate(pairs.tolist()):
        out[b][c] = result.centroids[p, :int(ks[p])]
    if not return_assignments:
        return out
    assign = torch.full((bsz * height * width, ),
                        -1,
                        dtype=torch.long,
                        device=device)
    assign[pix] = result.labels[pid, pos]
    return ImageClusters(out, assign.reshape(bsz, height, width), small)


class CentroidBank(NamedTuple):
    """Centroids of many images gathered per class (see
    :func:`collect_centroids`).

    Attributes:
        fg (dict[int, Tensor]): class -> (N_c * K_fg, D) centroids.
        bg (Tensor): (N_bg, D) background centroids of all images.
        fg_origin (dict[int, Tensor]): class -> (N_c * K_fg, 2) int64
            ``(image index, cluster index)`` of every row of ``fg[c]``.
    """
    fg: Dict[int, Tensor]
    bg: Tensor
    fg_origin: Dict[int, Tensor]


def collect_centroids(per_image: Sequence[Dict[int, Tensor]],
                      image_ids: Optional[Sequence[int]] = None,
                      background: int = 0) -> CentroidBank:
    """Gather the per-image centroids of :func:`cluster_image_classes`.

    Args:
        per_image (Sequence[dict[int, Tensor]]): ``{class: (K, D)}`` per
            image.
        image_ids (Sequence[int], optional): Index of each image (for
            ``fg_origin``). Defaults to ``0 .. len(per_image) - 1``.
        background (int): Background class id. Defaults to 0.

    Returns:
        CentroidBank: foreground per class, all background, origins.
    """
    if image_ids is None:
        image_ids = range(len(per_image))
    fg: Dict[int, List[Tensor]] = {}
    origin: Dict[int, List[Tensor]] = {}
    bg: List[Tensor] = []
    dims = None
    for img, cents in zip(image_ids, per_image):
        for c, v in cents.items():
            dims = v.shape[-1]
            if int(c) == background:
                bg.append(v)
                continue
            fg.setdefault(int(c), []).append(v)
            org = torch.stack([
                torch.full((v.shape[0], ), int(img), dtype=torch.long),
                torch.arange(v.shape[0])
            ], 1)
            origin.setdefault(int(c), []).append(org)
    bg_t = torch.cat(bg) if bg else torch.zeros(0, dims or 0)
    return CentroidBank({c: torch.cat(v)
                         for c, v in sorted(fg.items())}, bg_t,
                        {c: torch.cat(v)
                         for c, v in sorted(origin.items())})


# ------------------------------------------------------ step 2: ranking
@dataclass
class RankedCentroids:
    """Output of :func:`rank_centroids`.

    Attributes:
        vectors (dict[int, Tensor]): class -> (D,) unit-norm debiased class
            vector ``V^c``.
        selected (dict[int, Tensor]): class -> (n_sel,) int64 rows of
            ``fg[c]`` that were averaged, farthest first.
        distances (dict[int, Tensor]): class -> (N_c * K_fg,) distance of
            every centroid to the background centroids.
        alpha (float): Selected fraction.
        reduce (str): ``'mean'`` or ``'min'``.
    """
    vectors: Dict[int, Tensor]
    selected: Dict[int, Tensor]
    distances: Dict[int, Tensor]
    alpha: float
    reduce: str

    def matrix(self, num_labels: Optional[int] = None) -> Tensor:
        """Class vectors stacked by label id: (num_labels, D), zero rows for
        background and for classes without a vector; ``num_labels``
        defaults to ``max class + 1``."""
        if not self.vectors:
            raise ValueError('no class vectors')
        any_v = next(iter(self.vectors.values()))
        if num_labels is None:
            num_labels = max(self.vectors) + 1
        out = any_v.new_zeros(int(num_labels), any_v.shape[-1])
        for c, v in self.vectors.items():
            out[c] = v
        return out


def background_distance(query: Tensor,
                        bg: Tensor,
                        reduce: str = 'mean',
                        chunk: int = 4096) -> Tensor:
    """``D(v, v') = (1 - cos(v, v')) / 2`` of every query to the background
    centroids, reduced by mean (Eq. 1) or min, in chunked matrix products.

    Args:
        query (Tensor): (N, D) vectors.
        bg (Tensor): (M, D) background vectors, M >= 1.
        reduce (str): ``'mean'`` or ``'min'``. Defaults to ``'mean'``.
        chunk (int): Rows of each operand per product (memory is
            ``chunk ** 2`` values). Defaults to 4096.

    Returns:
        Tensor: (N,) distances in ``query``'s dtype (the mean is accumulated
        in float64).
    """
    if reduce not in ('mean', 'min'):
        raise ValueError(f"reduce must be 'mean' or 'min', got {reduce!r}")
    if bg.dim() != 2 or bg.shape[0] == 0:
        raise ValueError('bg must be a non-empty (M, D) tensor, got shape '
                         f'{tuple(bg.shape)}')
    if query.dim() != 2 or query.shape[1] != bg.shape[1]:
        raise ValueError(f'query must be (N, {bg.shape[1]}), got '
                         f'{tuple(query.shape)}')
    chunk = int(chunk)
    if chunk < 1:
        raise ValueError(f'chunk must be >= 1, got {chunk}')
    q = F.normalize(query, dim=-1)
    b = F.normalize(bg.to(query), dim=-1)
    out = []
    for i in range(0, q.shape[0], chunk):
        qi = q[i:i + chunk]
        acc = None
        for j in range(0, b.shape[0], chunk):
            dist = (1 - qi @ b[j:j + chunk].T) / 2
            if reduce == 'mean':
                part = dist.sum(1, dtype=torch.float64)
                acc = part if acc is None else acc + part
            else:
                part = dist.amin(1)
                acc = part if acc is None else torch.minimum(acc, part)
        if reduce == 'mean':
            acc = acc / b.shape[0]
        out.append(acc.to(query.dtype))
    return torch.cat(out) if out else query.new_zeros(0)


def num_selected(n: int, alpha: float) -> int:
    """``ceil(alpha * n)`` robust to float noise (``0.7 * 10`` gives 7),
    at least 1 for ``n >= 1``."""
    if n <= 0:
        return 0
    return max(1, min(n, math.ceil(round(alpha * n, 9))))


def rank_centroids(fg: Dict[int, Tensor],
                   bg: Tensor,
                   alpha: float = 0.4,
                   reduce: str = 'mean',
                   chunk: int = 4096) -> RankedCentroids:
    """Step 2 of MARS: debiased class vectors (Eqs. 1-3).

    Every foreground centroid gets its ``'mean'`` (Eq. 1, default) or
    ``'min'`` distance to all background centroids
    (:func:`background_distance`, one chunked pass over all classes). Per
    class, the centroids are sorted by decreasing distance (stable: ties
    keep row order) and the top ``ceil(alpha * n)`` are averaged and
    re-normalised into ``V^c``.

    Args:
        fg (dict[int, Tensor]): class -> (N_c * K_fg, D) foreground
            centroids of all images.
        bg (Tensor): (N_bg, D) background centroids of all images.
        alpha (float): Fraction kept, in (0, 1]. Defaults to 0.4.
        reduce (str): ``'mean'`` or ``'min'``. Defaults to ``'mean'``.
        chunk (int): Chunk size of the distance products. Defaults to 4096.

    Returns:
        RankedCentroids: vectors, selected rows and distances per class.
    """
    if not 0 < float(alpha) <= 1:
        raise ValueError(f'alpha must be in (0, 1], got {alpha}')
    classes = [c for c in sorted(fg) if fg[c].shape[0] > 0]
    vectors: Dict[int, Tensor] = {}
    selected: Dict[int, Tensor] = {}
    distances: Dict[int, Tensor] = {}
    if classes:
        allv = torch.cat([fg[c] for c in classes])
        dist = background_distance(allv, bg.to(allv.device), reduce, chunk)
        start = 0
        for c in classes:
            n = fg[c].shape[0]
            d_c = dist[start:start + n]
            start += n
            order = torch.sort(d_c, descending=True, stable=True).indices
            top = order[:num_selected(n, float(alpha))]
            vec = F.normalize(fg[c], dim=-1)[top].mean(0)
            vectors[c] = F.normalize(vec, dim=0)
            selected[c] = top
            distances[c] = d_c
    return RankedCentroids(vectors, selected, distances, float(alpha),
                           reduce)


# ---------------------------------------------------------- sanity metric
def cluster_target_flags(assignments: Tensor,
                         labels: Tensor,
                         gt: ArrayLike,
                         num_labels: int,
                         num_clusters: Optional[int] = None,
                         iou_thr: float = 0.3,
                         ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Whether each cluster region is a "true target" of its class: IoU >
    ``iou_thr`` with the GT mask of that class (paper's sanity check).

    The region of cluster ``k`` of class ``c`` in image ``b`` is
    ``(labels[b] == c) & (assignments[b] == k)`` (both from
    :class:`ImageClusters`), upsampled to the GT size by nearest when the
    sizes differ. GT pixels at ``ignore_index`` are left out of both masks.

    Args:
        assignments (Tensor): (B, h, w) cluster indices, -1 = none.
        labels (Tensor): (B, h, w) labels on the same grid.
        gt (Tensor | np.ndarray): (B, H, W) ground-truth labels.
        num_labels (int): Label ids ``0 .. num_labels - 1`` are scored.
        num_clusters (int, optional): Clusters per class (max K). Defaults
            to ``max(assignments) + 1``.
        iou_thr (float): IoU threshold (strict). Defaults to 0.3.
        ignore_index (int): Ignored GT value. Defaults to 255.

    Returns:
        Tensor: (B, num_labels, K) bool flags (False for absent clusters).
    """
    gt = torch.as_tensor(gt).long().to(assignments.device)
    if gt.dim() != 3 or gt.shape[0] != assignments.shape[0]:
        raise ValueError('gt must be (B, H, W) with the batch of the '
                         f'assignments, got {tuple(gt.shape)}')
    size = tuple(gt.shape[-2:])
    assign = assignments.long()
    labels = labels.long().to(assign.device)
    if tuple(assign.shape[-2:]) != size:
        assign = downsample_labels(assign, size)
        labels = downsample_labels(labels, size)
    if num_clusters is None:
        num_clusters = max(int(assign.max()) + 1, 1) if assign.numel() else 1
    bsz, nl, nk = gt.shape[0], int(num_labels), int(num_clusters)
    scored = gt != ignore_index
    img = torch.arange(bsz, device=gt.device)[:, None, None].expand_as(gt)
    in_cluster = (scored & (assign >= 0) & (assign < nk) & (labels >= 0)
                  & (labels < nl))
    cell = (img * nl + labels) * nk + assign
    size_bkc = nk * nl * bsz
    area = torch.bincount(cell[in_cluster], minlength=size_bkc)
    hit = in_cluster & (gt == labels)
    inter = torch.bincount(cell[hit], minlength=size_bkc)
    in_gt = scored & (gt >= 0) & (gt < nl)
    gt_area = torch.bincount((img * nl + gt)[in_gt], minlength=bsz * nl)
    gt_area = gt_area.reshape(bsz, nl, 1)
    area = area.reshape(bsz, nl, nk)
    inter = inter.reshape(bsz, nl, nk)
    union = area + gt_area - inter
    iou = inter.double() / union.clamp(min=1).double()
    return (iou > iou_thr) & (area > 0)


class TargetShare(NamedTuple):
    """Share of selected centroids that are true targets.

    Attributes:
        share (float): Over all classes (NaN when nothing was selected).
        per_class (dict[int, float]): Per class.
        num_selected (int): Selected centroids counted.
    """
    share: float
    per_class: Dict[int, float]
    num_selected: int


def selected_target_share(ranked: RankedCentroids,
                          fg_origin: Dict[int, Tensor],
                          flags: Tensor) -> TargetShare:
    """The paper's sanity metric (> 85% on VOC): the share of the selected
    centroids whose cluster region is a true target.

    Args:
        ranked (RankedCentroids): Output of :func:`rank_centroids`.
        fg_origin (dict[int, Tensor]): class -> (n, 2) ``(image, cluster)``
            of every row of ``fg[c]`` (:class:`CentroidBank`).
        flags (Tensor): (N_images, num_labels, K) from
            :func:`cluster_target_flags`, image-indexed like ``fg_origin``.

    Returns:
        TargetShare: overall share, per-class shares and the count.
    """
    hits, total, per_class = 0, 0, {}
    for c, rows in ranked.selected.items():
        org = fg_origin[c][rows.cpu()].to(flags.device)
        ok = flags[org[:, 0], c, org[:, 1]]
        per_class[c] = float(ok.double().mean()) if ok.numel() else math.nan
        hits += int(ok.sum())
        total += int(ok.numel())
    share = hits / total if total else math.nan
    return TargetShare(share, per_class, total)


# ---------------------------------------------- step 3: debiased labels
def similarity_map(feats: Tensor,
                   class_vectors: Tensor,
                   tags: Tensor,
                   out_size: Optional[Tuple[int, int]] = None) -> Tensor:
    """Eq. 4: ``ReLU(max_{c in tags} cos(F[:, y, x], V^c))`` per image.

    Args:
        feats (Tensor): (B, D, h, w) features (normalised here).
        class_vectors (Tensor): (K, D) class vectors (e.g.
            :meth:`RankedCentroids.matrix`, indexed by label id).
        tags (Tensor): (B, K) bool, the classes of each image (columns
            indexed like ``class_vectors``' rows; background is normally
            False). An image without tags gets 0 everywhere.
        out_size (tuple[int, int], optional): Bilinear upsampling (after
            the ReLU) to this (H, W), ``align_corners=False``.

    Returns:
        Tensor: (B, h, w) or (B, H, W) similarities in [0, 1].
    """
    if feats.dim() != 4:
        raise ValueError(f'feats must be (B, D, h, w), got '
                         f'{tuple(feats.shape)}')
    tags = torch.as_tensor(tags, device=feats.device).bool()
    want = (feats.shape[0], class_vectors.shape[0])
    if tuple(tags.shape) != want:
        raise ValueError(f'tags must be (B, K) = {want}, got '
                         f'{tuple(tags.shape)}')
    f = F.normalize(
        feats.to(torch.promote_types(feats.dtype, torch.float32)), dim=1)
    v = F.normalize(class_vectors.to(f), dim=-1)
    cos = torch.einsum('bdhw,kd->bkhw', f, v)
    cos = cos.masked_fill(~tags[:, :, None, None], float('-inf'))
    sim = cos.amax(1).clamp(min=0) if cos.shape[1] else f.new_zeros(
        f.shape[0], *f.shape[2:])
    if out_size is not None and tuple(out_size) != tuple(sim.shape[-2:]):
        sim = F.interpolate(
            sim[:, None], size=tuple(out_size), mode='bilinear',
            align_corners=False)[:, 0]
    return sim


def binarize_similarity(sim: ArrayLike,
                        image: Optional[ArrayLike] = None,
                        crf=None) -> ArrayLike:
    """``M^db`` from ``M̂``: ``sim > 0.5`` or a two-label dense CRF.

    With ``crf`` (a :class:`mmweak.wsss.crf.DenseCRF`, or a preset name
    such as ``'deeplab'``) the unary is ``[1 - sim, sim]`` (clipped to
    [0, 1]) and the result is the argmax of the marginals (ties go to 0).

    Args:
        sim (Tensor | np.ndarray): (H, W) or (B, H, W) similarities.
        image (Tensor | np.ndarray, optional): uint8 RGB (H, W, 3) or
            (B, H, W, 3); required with ``crf``.
        crf (DenseCRF | str, optional): CRF or preset. Defaults to None.

    Returns:
        Tensor | np.ndarray: bool mask shaped like ``sim``, of ``sim``'s
        type (a tensor stays on its device).
    """
    if crf is None:
        return sim > 0.5
    if image is None:
        raise ValueError('binarize_similarity with a CRF needs the image')
    if isinstance(crf, str):
        from .crf import DenseCRF
        crf = DenseCRF(crf)
    is_tensor = isinstance(sim, Tensor)
    s = sim.detach().cpu().numpy() if is_tensor else np.asarray(sim)
    s = np.clip(s.astype(np.float32), 0, 1)
    probs = np.stack([1 - s, s], axis=-3)
    q = crf(image, probs)
    fg = q[..., 1, :, :] > q[..., 0, :, :]
    return torch.from_numpy(fg).to(sim.device) if is_tensor else fg


def debias_label(label: ArrayLike,
                 keep_mask: ArrayLike,
                 biased_index: int = BIASED_INDEX,
                 ignore_index: int = IGNORE_INDEX) -> ArrayLike:
    """Eq. 5: foreground pixels (``0 < label``, not ``ignore_index``)
    outside ``keep_mask`` become ``biased_index``; background and ignore
    pixels never change.

    Args:
        label (Tensor | np.ndarray): Integer labels, any shape.
        keep_mask (Tensor | np.ndarray): ``M^db``, same shape, nonzero =
            keep.
        biased_index (int): Value written. Defaults to 254.
        ignore_index (int): Ignored label. Defaults to 255.

    Returns:
        Tensor | np.ndarray: A new label of ``label``'s type and dtype.
    """
    if tuple(label.shape) != tuple(keep_mask.shape):
        raise ValueError(f'label {tuple(label.shape)} and keep_mask '
                         f'{tuple(keep_mask.shape)} differ in shape')
    if isinstance(label, Tensor):
        keep = torch.as_tensor(keep_mask, device=label.device).bool()
        drop = (label > 0) & (label != ignore_index) & ~keep
        return label.masked_fill(drop, biased_index)
    label = np.asarray(label)
    keep = np.asarray(keep_mask.cpu() if isinstance(keep_mask, Tensor) else
                      keep_mask).astype(bool)
    out = label.copy()
    out[(label > 0) & (label != ignore_index) & ~keep] = biased_index
    return out


__all__ = [
    'KMeansResult', 'kmeans_batched', 'ImageClusters', 'downsample_labels',
    'cluster_image_classes', 'CentroidBank', 'collect_centroids',
    'RankedCentroids', 'background_distance', 'num_selected',
    'rank_centroids', 'cluster_target_flags', 'TargetShare',
    'selected_target_share', 'similarity_map', 'binarize_similarity',
    'debias_label', 'IGNORE_INDEX', 'BIASED_INDEX'
]
