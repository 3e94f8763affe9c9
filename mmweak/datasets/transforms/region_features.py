# Copyright (c) mmweak contributors.
"""Cached region features of the candidate boxes (DTMR) and their packing."""
import os.path as osp
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import InstanceData

from mmweak.registry import TRANSFORMS


def region_feature_path(cache_dir: str, img_id) -> str:
    """Where ``tools/dtmr/extract_region_features.py`` caches an image."""
    return osp.join(cache_dir, f'{img_id}.npz')


@TRANSFORMS.register_module()
class LoadRegionFeatures(BaseTransform):
    """Load the cached features of an image's candidate boxes.

    Reads ``<cache_dir>/<img_id>.npz`` (``ann_ids`` (N,), ``boxes`` (N, 4),
    ``feats`` (N, D), written by ``tools/dtmr/extract_region_features.py``)
    and sets ``results['feats']`` (float32 (N, D)) in the order of
    ``results['instances']``. A missing file, or a cache whose ann ids
    differ from the dataset's candidates, raises an error naming the file.

    Args:
        cache_dir (str): The feature cache folder.
    """

    def __init__(self, cache_dir: str) -> None:
        self.cache_dir = cache_dir

    def transform(self, results: dict) -> dict:
        path = region_feature_path(self.cache_dir, results['img_id'])
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{path}: no cached region features for image '
                f'{results["img_id"]}; run tools/dtmr/'
                'extract_region_features.py first')
        with np.load(path) as data:
            ann_ids, feats = data['ann_ids'], data['feats']
        want = [inst['ann_id'] for inst in results['instances']]
        if list(ann_ids.tolist()) != want:
            pos = {a: i for i, a in enumerate(ann_ids.tolist())}
            missing = [a for a in want if a not in pos]
            if missing:
                raise KeyError(f'{path}: no features for annotations '
                               f'{missing[:5]} (stale cache?)')
            feats = feats[[pos[a] for a in want]]
        results['feats'] = np.ascontiguousarray(feats, dtype=np.float32)
        return results


@TRANSFORMS.register_module()
class PackTriadInputs(BaseTransform):
    """Pack a grounding item: ``inputs`` = the region features (N, D)
    tensor; ``data_samples`` = a ``DetDataSample`` with
    ``gt_instances.bboxes`` (N, 4) candidates, ``gt_instances.labels`` (COCO
    category ids) and metainfo ``img_id``, ``img_shape`` (H, W), ``split``
    and ``expressions`` (the dataset's list of dicts).

    Args:
        meta_keys (Sequence[str]): Result keys copied to the metainfo.
            Defaults to ``('img_id', 'img_path', 'split', 'expressions')``.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('img_id', 'img_path', 'split',
                                             'expressions')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        from mmdet.structures import DetDataSample
        insts = results['instances']
        boxes = torch.tensor([i['bbox'] for i in insts],
                             dtype=torch.float32).reshape(-1, 4)
        gt = InstanceData(
            bboxes=boxes,
            labels=torch.tensor([i['bbox_label'] for i in insts],
                                dtype=torch.long))
        sample = DetDataSample(gt_instances=gt)
        meta = {k: results[k] for k in self.meta_keys if k in results}
        meta['img_shape'] = (results['height'], results['width'])
        sample.set_metainfo(meta)
        if 'feats' not in results:
            raise KeyError('PackTriadInputs needs results["feats"] (add '
                           'LoadRegionFeatures before it)')
        return dict(inputs=torch.from_numpy(results['feats']),
                    data_samples=sample)
