# Copyright (c) mmweak contributors.
"""MARS offline debiasing: remove biased objects from finished pseudo labels.

    python tools/mars/debias_labels.py CONFIG {extract,cluster,rank,label,all}
        [--cfg-options k=v ...] [--launcher none|pytorch]

    # sharded over N processes (GPUs, or CPU processes with gloo)
    torchrun --nproc_per_node=N tools/mars/debias_labels.py CONFIG all \\
        --launcher pytorch

Jo et al., "MARS: Model-agnostic Biased Object Removal without Additional
Supervision for WSSS", ICCV 2023 (``shared/specs/mars.md``, sections 2-5).
The maths is :mod:`mmweak.wsss.mars`; this tool runs it over a dataset.

Config (a plain mmengine ``.py``; see
``configs/mars/mars_stego-vitb8_debias_voc12aug.py``):

- required: ``img_dir``, ``label_dir`` (baseline pseudo labels ``Y^b``,
  PNG, 0..C, 255 ignore), ``feature_model`` (a
  :class:`~mmweak.models.utils.DenseFeatureExtractor` config whose
  ``checkpoint`` is a local file: nothing is downloaded), ``out_dir``, and
  ``img_list`` (id file) or ``img_suffix`` (all images of ``img_dir``);
- optional: ``img_suffix='.jpg'``, ``label_suffix='.png'``, ``tags_file``
  (``cls_labels`` JSON / IRN npy, 0-based foreground indices; without it
  the tags are the unique foreground values of ``Y^b``), ``gt_dir`` (GT
  PNGs for the sanity metric), ``num_classes=21`` (incl. background),
  ``k_fg=2``, ``k_bg=2``, ``alpha=0.4``, ``reduce='mean'``,
  ``crf='deeplab'`` (or None: ``M > 0.5``), ``kmeans_iters=100``,
  ``seed=0``, ``cluster_batch_size=8``, ``cache_fp16=True``,
  ``center_features=False`` (subtract the mean feature of the listed
  images, ``out_dir/feature_mean.pt``, before clustering and labelling:
  label-free, for non-centred features such as a CNN's post-ReLU maps),
  ``feature_pca_dim=None`` (an int k: centre, then project onto the top k
  principal components of the listed images' cached features,
  ``out_dir/feature_pca.pt``, before clustering and labelling; also
  label-free, and it implies the centring).

Sub-commands (each resumable: finished files are skipped, every file
appears only by an atomic rename, work is sharded over torchrun ranks):

- ``extract``: ``out_dir/features/<id>.npy``, (D, h, w) unit-norm features,
  fp16 with ``cache_fp16`` (float32 otherwise).
- ``cluster``: K-means per (image, class) in batches of images
  (:func:`~mmweak.wsss.mars.cluster_image_classes`) ->
  ``out_dir/centroids/<id>.pt`` = ``{class id: (K, D) tensor}`` (fp16 with
  ``cache_fp16``). The per-pixel cluster assignments, needed by the
  sanity metric, are stored beside them as
  ``out_dir/assignments/<id>.npy``: uint8 (2, h, w), row 0 the cluster
  index (255 = none), row 1 the labels on the feature grid. The
  assignments are written first, the centroid file marks the image done.
- ``rank`` (rank 0 only): ``out_dir/debiased_centroids.pth`` with ``V``
  ((num_classes, D) float32, zero rows for background and absent classes),
  ``selected`` / ``distances`` per class, ``image_ids`` and the
  ``fg_origin`` of every centroid, the MARS settings and the feature-model
  config (``feature_model``). With ``gt_dir`` the share of selected
  centroids that are true targets (IoU > 0.3 with the GT) is printed and
  stored as ``target_share`` / ``target_share_per_class``.
- ``label``: ``out_dir/labels/<id>.png``: Eq. 4 similarity with the
  image's tags, bilinear to the label size, ``crf`` binarisation, Eq. 5
  (removed foreground pixels are 254; background and 255 never change).
  Palette PNGs keep the input's palette.
- ``all``: the four in order.
- ``complement`` (after Stage C, not part of ``all``):
  ``out_dir/complemented/<id>.png``, the complemented labels ``Y^co`` of
  Eq. 6 written out: the 254 pixels of ``out_dir/labels`` take the trained
  MARS segmenter's prediction restricted to background and the image's
  tags (``segmenter_config`` and ``segmenter_checkpoint``, required for
  this step; ``complement_branch='teacher'``, or ``'student'``, or None
  for the model's own ``predict`` branch; ``debiased_dir`` reads ``Y^db``
  from another folder than ``out_dir/labels``). These are the labels the
  paper's Table 6 scores as "+ complementing".
"""
import argparse
import glob
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config, DictAction

