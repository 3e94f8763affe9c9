# Copyright (c) mmweak contributors.
import copy
import math

import numpy as np
import pytest
import torch

from mmweak.structures.bev_alignment import (align_bev_features,
                                             bev_alignment_theta,
                                             bev_aug_matrix)

PCR = [-12.8, -12.8, -5.0, 12.8, 12.8, 3.0]
CELL = 0.4  # 64 x 64 occupancy grid


# --------------------------------------------------------------- pure torch
def test_matrix_of_each_recorded_step():
    ang = 0.3
    c, s = math.cos(ang), math.sin(ang)
    rot_t = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]], np.float32)
    meta = dict(pcd_rotation=rot_t,
                pcd_rotation_angle=ang,
                pcd_scale_factor=2.0,
                pcd_trans=np.array([1., -2., 5.]),
                pcd_horizontal_flip=True,
                pcd_vertical_flip=False,
                transformation_3d_flow=['R', 'S', 'T', 'HF'])
    mat = bev_aug_matrix(meta)
    # (1, 0) -> rotate ccw (c, s) -> scale (2c, 2s) -> +t -> negate y
    out = mat @ torch.tensor([1., 0., 1.], dtype=torch.float64)
    torch.testing.assert_close(
        out, torch.tensor([2 * c + 1, -(2 * s - 2), 1.], dtype=torch.float64))
    # angle-only metainfo gives the same rotation as the matrix
    no_mat = {k: v for k, v in meta.items() if k != 'pcd_rotation'}
    torch.testing.assert_close(bev_aug_matrix(no_mat), mat)
    # without a flow the default order R, S, T, HF, VF is used
    no_flow = {k: v for k, v in meta.items() if k != 'transformation_3d_flow'}
    torch.testing.assert_close(bev_aug_matrix(no_flow), mat)
    # the recorded order matters: flip before rotation differs
    flipped_first = dict(meta, transformation_3d_flow=['HF', 'R', 'S', 'T'])
    assert not torch.allclose(bev_aug_matrix(flipped_first), mat)
    assert torch.equal(bev_aug_matrix({}), torch.eye(3, dtype=torch.float64))


def test_bad_metainfo_is_named():
    with pytest.raises(KeyError, match='pcd_scale_factor'):
        bev_aug_matrix(dict(transformation_3d_flow=['S']))
    with pytest.raises(ValueError, match='unknown transformation_3d_flow'):
        bev_aug_matrix(dict(transformation_3d_flow=['X']))
    with pytest.raises(ValueError, match='B, C, H, W'):
        align_bev_features(torch.zeros(2, 4, 4), [{}, {}], PCR)


def test_identity_and_hand_made_translation():
    feats = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    torch.testing.assert_close(
        align_bev_features(feats, [{}, {}], [0, 0, -1, 4, 4, 1]), feats)
    # sample 1 shifted by +1 m in x (one cell): the weak cell at column j
    # holds what the strong map has at column j + 1
    metas = [{}, dict(pcd_trans=np.array([1., 0., 0.]))]
    out = align_bev_features(feats, metas, [0, 0, -1, 4, 4, 1])
    torch.testing.assert_close(out[0], feats[0])
    torch.testing.assert_close(out[1, :, :, :3], feats[1, :, :, 1:])
    assert (out[1, :, :, 3] == 0).all()  # outside the strong grid
    # horizontal flip (y -> -y) on a y-symmetric range flips the rows
    out = align_bev_features(feats, [dict(pcd_horizontal_flip=True)] * 2,
                             [-2, -2, -1, 2, 2, 1])
    torch.testing.assert_close(out, feats.flip(-2))
    out = align_bev_features(feats, [dict(pcd_vertical_flip=True)] * 2,
                             [-2, -2, -1, 2, 2, 1])
    torch.testing.assert_close(out, feats.flip(-1))


def test_theta_between_two_augmented_views_composes():
    a = dict(pcd_rotation_angle=0.2,
             pcd_scale_factor=1.1,
             pcd_trans=[0.3, -0.1, 0],
             transformation_3d_flow=['R', 'S', 'T'])
    b = dict(pcd_vertical_flip=True, transformation_3d_flow=['VF'])
    theta = bev_alignment_theta([a], PCR, dst_metas=[b])
    # a dst point p_b = VF(p) must sample p_a = A(p) in the source
    p = torch.tensor([3., 4., 1.], dtype=torch.float64)
    half = 12.8
    u_b = (bev_aug_matrix(b) @ p)[:2] / half
    u_a = theta[0] @ torch.cat([u_b, u_b.new_ones(1)])
    torch.testing.assert_close(u_a * half, (bev_aug_matrix(a) @ p)[:2])


