# Copyright (c) mmweak contributors.
import pytest
import torch
from mmpretrain.structures import DataSample

from mmweak.registry import MODELS


def _model(loc_thr=0.2):
    return MODELS.build(
        dict(
            type='WSOLClassifier',
            backbone=dict(
                type='mmpretrain.ResNet',
                depth=18,
                base_channels=8,
                stem_channels=8,
                strides=(1, 2, 2, 1),
                out_indices=(3, )),
            head=dict(type='CAMHead', num_classes=4, in_channels=64),
            loc_thr=loc_thr))


def _batch(n=2, size=32):
    inputs = [torch.randint(0, 255, (3, size, size), dtype=torch.uint8)
              for _ in range(n)]
    samples = []
    for i in range(n):
        s = DataSample().set_gt_label(i % 4)
        s.set_field(torch.tensor([[2., 3., 20., 25.]]), 'gt_bboxes')
        s.set_metainfo(dict(img_shape=(size, size)))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def test_default_preprocessor_is_mmpretrain_cls_preprocessor():
    from mmpretrain.models import ClsDataPreprocessor
    assert isinstance(_model().data_preprocessor, ClsDataPreprocessor)


def test_train_step_returns_cls_loss_and_updates_weights():
    model = _model()
    from mmengine.optim import OptimWrapper
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = model.head.fc.weight.detach().clone()
    log_vars = model.train_step(_batch(), optim)
    assert 'loss_cls' in log_vars and torch.isfinite(log_vars['loss'])
    assert not torch.equal(before, model.head.fc.weight)


def test_predict_attaches_map_scores_and_box_in_input_pixels():
    model = _model().eval()
    with torch.no_grad():
        out = model.val_step(_batch(size=32))
    for s in out:
        assert s.pred_score.shape == (4, )
        assert s.loc_map.ndim == 2
        assert s.pred_bboxes.shape == (1, 4)
        x0, y0, x1, y1 = s.pred_bboxes[0].tolist()
        assert 0 <= x0 < x1 <= 32 and 0 <= y0 < y1 <= 32


def test_threshold_one_gives_whole_image_box():
    model = _model(loc_thr=1.0).eval()
    with torch.no_grad():
        out = model.val_step(_batch(size=32))
    assert out[0].pred_bboxes[0].tolist() == [0., 0., 32., 32.]


def test_bad_threshold_is_rejected():
    with pytest.raises(ValueError, match='loc_thr'):
        _model(loc_thr=1.5)