from mmweak.datasets.cls_labels import load_cls_labels, load_id_list
from mmweak.structures.label_map import check_label_values
from mmweak.utils.offline_job import (add_launcher_args, atomic_path,
                                      barrier, init_offline_dist,
                                      is_main_process, offline_device,
                                      pending, remove_stale_tmp,
                                      save_npy_atomic, save_png_atomic,
                                      shard, track)
from mmweak.wsss.data_io import load_rgb
from mmweak.wsss.mars import (BIASED_INDEX, IGNORE_INDEX, FeatureProjection,
                              binarize_similarity, cluster_image_classes,
                              cluster_target_flags, collect_centroids,
                              debias_label, feature_moments,
                              fit_feature_projection, rank_centroids,
                              selected_target_share, similarity_map)

STEPS = ('extract', 'cluster', 'rank', 'label')
# after Stage C; not part of `all`
COMPLEMENT = 'complement'
BRANCHES = ('teacher', 'student')
REQUIRED_KEYS = ('img_dir', 'label_dir', 'feature_model', 'out_dir')
DEFAULTS = dict(
    img_list=None,
    img_suffix='.jpg',
    label_suffix='.png',
    tags_file=None,
    gt_dir=None,
    gt_suffix='.png',
    num_classes=21,
    k_fg=2,
    k_bg=2,
    alpha=0.4,
    reduce='mean',
    crf='deeplab',
    kmeans_iters=100,
    seed=0,
    cluster_batch_size=8,
    cache_fp16=True,
    segmenter_config=None,
    segmenter_checkpoint=None,
    complement_branch='teacher',
    debiased_dir=None,
    center_features=False,
    feature_pca_dim=None)
RANK_FILE = 'debiased_centroids.pth'
MEAN_FILE = 'feature_mean.pt'
PCA_FILE = 'feature_pca.pt'
NO_ASSIGN = 255


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='MARS: remove biased objects from WSSS pseudo labels')
    parser.add_argument('config', help='MARS offline-tool config (.py)')
    parser.add_argument('step', choices=STEPS + ('all', COMPLEMENT),
                        help='sub-command to run')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. '
        'feature_model.checkpoint=/path/stego.pth alpha=0.3')
    add_launcher_args(parser)
    return parser.parse_args(argv)