# ------------------------------------------------ against mmdet3d itself
def _scene(rng):
    """Asymmetric point clusters (an L, bars, blobs) within 8 m."""
    parts = []
    for cx, cy, lx, ly, yaw in [(4, 1, 4, 1, 0.4), (-3, 5, 1, 3, 0.),
                                (-5, -3, 2.5, 2.5, 0.7), (2, -6, 3, 0.8, 0.),
                                (0.5, -6.5, 0.8, 3, 0.)]:
        local = (rng.random((1500, 2)) - 0.5) * [lx, ly]
        c, s = np.cos(yaw), np.sin(yaw)
        parts.append(local @ np.array([[c, s], [-s, c]]) + [cx, cy])
    xy = np.concatenate(parts)
    return np.c_[xy, rng.random((len(xy), 2))].astype(np.float32)


def _occupancy(xy: np.ndarray) -> torch.Tensor:
    n = int(round((PCR[3] - PCR[0]) / CELL))
    ij = np.floor((xy - np.array(PCR[:2])) / CELL).astype(int)
    ok = ((ij >= 0) & (ij < n)).all(1)
    occ = torch.zeros(n, n)
    occ[ij[ok, 1], ij[ok, 0]] = 1.  # rows = y, columns = x
    return occ


def _iou(a, b):
    a, b = a > 0.5, b > 0.5
    return (a & b).sum().item() / max((a | b).sum().item(), 1)


def _augment(points, pipeline, with_boxes, preset):
    from mmdet3d.registry import TRANSFORMS
    from mmdet3d.structures import LiDARInstance3DBoxes
    from mmdet3d.structures.points import LiDARPoints
    results = dict(points=LiDARPoints(points.copy(), points_dim=4), **preset)
    if with_boxes:
        results['gt_bboxes_3d'] = LiDARInstance3DBoxes(
            torch.tensor([[4., 1., -1., 4., 1., 1.5, 0.4]]))
        results['gt_labels_3d'] = np.array([0])
    for cfg in pipeline:
        results = TRANSFORMS.build(copy.deepcopy(cfg))(results)
    packed = TRANSFORMS.build(dict(type='Pack3DDetInputs',
                                   keys=['points']))(results)
    return packed['inputs']['points'].numpy(), packed['data_samples'].metainfo


def _pipeline(angle, scale, flip_first):
    rot = dict(type='GlobalRotScaleTrans',
               rot_range=[angle, angle],
               scale_ratio_range=[scale, scale],
               translation_std=[0.5, 0.5, 0.5])
    flip = dict(type='RandomFlip3D',
                flip_ratio_bev_horizontal=0.5,
                flip_ratio_bev_vertical=0.5)
    return [flip, rot] if flip_first else [rot, flip]


CASES = [  # angle, scale, hflip, vflip, flip first, with boxes
    (0.39, 1.0, False, False, False, True),
    (-0.39, 1.15, True, False, False, False),
    (0.25, 0.85, False, True, False, True),
    (-0.1, 1.1, True, True, False, False),
    (0.3, 0.9, True, False, True, True),
]


@pytest.mark.parametrize('angle, scale, hf, vf, flip_first, with_boxes', CASES)
def test_warp_undoes_mmdet3d_augmentation(angle, scale, hf, vf, flip_first,
                                          with_boxes):
    pytest.importorskip('mmdet3d')
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    rng = np.random.default_rng(0)
    np.random.seed(1)  # the translation draw
    points = _scene(rng)
    preset = dict(pcd_horizontal_flip=hf, pcd_vertical_flip=vf)
    strong, meta = _augment(points, _pipeline(angle, scale, flip_first),
                            with_boxes, preset)
    assert meta['transformation_3d_flow'] == (
        (['HF'] * hf + ['VF'] * vf + ['R', 'S', 'T']) if flip_first else
        (['R', 'S', 'T'] + ['HF'] * hf + ['VF'] * vf))

    # exact at point level: our matrix reproduces mmdet3d's point motion
    mat = bev_aug_matrix(meta).float()
    ours = points[:, :2] @ mat[:2, :2].T.numpy() + mat[:2, 2].numpy()
    np.testing.assert_allclose(ours, strong[:, :2], atol=1e-4)

    # BEV: warping the strong occupancy back recovers the weak occupancy
    weak_occ = _occupancy(points[:, :2])
    strong_occ = _occupancy(strong[:, :2])[None, None]
    back = align_bev_features(strong_occ, [meta], PCR)[0, 0]
    iou = _iou(back, weak_occ)
    assert iou > 0.8, iou
    # the check is sensitive: wrong rotation sign / swapped flips fail
    wrong = dict(meta, pcd_rotation_angle=-angle)
    wrong.pop('pcd_rotation')
    wrong_back = align_bev_features(strong_occ, [wrong], PCR)[0, 0]
    assert _iou(wrong_back, weak_occ) < iou - 0.2
    if hf != vf:
        swapped = dict(meta,
                       transformation_3d_flow=[{
                           'HF': 'VF',
                           'VF': 'HF'
                       }.get(op, op) for op in meta['transformation_3d_flow']])
        swap_back = align_bev_features(strong_occ, [swapped], PCR)[0, 0]
        assert _iou(swap_back, weak_occ) < iou - 0.2
