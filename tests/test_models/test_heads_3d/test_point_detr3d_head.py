# Copyright (c) mmweak contributors.
import math

import pytest
import torch

pytest.importorskip('mmdet3d')

from mmdet3d.structures import (Det3DDataSample,  # noqa: E402
                                LiDARInstance3DBoxes)
from mmengine.structures import InstanceData  # noqa: E402

from mmweak.models.heads_3d.point_detr3d_head import (  # noqa: E402
    decode_boxes, encode_boxes, focal_match_cost, hungarian_assign)
from mmweak.registry import MODELS  # noqa: E402

PCR = [-12.8, -12.8, -5.0, 12.8, 12.8, 3.0]
MEAN = [[4.6, 1.9, 1.7], [0.7, 0.7, 1.7], [0.5, 2.5, 1.0]]
BOXES = torch.tensor([[2.0, 3.0, -0.5, 4.5, 2.0, 1.6, 0.3],
                      [-5.0, 1.0, -0.8, 0.7, 0.6, 1.8, -1.0],
                      [6.0, -7.0, -1.0, 0.5, 2.4, 1.0, 1.2]])
LABELS = torch.tensor([0, 1, 2])


def _head(**kwargs):
    cfg = dict(
        type='mmweak.PointDETR3DHead',
        num_classes=3,
        in_channels=16,
        embed_dims=16,
        point_cloud_range=PCR,
        class_mean_size=MEAN,
        ffn_channels=32,
        ffn_dropout=0.,
        cross_attn=dict(
            type='mmweak.DRoICrossAttention',
            num_heads=2,
            num_points=4,
            dropout=0.))
    cfg.update(kwargs)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def _sample(num=3, order=None):
    order = torch.arange(num) if order is None else order
    gt = InstanceData()
    gt.bboxes_3d = LiDARInstance3DBoxes(
        BOXES[:num][order], origin=(0.5, 0.5, 0.5))
    gt.labels_3d = LABELS[:num][order]
    gt.points_3d = BOXES[:num, :3] + 0.2  # points keep their own order
    ds = Det3DDataSample()
    ds.gt_instances_3d = gt
    return ds


def test_box_code_round_trip():
    codes = encode_boxes(BOXES)
    assert codes.shape == (3, 8)
    torch.testing.assert_close(codes[:, 3:6], BOXES[:, 3:6].log())
    torch.testing.assert_close(decode_boxes(codes), BOXES)
    # yaw wraps to (-pi, pi]
    wrapped = BOXES.clone()
    wrapped[0, 6] = 0.3 + 2 * math.pi
    torch.testing.assert_close(decode_boxes(encode_boxes(wrapped)), BOXES,
                               atol=1e-5, rtol=0)


def test_regression_decode_encode_round_trip():
    head = _head()
    ref = torch.tensor([[0.55, 0.6, 0.5], [0.3, 0.52, 0.4], [0.7, 0.2, 0.5]])
    size = torch.tensor(MEAN)
    codes = encode_boxes(BOXES)
    reg = head.code_to_reg(codes, ref, size)
    torch.testing.assert_close(head.reg_to_code(reg, ref, size), codes)
    # zero regression (cos = 1) decodes to the anchor box
    zero = torch.zeros(3, 8)
    zero[:, 7] = 1.
    anchor = decode_boxes(head.reg_to_code(zero, ref, size))
    metric = ref * torch.tensor([25.6, 25.6, 8.0]) + torch.tensor(PCR[:3])
    torch.testing.assert_close(anchor[:, :3], metric)
    torch.testing.assert_close(anchor[:, 3:6], size)
    torch.testing.assert_close(anchor[:, 6], torch.zeros(3))


def test_hungarian_on_hand_made_cost():
    cost = torch.tensor([[[4., 1., 3.], [2., 0., 5.], [3., 2., 2.]],
                         [[0., 9., 9.], [9., 9., 9.], [9., 9., 9.]]])
    assigned = hungarian_assign(cost, torch.tensor([3, 1]),
                                torch.tensor([3, 2]))
    # sample 0: optimum 1 + 2 + 2 = 5 -> (0,1), (1,0), (2,2)
    assert assigned.tolist() == [[1, 0, 2], [0, -1, -1]]
    # rectangular: more queries than targets leaves one unassigned
    assigned = hungarian_assign(cost[:1], torch.tensor([3]),
                                torch.tensor([2]))
    assert assigned.tolist() == [[1, 0, -1]]


def test_focal_match_cost_formula():
    logits = torch.tensor([[[0.3, -1.0], [2.0, 0.5]]])
    labels = torch.tensor([[1, 0, 1]])
    cost = focal_match_cost(logits, labels)
    p = logits.sigmoid()
    pos = -0.25 * (1 - p)**2 * p.log()
    neg = -0.75 * p**2 * (1 - p).log()
    full = pos - neg
    torch.testing.assert_close(cost, full[:, :, [1, 0, 1]], atol=1e-6,
                               rtol=0)


def test_index_assignment():
    head = _head(assign='index')
    codes = torch.zeros(2, 3, 8)
    assigned = head.get_assignment(
        torch.zeros(2, 3, 3), codes, torch.zeros(2, 3, dtype=torch.long),
        codes, torch.tensor([3, 1]), torch.tensor([3, 1]))
    assert assigned.tolist() == [[0, 1, 2], [0, -1, -1]]