# ------------------------------------------------------------ config
def load_config(path: str, options: Optional[dict] = None) -> Config:
    """The tool config with defaults filled in and checked; errors name the
    config file."""
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    missing = [k for k in REQUIRED_KEYS if cfg.get(k) is None]
    if missing:
        raise KeyError(f'{path}: missing required key(s) {missing} (see '
                       'tools/mars/debias_labels.py for the config keys)')
    if cfg.get('img_list') is None and cfg.get('img_suffix') is None:
        raise KeyError(f'{path}: set `img_list` (an id file) or '
                       '`img_suffix` (use every image of img_dir)')
    for key, value in DEFAULTS.items():
        if key not in cfg:
            cfg[key] = value
    fm = cfg.feature_model
    if not isinstance(fm, dict) or 'backbone' not in fm:
        raise KeyError(f'{path}: `feature_model` must be a '
                       'DenseFeatureExtractor config dict with `backbone`')
    if fm.get('checkpoint') is None and not fm.get('allow_random', False):
        raise ValueError(
            f'{path}: feature_model.checkpoint is not set. The MARS feature '
            'model (e.g. a STEGO/DINO ViT-B/8) must be supplied by the user '
            'as a local checkpoint file; mmweak never downloads weights. '
            'Set `feature_checkpoint` in the config or pass --cfg-options '
            'feature_model.checkpoint=/path/to/checkpoint.pth')
    if cfg.reduce not in ('mean', 'min'):
        raise ValueError(f"{path}: reduce must be 'mean' or 'min', got "
                         f'{cfg.reduce!r}')
    if not 0 < float(cfg.alpha) <= 1:
        raise ValueError(f'{path}: alpha must be in (0, 1], got {cfg.alpha}')
    if int(cfg.k_fg) < 1 or int(cfg.k_bg) < 1 or \
            int(cfg.k_fg) > 254 or int(cfg.k_bg) > 254:
        raise ValueError(f'{path}: k_fg and k_bg must be in 1..254')
    if cfg.complement_branch not in BRANCHES + (None, ):
        raise ValueError(f'{path}: complement_branch must be one of '
                         f'{BRANCHES} or None, got {cfg.complement_branch!r}')
    if int(cfg.num_classes) < 2 or int(cfg.num_classes) > 254:
        raise ValueError(f'{path}: num_classes (incl. background) must be '
                         f'in 2..254, got {cfg.num_classes}')
    return cfg


def image_ids(cfg: Config) -> List[str]:
    """Ids of the list file, else the stems of ``img_dir/*<img_suffix>``."""
    if cfg.img_list is not None:
        return load_id_list(cfg.img_list)
    ids = sorted(
        osp.basename(p)[:-len(cfg.img_suffix)]
        for p in glob.glob(osp.join(cfg.img_dir, '*' + cfg.img_suffix)))
    if not ids:
        raise FileNotFoundError(f'no "*{cfg.img_suffix}" image in img_dir '
                                f'"{cfg.img_dir}"')
    return ids


def img_path(cfg, img_id):
    return osp.join(cfg.img_dir, img_id + cfg.img_suffix)


def label_path(cfg, img_id):
    return osp.join(cfg.label_dir, img_id + cfg.label_suffix)


def out_path(cfg, kind: str, img_id: str) -> str:
    ext = {'features': '.npy', 'centroids': '.pt', 'assignments': '.npy',
           'labels': '.png', 'complemented': '.png'}[kind]
    return osp.join(cfg.out_dir, kind, img_id + ext)


def check_files(ids: Sequence[str], paths, what: str, source: str,
                hint: str = '') -> None:
    """Raise naming the first listed id whose file is missing."""
    missing = [(i, paths(i)) for i in ids if not osp.isfile(paths(i))]
    if missing:
        more = (f' (and {len(missing) - 1} more)'
                if len(missing) > 1 else '')
        raise FileNotFoundError(
            f'{what} "{missing[0][1]}" of image {missing[0][0]} listed in '
            f'{source} does not exist{more}{hint}')


def list_source(cfg) -> str:
    return cfg.img_list or f'img_dir "{cfg.img_dir}"'


def read_label(path: str, num_classes: int
               ) -> Tuple[np.ndarray, Optional[List[int]]]:
    """A (H, W) uint8 label PNG and its palette (None unless mode P);
    values outside 0..C-1, 254, 255 raise an error naming the file."""
    from PIL import Image
    if not osp.isfile(path):
        raise FileNotFoundError(f'label map "{path}" does not exist')
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            palette = img.getpalette() if mode == 'P' else None
            label = np.asarray(img)
    except Exception as err:  # PIL raises several error types
        raise ValueError(f'{path}: cannot read the label map ({err})') \
            from None
    if label.ndim != 2 or mode not in ('P', 'L', 'I', 'I;16'):
        raise ValueError(f'{path}: expected a single-channel (palette or '
                         f'grey) label PNG, got mode {mode}')
    check_label_values(label, num_classes, source=path)
    return label.astype(np.uint8), palette


