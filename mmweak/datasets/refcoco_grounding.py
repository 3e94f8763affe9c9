# Copyright (c) mmweak contributors.
"""RefCOCO / RefCOCO+ / RefCOCOg for weakly supervised grounding with
ground-truth candidate boxes (DTMR, Sun et al., TPAMI 2021,
arXiv 2106.04053; the "with ground-truth annotation" setting of KPRN)."""
import json
import os.path as osp
import pickle
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from mmweak.registry import DATASETS
from .triad_parser import TriadParser, map_to_coco_category

#: Splits of each ``refs(<split_by>).p``.
KNOWN_SPLITS = {
    'unc': ('train', 'val', 'testA', 'testB', 'testC'),
    'umd': ('train', 'val', 'test'),
    'google': ('train', 'val'),
}


@DATASETS.register_module()
class RefCOCOGroundingDataset(BaseDataset):
    """Images with their candidate boxes and referring expressions.

    Reads the files as distributed by ``refer`` (Yu et al.) plus COCO
    ``train2014`` images::

        data_root/                      e.g. data/refcoco, data/refcocog
        ├── instances.json              COCO style (images, annotations,
        │                               categories)
        └── refs(unc).p                 pickled refs; refs(umd).p,
                                        refs(google).p for RefCOCOg
        img_prefix/COCO_train2014_%012d.jpg

    **One data item per image** (the reference trains one image per
    iteration with all its expressions): ``img_id``, ``img_path``,
    ``width``, ``height``, ``split``; ``instances``, the image's
    ground-truth annotation boxes, which are the candidates (dicts with
    ``bbox`` as continuous x1, y1, x2, y2, ``bbox_label`` (COCO category id)
    and ``ann_id``); ``expressions``, every sentence of the split's refs on
    the image (dicts with ``sent_id``, ``ref_id``, ``text``, ``tokens``, the
    triad words ``subject``, ``relation``, ``object``, the subject's COCO
    category name ``category`` (synonym table; None if unknown),
    ``target_index`` into the candidates and ``gt_bbox``). ``target_index``
    and ``gt_bbox`` are for the metric only; the losses never read them.

    Why not mmdet's ``RefCocoDataset``: it emits one item per ref with its
    mask and text, without the image's other annotation boxes, so it cannot
    give the candidate set; and ``MDETRStyleRefCocoDataset`` needs MDETR's
    converted JSON. This class reads the official files directly.

    Counts (images / objects / expressions of the split) are logged at
    load time. A missing file, a ref pointing at a missing annotation or
    image, or an annotation on another image raise an error naming the
    file.

    Args:
        data_root (str): Folder of ``instances.json`` and the refs file.
        img_prefix (str): Folder of the COCO ``train2014`` images, relative
            to ``data_root`` unless absolute. Defaults to
            '../coco/train2014'.
        ann_file (str): COCO annotations. Defaults to 'instances.json'.
        split_by (str): ``'unc'``, ``'umd'`` or ``'google'``; the refs file
            is ``refs(<split_by>).p``. Defaults to 'unc'.
        split (str | Sequence[str]): Split(s) to load. Defaults to 'train'.
        parser (dict): :class:`TriadParser` arguments. Defaults to
            ``dict(backend='rule')``.
        max_expr_per_img (int, optional): Keep at most this many expressions
            per image (memory cap). Defaults to None (all).
        check_images (bool): Raise if an image file is missing. Defaults
            to True.
        **kwargs: :class:`~mmengine.dataset.BaseDataset` arguments
            (``pipeline``, ``test_mode``, ...).
    """

    METAINFO = dict(task='referring expression grounding')

    def __init__(self,
                 data_root: str,
                 img_prefix: str = '../coco/train2014',
                 ann_file: str = 'instances.json',
                 split_by: str = 'unc',
                 split: Union[str, Sequence[str]] = 'train',
                 parser: Optional[dict] = None,
                 max_expr_per_img: Optional[int] = None,
                 check_images: bool = True,
                 **kwargs) -> None:
        if split_by not in KNOWN_SPLITS:
            raise ValueError(f'split_by must be one of {list(KNOWN_SPLITS)}'
                             f', got {split_by!r}')
        self.split_by = split_by
        self.splits = [split] if isinstance(split, str) else list(split)
        self.img_prefix = img_prefix
        self.parser = TriadParser(**(parser or dict(backend='rule')))
        self.max_expr_per_img = max_expr_per_img
        self.check_images = check_images
        super().__init__(data_root=data_root, ann_file=ann_file, **kwargs)

    @property
    def refs_file(self) -> str:
        return osp.join(self.data_root, f'refs({self.split_by}).p')

    def load_data_list(self) -> List[dict]:
        ann_path, refs_path = self.ann_file, self.refs_file
        for path in (ann_path, refs_path):
            if not osp.isfile(path):
                raise FileNotFoundError(f'RefCOCOGroundingDataset: {path} '
                                        'not found')
        with open(ann_path) as f:
            coco = json.load(f)
        for key in ('images', 'annotations'):
            if key not in coco:
                raise KeyError(f'{ann_path}: no "{key}" list')
        with open(refs_path, 'rb') as f:
            refs = pickle.load(f, encoding='latin1')
        images = {img['id']: img for img in coco['images']}
        anns = {ann['id']: ann for ann in coco['annotations']}
        anns_of = defaultdict(list)
        for ann in coco['annotations']:
            anns_of[ann['image_id']].append(ann)
        known = set(r['split'] for r in refs)
        for s in self.splits:
            if s not in known:
                raise ValueError(f'{refs_path}: no ref in split {s!r} '
                                 f'(splits present: {sorted(known)})')
        img_root = self.img_prefix if osp.isabs(self.img_prefix) else \
            osp.join(self.data_root, self.img_prefix)

        by_image: Dict[tuple, List[dict]] = defaultdict(list)
        for ref in refs:
            if ref['split'] not in self.splits:
                continue
            if ref['ann_id'] not in anns:
                raise KeyError(f'{refs_path}: ref {ref["ref_id"]} points at '
                               f'annotation {ref["ann_id"]}, which is not in '
                               f'{ann_path}')
            if ref['image_id'] not in images:
                raise KeyError(f'{refs_path}: ref {ref["ref_id"]} points at '
                               f'image {ref["image_id"]}, which is not in '
                               f'{ann_path}')
            if anns[ref['ann_id']]['image_id'] != ref['image_id']:
                raise ValueError(f'{refs_path}: ref {ref["ref_id"]}: '
                                 f'annotation {ref["ann_id"]} belongs to '
                                 'another image')
            by_image[(ref['image_id'], ref['split'])].append(ref)

        data_list = []
        num_expr = num_obj = 0
        for (image_id, split), img_refs in sorted(by_image.items()):
            img = images[image_id]
            img_path = osp.join(img_root, img['file_name'])
            if self.check_images and not osp.isfile(img_path):
                raise FileNotFoundError(
                    f'{refs_path}: image {image_id} of ref '
                    f'{img_refs[0]["ref_id"]} not found at {img_path}')
            cands = sorted(anns_of[image_id], key=lambda a: a['id'])
            index = {a['id']: i for i, a in enumerate(cands)}
            instances = [
                dict(bbox=[a['bbox'][0], a['bbox'][1],
                           a['bbox'][0] + a['bbox'][2],
                           a['bbox'][1] + a['bbox'][3]],
                     bbox_label=a['category_id'], ann_id=a['id'])
                for a in cands
            ]
            expressions = []
            for ref in img_refs:
                target = index[ref['ann_id']]
                for sent in ref['sentences']:
                    tokens = list(sent.get('tokens') or
                                  sent['sent'].lower().split())
                    sub, rel, obj = self.parser(tokens, sent['sent_id'])
                    expressions.append(dict(
                        sent_id=sent['sent_id'], ref_id=ref['ref_id'],
                        text=sent.get('sent', ' '.join(tokens)),
                        tokens=tokens, subject=sub, relation=rel, object=obj,
                        category=map_to_coco_category(sub),
                        target_index=target,
                        gt_bbox=instances[target]['bbox']))
            if self.max_expr_per_img:
                expressions = expressions[:self.max_expr_per_img]
            num_expr += len(expressions)
            num_obj += len(instances)
            data_list.append(dict(
                img_id=image_id, img_path=img_path, width=img['width'],
                height=img['height'], split=split, instances=instances,
                expressions=expressions))
        print_log(
            f'RefCOCOGroundingDataset {osp.basename(self.data_root)} '
            f'refs({self.split_by}) {"+".join(self.splits)}: '
            f'{len(data_list)} images, {num_obj} objects (candidates), '
            f'{num_expr} expressions', logger='current')
        return data_list