def test_hungarian_loss_invariant_to_gt_order():
    head = _head().eval()
    feats = [torch.randn(1, 16, 32, 32)]
    points = [BOXES[:, :3] + 0.2]
    with torch.no_grad():
        preds = head(feats, points, [LABELS])
        perm = torch.tensor([2, 0, 1])
        loss_a = head.loss_by_feat(preds, [BOXES], [LABELS])
        loss_b = head.loss_by_feat(preds, [BOXES[perm]], [LABELS[perm]])
        for key in loss_a:
            torch.testing.assert_close(loss_a[key], loss_b[key])
        # index assignment is order sensitive
        head.assign = 'index'
        loss_c = head.loss_by_feat(preds, [BOXES], [LABELS])
        loss_d = head.loss_by_feat(preds, [BOXES[perm]], [LABELS[perm]])
    torch.testing.assert_close(loss_a['loss_bbox'], loss_c['loss_bbox'])
    assert loss_d['loss_bbox'] > loss_c['loss_bbox']


def test_index_assignment_loss_matches_direct_l1():
    head = _head(assign='index').eval()
    feats = [torch.randn(1, 16, 32, 32)]
    sample = _sample()
    preds = head(feats, [sample.gt_instances_3d.points_3d], [LABELS])
    losses = head.loss(feats, [sample])
    direct = (preds['codes'][0, 0] - encode_boxes(BOXES)).abs().sum() / 3
    torch.testing.assert_close(losses['loss_bbox'], 0.25 * direct)


def test_padding_masked_and_layers():
    head = _head(num_layers=2).eval()
    feats = [torch.randn(2, 16, 32, 32)]
    full, short = _sample(3), _sample(1)
    with torch.no_grad():
        batched = head.predict(feats, [full, short])
        alone = head.predict([feats[0][1:2]], [short])
        losses = head.loss(feats, [full, short])
    assert set(losses) == {'loss_cls', 'loss_bbox', 'd0.loss_cls',
                           'd0.loss_bbox'}
    assert len(batched[0].bboxes_3d) == 3 and len(batched[1].bboxes_3d) == 1
    torch.testing.assert_close(batched[1].bboxes_3d.tensor,
                               alone[0].bboxes_3d.tensor)
    torch.testing.assert_close(batched[1].scores_3d, alone[0].scores_3d)


def test_predict_one_box_per_point():
    head = _head().eval()
    with torch.no_grad():
        res = head.predict([torch.randn(1, 16, 32, 32)], [_sample()])[0]
    assert isinstance(res.bboxes_3d, LiDARInstance3DBoxes)
    # no velocity is predicted: zero columns, as NuScenesMetric needs 9
    assert res.bboxes_3d.tensor.shape == (3, 9)
    assert not res.bboxes_3d.tensor[:, 7:].any()
    assert torch.equal(res.labels_3d, LABELS)
    assert ((res.scores_3d > 0) & (res.scores_3d < 1)).all()
    # untrained regression = anchor: centre at the point, class-mean size
    points = BOXES[:, :3] + 0.2
    torch.testing.assert_close(res.bboxes_3d.gravity_center, points,
                               atol=1e-4, rtol=0)
    torch.testing.assert_close(res.bboxes_3d.dims, torch.tensor(MEAN))


def test_bad_configs_and_inputs():
    with pytest.raises(ValueError, match='assign'):
        _head(assign='greedy')
    with pytest.raises(ValueError, match='GIoU'):
        _head(loss_iou_weight=1.0)
    head = _head()
    feats = [torch.randn(1, 16, 32, 32)]
    ds = Det3DDataSample()
    ds.gt_instances_3d = InstanceData(labels_3d=LABELS)
    with pytest.raises(KeyError, match='points_3d'):
        head.predict(feats, [ds])
    no_box = _sample()
    del no_box.gt_instances_3d.bboxes_3d
    with pytest.raises(KeyError, match='bboxes_3d'):
        head.loss(feats, [no_box])


def test_sample_without_points():
    head = _head()
    empty = _sample(0)
    feats = [torch.randn(2, 16, 32, 32)]
    losses = head.loss(feats, [_sample(), empty])
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    only_empty = head.loss([feats[0][:1]], [empty])
    assert all(float(v) == 0 for v in only_empty.values())
    with torch.no_grad():
        res = head.predict(feats, [_sample(), empty])
    assert len(res[1].bboxes_3d) == 0 and res[1].scores_3d.shape == (0, )



def test_predicted_boxes_format_for_nuscenes_metric():
    """mmdet3d's ``output_to_nusc_box`` (NuScenesMetric) accepts the
    teacher's boxes."""
    from mmdet3d.evaluation.metrics.nuscenes_metric import output_to_nusc_box
    head = _head().eval()
    with torch.no_grad():
        res = head.predict([torch.randn(1, 16, 32, 32)], [_sample()])[0]
    nusc_boxes, _ = output_to_nusc_box(res.to_dict())
    assert len(nusc_boxes) == 3
    assert all(b.velocity.shape == (3, ) for b in nusc_boxes)