def build_extractor(cfg):
    from mmweak.registry import MODELS
    from mmweak.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    fm = dict(cfg.feature_model.to_dict() if hasattr(
        cfg.feature_model, 'to_dict') else cfg.feature_model)
    fm.setdefault('type', 'DenseFeatureExtractor')
    return MODELS.build(fm).to(offline_device())


def torch_save_atomic(path: str, obj) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def torch_load(path: str):
    from mmweak.utils.checkpoint import load_checkpoint_safely
    return load_checkpoint_safely(path, map_location='cpu')


def start_stage(cfg, ids, kind, ext, name, rank, world):
    """Items of this rank still to do (stale temporaries removed, a
    summary printed on rank 0)."""
    todo = pending(ids, lambda i: out_path(cfg, kind, i))
    if is_main_process():
        folder = osp.join(cfg.out_dir, kind)
        os.makedirs(folder, exist_ok=True)
        stale = remove_stale_tmp(folder, ext)
        print(f'{name}: {len(ids)} images, {len(ids) - len(todo)} already '
              f'done, {len(todo)} to do -> {folder}' +
              (f' ({stale} stale temporary file(s) removed)'
               if stale else ''), flush=True)
    barrier()
    return shard(todo, rank, world)


# ------------------------------------------------------------ steps
def run_extract(cfg, ids, rank, world) -> int:
    check_files(ids, lambda i: img_path(cfg, i), 'image', list_source(cfg))
    mine = start_stage(cfg, ids, 'features', '.npy', 'extract', rank, world)
    if not mine:
        return 0
    model = build_extractor(cfg)
    device = offline_device()
    dtype = np.float16 if cfg.cache_fp16 else np.float32
    for img_id in track(mine, f'features (rank {rank}/{world})'):
        img = load_rgb(img_path(cfg, img_id))
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float().to(device)
        feat = model(x)[0].cpu().numpy().astype(dtype)
        save_npy_atomic(out_path(cfg, 'features', img_id), feat)
    return len(mine)


def load_features(cfg, img_id: str,
                  proj: Optional[FeatureProjection] = None) -> torch.Tensor:
    """(D, h, w) cached features, mapped by ``proj`` when given."""
    path = out_path(cfg, 'features', img_id)
    try:
        feat = np.load(path)
    except Exception as err:
        raise ValueError(f'{path}: cannot read the feature cache ({err}); '
                         'delete it and rerun `extract`') from None
    if feat.ndim != 3:
        raise ValueError(f'{path}: expected (D, h, w) features, got shape '
                         f'{feat.shape}')
    feat = torch.from_numpy(feat.astype(np.float32))
    if proj is not None:
        if proj.in_dim != feat.shape[0]:
            raise ValueError(f'{path}: {feat.shape[0]}-d features but '
                             f'{projection_path(cfg)} was fitted on '
                             f'{proj.in_dim}-d ones; delete it and rerun')
        feat = proj(feat)
    return feat


def projection_path(cfg) -> str:
    return osp.join(cfg.out_dir,
                    PCA_FILE if cfg.feature_pca_dim else MEAN_FILE)


