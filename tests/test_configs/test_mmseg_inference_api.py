# Copyright (c) mmweak contributors.
"""mmseg's inference API on mmweak's segmentation configs: ``init_model``
builds them (plain and MARS segmentors) and ``inference_model`` predicts
an image. mmseg drops the annotation loader from the test pipeline only
when its type is the bare ``LoadAnnotations``, so the configs name it with
``_scope_='mmseg'`` instead of the ``mmseg.`` prefix."""
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TEST_PIPELINE_CONFIGS = [
    'configs/_base_/datasets/voc12aug_seg.py',
    'configs/_base_/datasets/coco2014_wsss_seg.py',
    'configs/wsss/deeplabv2_r101_1xb5-20k_voc12aug-321x321_pseudo.py',
    'configs/wsss/deeplabv2_r101_1xb10-100k_coco2014-321x321_pseudo.py',
    'configs/wsss/deeplabv3plus_r18-d8_synthetic-voc_pseudo.py',
]


@pytest.mark.parametrize('config', TEST_PIPELINE_CONFIGS)
def test_test_pipeline_annotation_loader_is_dropped_by_mmseg(config):
    cfg = Config.fromfile(osp.join(REPO, config))
    loaders = [t for t in cfg.test_pipeline
               if 'LoadAnnotations' in str(t['type'])]
    assert loaders and all(t['type'] == 'LoadAnnotations' and
                           t.get('_scope_') == 'mmseg' for t in loaders)


@pytest.mark.parametrize('config', [
    'configs/wsss/deeplabv3plus_r18-d8_synthetic-voc_pseudo.py',
    'configs/mars/deeplabv3plus_r18-d8_mars_synthetic-voc.py'
])
def test_init_model_and_inference_model(config, tmp_path):
    from mmseg.apis import inference_model, init_model
    model = init_model(osp.join(REPO, config), device='cpu')
    img = np.random.RandomState(0).randint(0, 255, (40, 52, 3), np.uint8)
    path = str(tmp_path / 'img.jpg')
    Image.fromarray(img).save(path)
    result = inference_model(model, path)
    assert tuple(result.pred_sem_seg.data.shape) == (1, 40, 52)
    assert result.seg_logits.data.shape[0] == 21
