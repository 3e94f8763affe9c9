# Copyright (c) mmweak contributors.
from .coco_wsss import (COCO_WSSS_CLASSES, COCO2014WSSSDataset,
                        coco_cat_id_to_label)
from .cub_wsol import CUBWSOL
from .imagenet_wsol import ImageNetWSOL
from .synthetic_wsol import (SyntheticWSOL, generate_synthetic_wsol,
                             synthetic_class_names)
from .transforms import *  # noqa: F401,F403
from .cls_labels import (VOC_CLASSES, VOC_FG_CLASSES, load_cls_labels,
                         save_cls_labels, tags_from_mask, tags_from_voc_xml)
from .wsoleval_metadata import WSOLEvalMetadataDataset
from .wsss_cls_dataset import WSSSClsDataset
from .refcoco_grounding import RefCOCOGroundingDataset
from .triad_parser import (COCO_CATEGORY_NAMES, COCO_SYNONYMS, NONE_RELATION,
                           TriadParser, map_to_coco_category,
                           parse_triad_rules)

__all__ = [
    'CUBWSOL', 'ImageNetWSOL', 'WSOLEvalMetadataDataset', 'SyntheticWSOL',
    'generate_synthetic_wsol', 'synthetic_class_names', 'COCO2014WSSSDataset',
    'COCO_WSSS_CLASSES', 'coco_cat_id_to_label', 'VOC_CLASSES',
    'VOC_FG_CLASSES', 'load_cls_labels', 'save_cls_labels', 'tags_from_mask',
    'tags_from_voc_xml', 'WSSSClsDataset', 'RefCOCOGroundingDataset',
    'TriadParser', 'parse_triad_rules', 'map_to_coco_category',
    'COCO_CATEGORY_NAMES', 'COCO_SYNONYMS', 'NONE_RELATION'
]