def feature_projection(cfg, ids) -> Optional[FeatureProjection]:
    """The label-free feature map of ``center_features`` (the mean cached
    feature, ``out_dir/feature_mean.pt``) or ``feature_pca_dim`` (mean and
    top principal components, ``out_dir/feature_pca.pt``), fitted once by
    rank 0 over every pixel of every listed image; None without either.

    Neither uses a label. Post-ReLU CNN maps are all non-negative, so any
    two of them have a high cosine and Eq. 4's similarity stays above 0.5
    almost everywhere; STEGO's head outputs, the paper's features, need
    neither.
    """
    dim = cfg.feature_pca_dim
    if dim is not None and (isinstance(dim, bool) or
                            not isinstance(dim, int) or dim < 1):
        raise ValueError('feature_pca_dim must be None or a positive int, '
                         f'got {dim!r}')
    if not cfg.center_features and dim is None:
        return None
    path = projection_path(cfg)
    if is_main_process() and not osp.isfile(path):
        check_features(cfg, ids)
        sum_x = sum_xx = None
        pixels = 0
        what = f'PCA to {dim} dims' if dim else 'center_features'
        for img_id in track(ids, f'feature statistics ({what})'):
            s1, s2, n = feature_moments(load_features(cfg, img_id),
                                        second=dim is not None)
            if sum_x is not None and s1.shape != sum_x.shape:
                raise ValueError(
                    f'{out_path(cfg, "features", img_id)}: {s1.shape[0]}-d '
                    f'features, the earlier ones are {sum_x.shape[0]}-d')
            sum_x = s1 if sum_x is None else sum_x + s1
            sum_xx = s2 if sum_xx is None or s2 is None else sum_xx + s2
            pixels += n
        if dim and dim > sum_x.shape[0]:
            raise ValueError(f'feature_pca_dim={dim} exceeds the '
                             f'{sum_x.shape[0]} channels of the feature '
                             'cache')
        proj = fit_feature_projection(sum_x, sum_xx, pixels, dim)
        torch_save_atomic(path, dict(mean=proj.mean,
                                     components=proj.components,
                                     explained=proj.explained,
                                     pca_dim=dim,
                                     image_ids=list(ids), pixels=pixels))
        if dim:
            print(f'feature projection: {dim} principal components keep '
                  f'{100 * proj.explained:.1f}% of the variance', flush=True)
    barrier()
    saved = torch_load(path)
    if list(saved.get('image_ids', [])) != list(ids):
        raise ValueError(f'{path} was computed over other images than the '
                         'current list; delete it and rerun `cluster`')
    if saved.get('pca_dim') != dim:
        raise ValueError(f'{path} holds {saved.get("pca_dim")} principal '
                         f'components but feature_pca_dim={dim}; delete it '
                         'and rerun `cluster`')
    return FeatureProjection(saved['mean'].float(),
                             None if saved.get('components') is None else
                             saved['components'].float(),
                             saved.get('explained'))


def check_features(cfg, ids):
    check_files(ids, lambda i: out_path(cfg, 'features', i),
                'feature cache', list_source(cfg),
                '; run the `extract` step first')


def run_cluster(cfg, ids, rank, world) -> int:
    check_files(ids, lambda i: label_path(cfg, i), 'label map',
                list_source(cfg))
    check_features(cfg, ids)
    proj = feature_projection(cfg, ids)
    mine = start_stage(cfg, ids, 'centroids', '.pt', 'cluster', rank, world)
    bsz = max(1, int(cfg.cluster_batch_size))
    chunks = [mine[j:j + bsz] for j in range(0, len(mine), bsz)]
    device = offline_device()
    dtype = torch.float16 if cfg.cache_fp16 else torch.float32
    for chunk in track(chunks, f'clusters (rank {rank}/{world}, batches of '
                       f'up to {bsz} image(s))'):
        # images of one feature grid and label size share a batch; the
        # result of an image does not depend on its batch
        groups: Dict[tuple, List[tuple]] = {}
        for img_id in chunk:
            feat = load_features(cfg, img_id, proj)
            label, _ = read_label(label_path(cfg, img_id), cfg.num_classes)
            key = (tuple(feat.shape), label.shape)
            groups.setdefault(key, []).append((img_id, feat, label))
        for members in groups.values():
            feats = torch.stack([m[1] for m in members]).to(device)
            labels = torch.from_numpy(np.stack([m[2] for m in members]))
            res = cluster_image_classes(
                feats, labels, k_fg=int(cfg.k_fg), k_bg=int(cfg.k_bg),
                iters=int(cfg.kmeans_iters), seed=int(cfg.seed),
                return_assignments=True)
            for b, (img_id, _, _) in enumerate(members):
                assign = res.assignments[b].cpu()
                grid = res.labels[b].cpu()
                packed = np.stack([
                    torch.where(assign < 0, NO_ASSIGN, assign).numpy(),
                    grid.clamp(0, 255).numpy()
                ]).astype(np.uint8)
                save_npy_atomic(out_path(cfg, 'assignments', img_id), packed)
                cents = {int(c): v.cpu().to(dtype).contiguous()
                         for c, v in res.centroids[b].items()}
                torch_save_atomic(out_path(cfg, 'centroids', img_id), cents)
    return len(mine)


