# Copyright (c) mmweak contributors.
"""Images with image-level tags for WSSS Stage A (multi-label CAM
classifiers), read from the PASCAL VOC layout as distributed (or COCO with a
tag file)."""
import os.path as osp
from typing import List, Optional, Sequence

from mmengine import fileio
from mmpretrain.datasets import MultiLabelDataset

from mmweak.registry import DATASETS
from .cls_labels import (VOC_FG_CLASSES, load_cls_labels, load_id_list,
                         tags_from_mask, tags_from_voc_xml)
from .transforms.builder import build_wsol_pipeline

VOC_LAYOUT = """\
    VOCdevkit/VOC2012/                       (data_root)
    ├── JPEGImages/<id>.jpg
    ├── Annotations/<id>.xml                 (tag_source='xml')
    ├── SegmentationClass/<id>.png           (train + val)
    ├── SegmentationClassAug/<id>.png        (trainaug + val, from SBD)
    └── ImageSets/Segmentation/{train,val,trainaug,aug}.txt
"""


@DATASETS.register_module()
class WSSSClsDataset(MultiLabelDataset):
    """Image-level tags of a segmentation dataset for WSSS Stage A.

    Reads the PASCAL VOC 2012 (+ SBD) layout as distributed (wsss-protocol
    spec, 2.1-2.2)::

        VOCdevkit/VOC2012/                       (data_root)
        ├── JPEGImages/<id>.jpg
        ├── Annotations/<id>.xml                 (tag_source='xml')
        ├── SegmentationClass/<id>.png           (train + val)
        ├── SegmentationClassAug/<id>.png        (trainaug + val, from SBD)
        └── ImageSets/Segmentation/{train,val,trainaug,aug}.txt

    ``ann_file`` lists the image ids. Tags (lists of **0-based foreground
    indices**, no background) come from the ``<object><name>`` entries of
    the XML annotations (``tag_source='xml'``, the IRN/PSA convention), from
    the unique values of the masks under ``data_prefix['seg_map_path']``
    (``'mask'``; minus 0/254/255, minus 1) or from a tag file
    (``cls_labels.json`` canonical/plain JSON or IRN ``cls_labels.npy``; see
    :mod:`mmweak.datasets.cls_labels`). With a JSON tag file and COCO class
    names in ``metainfo``, the same class serves COCO 2014, e.g.
    ``data_prefix=dict(img_path='train2014', seg_map_path=...)``.

    Each data info holds ``img_path``, ``img_id``, ``gt_label`` (list of
    0-based foreground indices; mmpretrain's ``PackInputs`` turns it into a
    multi-label ``gt_label``), ``seg_map_path`` (``None`` when the mask file
    does not exist, e.g. SBD-only ids in ``SegmentationClass``) and, so that
    mmseg's ``LoadAnnotations`` can load the mask, ``seg_fields=[]`` and
    ``reduce_zero_label=False``.

    A missing ``data_root`` or ``ann_file``, a listed id without its image,
    without its XML (``'xml'``) or mask (``'mask'``) or absent from the tag
    file, and an unparsable XML raise an error naming the file.

    Args:
        data_root (str): The ``VOCdevkit/VOC2012`` folder (or the COCO root).
        ann_file (str): Image id list, relative to ``data_root`` unless
            absolute, e.g. ``'ImageSets/Segmentation/trainaug.txt'``.
        data_prefix (dict): Folders relative to ``data_root``: ``img_path``,
            ``seg_map_path`` (may be None) and ``ann_path`` (XML, used by
            ``tag_source='xml'``). Defaults to ``dict(img_path='JPEGImages',
            seg_map_path='SegmentationClass', ann_path='Annotations')``.
        tag_source (str): ``'xml'``, ``'mask'`` or the path of a tag file
            (``.json`` / ``.npy``; absolute, relative to the working
            directory if it exists there, else relative to ``data_root``).
            Defaults to 'xml'.
        skip_difficult (bool): With ``tag_source='xml'``, drop objects marked
            ``difficult`` (RS+EPM) instead of keeping them (IRN, DHR).
            Defaults to False.
        img_suffix (str): Image file suffix. Defaults to '.jpg'.
        seg_map_suffix (str): Mask file suffix. Defaults to '.png'.
        metainfo (dict, optional): Meta information; ``classes`` are the
            foreground class names (default: the 20 VOC classes, no
            background). Defaults to None.
        pipeline (Sequence[dict | Callable]): Transforms, built with mmweak's
            registry (host transforms by prefix, e.g. ``mmpretrain.
            PackInputs``). Defaults to ().
        test_mode (bool): Test mode of mmengine datasets. Defaults to False.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`
            (``indices``, ``serialize_data``, ``lazy_init``, ``classes``
            ...).
    """

    METAINFO = {'classes': VOC_FG_CLASSES}

    def __init__(self,
                 data_root: str,
                 ann_file: str,
                 data_prefix: dict = dict(img_path='JPEGImages',
                                          seg_map_path='SegmentationClass',
                                          ann_path='Annotations'),
                 tag_source: str = 'xml',
                 skip_difficult: bool = False,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 metainfo: Optional[dict] = None,
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 **kwargs) -> None:
        data_root = osp.expanduser(str(data_root))
        if not data_root or not fileio.exists(data_root):
            raise FileNotFoundError(
                f'WSSSClsDataset: data_root "{data_root}" does not exist. '
                f'Expected the VOC layout:\n{VOC_LAYOUT}')
        if not isinstance(data_prefix, dict) or 'img_path' not in \
                data_prefix:
            raise ValueError('WSSSClsDataset: data_prefix must be a dict with '
                             f'at least "img_path", got {data_prefix!r}')
        if not isinstance(tag_source, str) or not tag_source:
            raise ValueError("WSSSClsDataset: tag_source must be 'xml', "
                             f"'mask' or a tag file path, got {tag_source!r}")
        self.tag_source = tag_source
        self.skip_difficult = skip_difficult
        self.img_suffix = img_suffix
        self.seg_map_suffix = seg_map_suffix
        prefix = {k: v for k, v in data_prefix.items() if v is not None}
        super().__init__(ann_file=ann_file,
                         metainfo=metainfo,
                         data_root=data_root,
                         data_prefix=prefix,
                         pipeline=build_wsol_pipeline(pipeline),
                         test_mode=test_mode,
                         **kwargs)

    def _tag_file(self) -> str:
        path = osp.expanduser(self.tag_source)
        if osp.isabs(path) or osp.exists(path):
            return path
        return fileio.join_path(self.data_root, path)

    def load_data_list(self) -> List[dict]:
        """Read the id list and the tags of every image."""
        ids = load_id_list(self.ann_file)
        classes = tuple(self.metainfo['classes'])
        img_dir = self.data_prefix['img_path']
        seg_dir = self.data_prefix.get('seg_map_path')
        source = self.tag_source
        tag_table = None
        if source == 'xml':
            ann_dir = self.data_prefix.get('ann_path')
            if ann_dir is None:
                raise ValueError("WSSSClsDataset: tag_source='xml' needs "
                                 "data_prefix['ann_path'] (the Annotations "
                                 'folder)')
        elif source == 'mask':
            if seg_dir is None:
                raise ValueError("WSSSClsDataset: tag_source='mask' needs "
                                 "data_prefix['seg_map_path']")
        else:
            tag_table = load_cls_labels(self._tag_file(), classes)

        data_list = []
        for img_id in ids:
            img_path = fileio.join_path(img_dir, img_id + self.img_suffix)
            if not fileio.exists(img_path):
                raise FileNotFoundError(
                    f'WSSSClsDataset: image "{img_path}" of id "{img_id}" '
                    f'(listed in {self.ann_file}) does not exist')
            seg_path = None
            if seg_dir is not None:
                seg_path = fileio.join_path(seg_dir,
                                            img_id + self.seg_map_suffix)
                if not fileio.exists(seg_path):
                    seg_path = None
            if source == 'xml':
                xml_path = fileio.join_path(ann_dir, img_id + '.xml')
                if not fileio.exists(xml_path):
                    raise FileNotFoundError(
                        f'WSSSClsDataset: annotation "{xml_path}" of id '
                        f'"{img_id}" (listed in {self.ann_file}) does not '
                        'exist')
                tags = tags_from_voc_xml(xml_path, classes,
                                         self.skip_difficult)
            elif source == 'mask':
                if seg_path is None:
                    raise FileNotFoundError(
                        'WSSSClsDataset: mask "' +
                        fileio.join_path(seg_dir, img_id +
                                         self.seg_map_suffix) +
                        f'" of id "{img_id}" (listed in {self.ann_file}) '
                        "does not exist (tag_source='mask')")
                tags = tags_from_mask(seg_path, len(classes))
            else:
                if img_id not in tag_table:
                    raise ValueError(
                        f'WSSSClsDataset: id "{img_id}" (listed in '
                        f'{self.ann_file}) is absent from the tag file '
                        f'{self._tag_file()}')
                tags = tag_table[img_id]
            data_list.append(
                dict(img_path=img_path,
                     img_id=img_id,
                     gt_label=list(tags),
                     seg_map_path=seg_path,
                     seg_fields=[],
                     reduce_zero_label=False))
        return data_list

    def get_cat_ids(self, idx: int) -> List[int]:
        """The 0-based foreground indices tagged on image ``idx``."""
        return [int(k) for k in self.get_data_info(idx)['gt_label']]

    def extra_repr(self) -> List[str]:
        """Extra repr information of the dataset."""
        return [
            f'Root of dataset: \t{self.data_root}',
            f'Id list: \t{self.ann_file}',
            f'Tag source: \t{self.tag_source}',
            f'Skip difficult: \t{self.skip_difficult}',
        ]