def run_rank(cfg, ids) -> Optional[dict]:
    """Ranking on rank 0 (the others wait at the barrier)."""
    result = None
    if is_main_process():
        check_files(ids, lambda i: out_path(cfg, 'centroids', i),
                    'centroid file', list_source(cfg),
                    '; run the `cluster` step first')
        per_image = []
        for img_id in track(ids, 'rank: loading centroids'):
            path = out_path(cfg, 'centroids', img_id)
            cents = torch_load(path)
            if not isinstance(cents, dict):
                raise ValueError(f'{path}: expected a dict class -> (K, D) '
                                 'centroids; delete it and rerun `cluster`')
            per_image.append({int(c): v.float() for c, v in cents.items()})
        bank = collect_centroids(per_image)
        if bank.bg.shape[0] == 0:
            raise ValueError('rank: no image has background (0) pixels on '
                             'the feature grid, so no centroid can be ranked')
        if not bank.fg:
            raise ValueError('rank: no image has foreground pixels on the '
                             'feature grid')
        ranked = rank_centroids(bank.fg, bank.bg, float(cfg.alpha),
                                cfg.reduce)
        fm = cfg.feature_model
        result = dict(
            V=ranked.matrix(int(cfg.num_classes)).float(),
            classes=sorted(ranked.vectors),
            selected=ranked.selected,
            distances=ranked.distances,
            fg_origin=bank.fg_origin,
            image_ids=list(ids),
            num_centroids={c: int(v.shape[0]) for c, v in bank.fg.items()},
            config=dict(k_fg=int(cfg.k_fg), k_bg=int(cfg.k_bg),
                        alpha=float(cfg.alpha), reduce=cfg.reduce,
                        crf=cfg.crf, num_classes=int(cfg.num_classes),
                        kmeans_iters=int(cfg.kmeans_iters),
                        seed=int(cfg.seed), label_dir=cfg.label_dir,
                        center_features=bool(cfg.center_features),
                        feature_pca_dim=cfg.feature_pca_dim),
            feature_model=fm.to_dict() if hasattr(fm, 'to_dict') else
            dict(fm))
        for c in sorted(ranked.selected):
            print(f'rank: class {c}: {len(ranked.selected[c])} of '
                  f'{bank.fg[c].shape[0]} centroids selected', flush=True)
        if cfg.gt_dir is not None:
            share = target_share(cfg, ids, ranked, bank)
            result['target_share'] = share.share
            result['target_share_per_class'] = share.per_class
            print(f'rank: {100 * share.share:.1f}% of the '
                  f'{share.num_selected} selected centroids are true targets '
                  '(IoU > 0.3 with GT; the paper reports > 85% on VOC)',
                  flush=True)
        path = osp.join(cfg.out_dir, RANK_FILE)
        torch_save_atomic(path, result)
        print(f'rank: wrote {path}', flush=True)
    barrier()
    return result


def target_share(cfg, ids, ranked, bank):
    """Sanity metric from the stored assignments and the GT PNGs."""
    gt_path = (lambda i: osp.join(cfg.gt_dir, i + cfg.gt_suffix))
    check_files(ids, gt_path, 'ground-truth map', list_source(cfg))
    check_files(ids, lambda i: out_path(cfg, 'assignments', i),
                'cluster assignment file', list_source(cfg),
                '; rerun the `cluster` step (delete its centroids)')
    nk = max(int(cfg.k_fg), int(cfg.k_bg))
    flags = []
    for img_id in ids:
        packed = np.load(out_path(cfg, 'assignments', img_id))
        assign = torch.from_numpy(packed[0].astype(np.int64))
        assign[assign == NO_ASSIGN] = -1
        grid = torch.from_numpy(packed[1].astype(np.int64))
        gt, _ = read_label(gt_path(img_id), cfg.num_classes)
        flags.append(cluster_target_flags(
            assign[None], grid[None], gt[None].astype(np.int64),
            int(cfg.num_classes), nk)[0])
    return selected_target_share(ranked, bank.fg_origin, torch.stack(flags))


def image_tags(cfg, img_id, label, tags_map) -> torch.Tensor:
    """(1, num_classes) bool tags indexed by label id."""
    tags = torch.zeros(1, int(cfg.num_classes), dtype=torch.bool)
    if tags_map is None:
        ids = [int(v) for v in np.unique(label)
               if 0 < v < int(cfg.num_classes)]
    else:
        if img_id not in tags_map:
            raise KeyError(f'tag file "{cfg.tags_file}" has no entry for '
                           f'image {img_id}')
        ids = [t + 1 for t in tags_map[img_id]]
        bad = [i for i in ids if i >= int(cfg.num_classes)]
        if bad:
            raise ValueError(f'tag file "{cfg.tags_file}": tags of {img_id} '
                             f'exceed num_classes={cfg.num_classes}')
    tags[0, ids] = True
    return tags


def run_label(cfg, ids, rank, world) -> int:
    rank_path = osp.join(cfg.out_dir, RANK_FILE)
    if not osp.isfile(rank_path):
        raise FileNotFoundError(f'"{rank_path}" does not exist: run the '
                                '`rank` step before `label`')
    check_files(ids, lambda i: label_path(cfg, i), 'label map',
                list_source(cfg))
    check_features(cfg, ids)
    if cfg.crf is not None:
        check_files(ids, lambda i: img_path(cfg, i), 'image',
                    list_source(cfg))
    saved = torch_load(rank_path)
    V = saved['V'].float()
    if V.shape[0] != int(cfg.num_classes):
        raise ValueError(f'{rank_path}: V has {V.shape[0]} rows but '
                         f'num_classes={cfg.num_classes}; rerun `rank`')
    tags_map = load_cls_labels(cfg.tags_file) if cfg.tags_file else None
    crf = None
    if cfg.crf is not None:
        from mmweak.wsss.crf import DenseCRF
        crf = DenseCRF(cfg.crf)
    proj = feature_projection(cfg, ids)
    mine = start_stage(cfg, ids, 'labels', '.png', 'label', rank, world)
    device = offline_device()
    V = V.to(device)
    for img_id in track(mine, f'debiased labels (rank {rank}/{world})'):
        lpath = label_path(cfg, img_id)
        label, palette = read_label(lpath, cfg.num_classes)
        feat = load_features(cfg, img_id, proj).to(device)
        if feat.shape[0] != V.shape[1]:
            raise ValueError(
                f'{out_path(cfg, "features", img_id)}: {feat.shape[0]}-d '
                f'features but {rank_path} holds {V.shape[1]}-d vectors')
        tags = image_tags(cfg, img_id, label, tags_map).to(device)
        sim = similarity_map(feat[None], V, tags, out_size=label.shape)[0]
        sim = sim.cpu().numpy()
        image = None
        if crf is not None:
            image = load_rgb(img_path(cfg, img_id))
            if image.shape[:2] != label.shape:
                raise ValueError(f'{img_path(cfg, img_id)} is '
                                 f'{image.shape[:2]} but its label {lpath} '
                                 f'is {label.shape}')
        keep = binarize_similarity(sim, image, crf)
        out = debias_label(label, keep, BIASED_INDEX, IGNORE_INDEX)
        save_png_atomic(out_path(cfg, 'labels', img_id),
                        out.astype(np.uint8), palette)
    return len(mine)


def build_segmenter(cfg, device):
    """The trained segmentor of ``segmenter_config`` /
    ``segmenter_checkpoint``, on ``device``, predicting with
    ``complement_branch``."""
    from mmseg.apis import init_model
    for key in ('segmenter_config', 'segmenter_checkpoint'):
        if cfg.get(key) is None:
            raise KeyError(f'`complement` needs `{key}` (the trained MARS '
                           'segmenter); set it with --cfg-options')
        if not osp.isfile(cfg[key]):
            raise FileNotFoundError(f'{key} "{cfg[key]}" does not exist')
    model = init_model(cfg.segmenter_config, cfg.segmenter_checkpoint,
                       device=str(device))
    branch = cfg.complement_branch
    if branch is not None:
        if not hasattr(model, 'predict_on'):
            raise ValueError(
                f'{cfg.segmenter_config}: {type(model).__name__} has no '
                f'{branch} branch (not a MARSEncoderDecoder); set '
                'complement_branch=None to use its prediction')
        model.predict_on = branch
    # mmseg's inference drops only a bare `LoadAnnotations` type; a user
    # config may name it `mmseg.LoadAnnotations`, which would look for a
    # label file
    model.cfg.test_pipeline = [
        t for t in model.cfg.test_pipeline
        if not str(t['type']).split('.')[-1] == 'LoadAnnotations'
    ]
    return model


def run_complement(cfg, ids, rank, world) -> int:
    """``Y^co``: the 254 pixels of the debiased labels take the segmenter's
    prediction restricted to background and the image's tags."""
    from mmseg.apis import inference_model

    def src(img_id):
        if cfg.debiased_dir is None:
            return out_path(cfg, 'labels', img_id)
        return osp.join(cfg.debiased_dir, img_id + '.png')

    check_files(ids, src, 'debiased label', list_source(cfg),
                '; run the `label` step first')
    check_files(ids, lambda i: img_path(cfg, i), 'image', list_source(cfg))
    tags_map = load_cls_labels(cfg.tags_file) if cfg.tags_file else None
    mine = start_stage(cfg, ids, 'complemented', '.png', 'complement', rank,
                       world)
    if not mine:
        return 0
    device = offline_device()
    model = build_segmenter(cfg, device)
    for img_id in track(mine, f'complemented labels (rank {rank}/{world})'):
        label, palette = read_label(src(img_id), cfg.num_classes)
        logits = inference_model(model, img_path(cfg, img_id)).seg_logits.data
        if logits.shape[0] != int(cfg.num_classes) or \
                tuple(logits.shape[1:]) != label.shape:
            raise ValueError(
                f'{cfg.segmenter_config}: prediction of {img_id} is '
                f'{tuple(logits.shape)}, expected ({cfg.num_classes}, '
                f'{label.shape[0]}, {label.shape[1]}) (num_classes and the '
                f'size of {src(img_id)})')
        allowed = image_tags(cfg, img_id, label, tags_map)[0].to(
            logits.device)
        allowed[0] = True
        pred = logits.masked_fill(~allowed[:, None, None],
                                  float('-inf')).argmax(0).cpu().numpy()
        out = np.where(label == BIASED_INDEX, pred, label)
        save_png_atomic(out_path(cfg, 'complemented', img_id),
                        out.astype(np.uint8), palette)
    return len(mine)


def main(argv: Optional[List[str]] = None) -> Dict[str, int]:
    """Run a step; return the number of files this process wrote per step
    (``rank``: 1 on rank 0 when the centroids file was written)."""
    args = parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = load_config(args.config, args.cfg_options)
    ids = image_ids(cfg)
    rank, world = init_offline_dist(args.launcher)
    steps = STEPS if args.step == 'all' else (args.step, )
    done: Dict[str, int] = {}
    for step in steps:
        if step == 'extract':
            done[step] = run_extract(cfg, ids, rank, world)
        elif step == 'cluster':
            done[step] = run_cluster(cfg, ids, rank, world)
        elif step == 'rank':
            done[step] = int(run_rank(cfg, ids) is not None)
        elif step == COMPLEMENT:
            done[step] = run_complement(cfg, ids, rank, world)
        else:
            done[step] = run_label(cfg, ids, rank, world)
        barrier()
    return done


if __name__ == '__main__':
    main()
