# Copyright (c) mmweak contributors.
import math

import pytest
import torch
import torch.nn.functional as F

from mmweak.models.layers.droi_cross_attention import (DRoICrossAttention,
                                                       box_local_to_bev)
from mmweak.registry import MODELS

PCR = [-12.8, -12.8, -5.0, 12.8, 12.8, 3.0]


def _attn(**kwargs):
    cfg = dict(
        type='mmweak.DRoICrossAttention',
        embed_dims=8,
        num_heads=2,
        num_levels=2,
        num_points=4,
        roi_size=7,
        point_cloud_range=PCR,
        dropout=0.)
    cfg.update(kwargs)
    attn = MODELS.build(cfg)
    attn.init_weights()
    return attn


def _coordinate_map(height=32, width=32):
    """BEV map whose channels hold the metric x and y of each cell centre."""
    xs = PCR[0] + (torch.arange(width) + 0.5) * (PCR[3] - PCR[0]) / width
    ys = PCR[1] + (torch.arange(height) + 0.5) * (PCR[4] - PCR[1]) / height
    return torch.stack((xs[None].expand(height, -1),
                        ys[:, None].expand(-1, width)))[None]


def _to_box_frame(xy, box):
    d = xy - box[:2]
    c, s = math.cos(box[6]), math.sin(box[6])
    return torch.stack((d[..., 0] * c + d[..., 1] * s,
                        -d[..., 0] * s + d[..., 1] * c), -1)


def test_roi_grid_covers_rotated_prior_box():
    attn = _attn()
    box = torch.tensor([2.0, -3.0, 0.0, 6.0, 2.5, 1.5, 0.6])
    grid = attn.roi_grid(box.view(1, 1, 7))  # (1, 1, 49, 2) normalised
    assert grid.shape == (1, 1, 49, 2)
    # sample the coordinate pattern like the attention does
    sampled = F.grid_sample(
        _coordinate_map(), (2 * grid - 1).view(1, 1, 49, 2),
        align_corners=False)[0, :, 0].t()  # (49, 2) metric x, y
    local = _to_box_frame(sampled, box)
    half = torch.tensor([3.0, 1.25])
    assert (local.abs() <= half + 1e-4).all()
    # the 7x7 cell centres span the box: extreme rows at 3/7 of the size
    torch.testing.assert_close(
        local.abs().max(0).values, half * 6 / 7, atol=1e-4, rtol=0)
    torch.testing.assert_close(local.mean(0), torch.zeros(2), atol=1e-4,
                               rtol=0)
    # cell spacing l/7 along the heading, w/7 across it
    local = local.view(7, 7, 2)
    torch.testing.assert_close(local[1:, :, 0] - local[:-1, :, 0],
                               torch.full((6, 7), 6.0 / 7), atol=1e-4,
                               rtol=0)
    torch.testing.assert_close(local[:, 1:, 1] - local[:, :-1, 1],
                               torch.full((7, 6), 2.5 / 7), atol=1e-4,
                               rtol=0)


def test_box_local_to_bev_rotation():
    box = torch.tensor([[[0.0, 0.0, 0.0, 2.0, 1.0, 1.0, math.pi / 2]]])
    local = torch.tensor([[[[0.5, 0.0], [0.0, 0.5]]]])  # front, left edge
    xy = box_local_to_bev(local, box, torch.tensor(PCR))
    metric = xy * 25.6 - 12.8
    torch.testing.assert_close(
        metric, torch.tensor([[[[0.0, 1.0], [-0.5, 0.0]]]]), atol=1e-5,
        rtol=0)


def test_sampling_locations_at_init():
    attn = _attn()
    query = torch.randn(1, 3, 8)
    ref = torch.rand(1, 3, 3)
    boxes = torch.tensor([[[0., 0., 0., 4., 2., 1.5, 0.3]]]).repeat(1, 3, 1)
    shapes = torch.tensor([[32, 32], [16, 16]])
    free, roi = attn.lidar_sampling_locations(query, ref, boxes, shapes)
    assert free.shape == (1, 3, 2, 2, 4, 2)
    assert roi.shape == (1, 3, 2, 2, 49, 2)
    # zero-initialised RoI offsets: exactly the plain grid at every head
    plain = attn.roi_grid(boxes)[:, :, None, None]
    torch.testing.assert_close(roi, plain.expand_as(roi))
    # free points: reference + bias / (W, H) of each level
    bias = attn.sampling_offsets.bias.view(2, 2, 4, 2)
    norm = torch.tensor([[32., 32.], [16., 16.]]).view(1, 2, 1, 2)
    expected = ref[:, :, None, None, None, :2] + bias / norm
    torch.testing.assert_close(free, expected.expand_as(free))


def test_roi_only_attention_reads_the_box_centre():
    """With value/out/fusion projections = identity and the free points
    switched off, the output is the query plus the mean of the coordinate
    pattern over the RoI grid, i.e. the prior box centre."""
    attn = _attn(embed_dims=2, num_heads=1, num_levels=1, num_points=4)
    with torch.no_grad():
        for lin in (attn.value_proj, attn.lidar_out_proj, attn.fusion_proj):
            lin.weight.copy_(torch.eye(2))
            lin.bias.zero_()
        attn.attention_weights.bias.view(1, 1, 4 + 49)[..., :4] = -1e4
    boxes = torch.tensor([[[2.0, -3.0, 0.0, 6.0, 2.5, 1.5, 0.6],
                           [-5.0, 4.0, 0.0, 1.0, 3.0, 1.0, -1.2]]])
    query = torch.zeros(1, 2, 2)
    ref = torch.rand(1, 2, 3)
    out = attn(query, None, ref, boxes, [_coordinate_map()])
    torch.testing.assert_close(out[0], boxes[0, :, :2], atol=1e-4, rtol=0)


def test_forward_padding_and_gradients():
    attn = _attn()
    attn.train()
    query = torch.randn(2, 3, 8, requires_grad=True)
    pos = torch.randn(2, 3, 8)
    ref = torch.rand(2, 3, 3)
    boxes = torch.cat((ref * 10, torch.full((2, 3, 3), 2.0),
                       torch.zeros(2, 3, 1)), -1).requires_grad_()
    feats = [torch.randn(2, 8, 32, 32), torch.randn(2, 8, 16, 16)]
    mask = torch.tensor([[False, False, False], [False, True, True]])
    out = attn(query, pos, ref, boxes, feats, key_padding_mask=mask)
    assert out.shape == (2, 3, 8)
    torch.testing.assert_close(out[mask], query[mask])
    out.sum().backward()
    for name in ('value_proj', 'sampling_offsets', 'roi_offsets',
                 'attention_weights', 'fusion_proj'):
        grad = getattr(attn, name).weight.grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert boxes.grad is None  # the prior is detached
    with pytest.raises(ValueError, match='BEV levels'):
        attn(query, pos, ref, boxes, feats[:1])


# ---------------------------------------------------------------- cameras
IMG_H, IMG_W, FOCAL = 48, 64, 40.0


def _cameras():
    """Camera 0 looks along +x (LiDAR forward), camera 1 along -x."""
    intrinsic = torch.tensor([[FOCAL, 0., IMG_W / 2, 0.],
                              [0., FOCAL, IMG_H / 2, 0.], [0., 0., 1., 0.],
                              [0., 0., 0., 1.]])
    front = torch.tensor([[0., -1., 0., 0.], [0., 0., -1., 0.],
                          [1., 0., 0., 0.], [0., 0., 0., 1.]])
    back = torch.tensor([[0., 1., 0., 0.], [0., 0., -1., 0.],
                         [-1., 0., 0., 0.], [0., 0., 0., 1.]])
    return torch.stack((intrinsic @ front, intrinsic @ back))[None]


def _cam_attn(**kwargs):
    cfg = dict(
        with_camera=True, num_cams=2, num_cam_levels=2, num_cam_points=4)
    cfg.update(kwargs)
    return _attn(**cfg)


def _pixel_map(height, width):
    """Image map whose channels hold the normalised pixel u and v."""
    us = (torch.arange(width) + 0.5) / width
    vs = (torch.arange(height) + 0.5) / height
    return torch.stack((us[None].expand(height, -1),
                        vs[:, None].expand(-1, width)))


def test_projection_and_visibility():
    from mmweak.models.layers.droi_cross_attention import project_to_cameras
    points = torch.tensor([[[10.0, 0.0, 0.0], [10.0, -2.0, 1.0]]])
    uv, depth = project_to_cameras(points, _cameras(), (IMG_H, IMG_W))
    assert uv.shape == (1, 2, 2, 2) and depth.shape == (1, 2, 2)
    torch.testing.assert_close(uv[0, 0, 0], torch.tensor([0.5, 0.5]))
    # 2 m to the right and 1 m up at 10 m: u = 32 + 40 * 0.2, v = 24 - 4
    torch.testing.assert_close(
        uv[0, 0, 1], torch.tensor([(32 + 8) / IMG_W, (24 - 4) / IMG_H]))
    assert (depth[0, 0] > 0).all() and (depth[0, 1] < 0).all()


def test_camera_roi_grid_covers_projected_box():
    from mmweak.models.layers.droi_cross_attention import (box_corners,
                                                           project_to_cameras)
    attn = _cam_attn()
    box = torch.tensor([[[10.0, 1.0, 0.0, 4.0, 2.0, 1.5, 0.4]]])
    query = torch.randn(1, 1, 8)
    shapes = torch.tensor([[12, 16], [6, 8]])
    free, roi, visible = attn.camera_sampling_locations(
        query, box, _cameras(), (IMG_H, IMG_W), shapes)
    assert visible.tolist() == [[[True], [False]]]
    assert free.shape == (1, 2, 1, 2, 2, 4, 2)
    assert roi.shape == (1, 2, 1, 2, 2, 49, 2)
    corners, _ = project_to_cameras(box_corners(box), _cameras(),
                                    (IMG_H, IMG_W))
    low = corners[0, 0, 0].min(0).values
    high = corners[0, 0, 0].max(0).values
    # sample the pixel pattern at the front camera's RoI grid
    grid = roi[0, 0, 0, 0, 0]  # (49, 2)
    sampled = F.grid_sample(
        _pixel_map(IMG_H, IMG_W)[None], (2 * grid - 1).view(1, 1, 49, 2),
        align_corners=False)[0, :, 0].t()
    assert ((sampled >= low - 1e-4) & (sampled <= high + 1e-4)).all()
    size = high - low
    torch.testing.assert_close(sampled.min(0).values, low + size / 14,
                               atol=1e-4, rtol=0)
    torch.testing.assert_close(sampled.max(0).values, high - size / 14,
                               atol=1e-4, rtol=0)
    # free points start around the projected reference point
    ref_uv = torch.tensor([0.5 - FOCAL * 0.1 / IMG_W, 0.5])
    bias = attn.cam_sampling_offsets.bias.view(2, 2, 4, 2)
    norm = torch.tensor([[16., 12.], [8., 6.]]).view(1, 2, 1, 2)
    torch.testing.assert_close(free[0, 0, 0], ref_uv + bias / norm)


def test_invisible_cameras_are_masked():
    attn = _cam_attn().eval()
    torch.nn.init.normal_(attn.cam_weights.weight)
    query = torch.randn(1, 2, 8)
    ref = torch.rand(1, 2, 3)
    # query 0 in front of camera 0; query 1 above the sensor: no camera
    boxes = torch.tensor([[[10.0, 1.0, 0.0, 4.0, 2.0, 1.5, 0.4],
                           [0.0, 0.0, 30.0, 1.0, 1.0, 1.0, 0.0]]])
    bev = [torch.randn(1, 8, 32, 32), torch.randn(1, 8, 16, 16)]
    imgs = [torch.randn(1, 2, 8, 12, 16), torch.randn(1, 2, 8, 6, 8)]

    def run(feats):
        return attn(query, None, ref, boxes, bev, img_feats=feats,
                    lidar2img=_cameras(), img_shape=(IMG_H, IMG_W))

    base = run(imgs)
    back_changed = [f.clone() for f in imgs]
    for f in back_changed:
        f[:, 1] = torch.randn_like(f[:, 1])
    torch.testing.assert_close(run(back_changed), base)
    front_changed = [f.clone() for f in imgs]
    for f in front_changed:
        f[:, 0] = torch.randn_like(f[:, 0])
    changed = run(front_changed)
    assert not torch.allclose(changed[0, 0], base[0, 0])
    torch.testing.assert_close(changed[0, 1], base[0, 1])  # sees nothing
    cam = attn.camera_features(query, boxes, imgs, _cameras(),
                               (IMG_H, IMG_W))
    torch.testing.assert_close(cam[0, 1], attn.cam_out_proj.bias)


def test_camera_branch_gradients_and_errors():
    attn = _cam_attn()
    query = torch.randn(1, 2, 8)
    ref = torch.rand(1, 2, 3)
    boxes = torch.tensor([[[10.0, 1.0, 0.0, 4.0, 2.0, 1.5, 0.4],
                           [-8.0, 0.5, 0.0, 1.0, 1.0, 1.0, 0.0]]])
    bev = [torch.randn(1, 8, 32, 32), torch.randn(1, 8, 16, 16)]
    imgs = [torch.randn(1, 2, 8, 12, 16, requires_grad=True),
            torch.randn(1, 2, 8, 6, 8, requires_grad=True)]
    out = attn(query, None, ref, boxes, bev, img_feats=imgs,
               lidar2img=_cameras(), img_shape=(IMG_H, IMG_W))
    out.sum().backward()
    assert torch.isfinite(imgs[0].grad).all()
    assert imgs[0].grad[:, 0].abs().sum() > 0  # front camera (query 0)
    assert imgs[0].grad[:, 1].abs().sum() > 0  # back camera (query 1)
    for name in ('cam_sampling_offsets', 'cam_roi_offsets',
                 'cam_attention_weights', 'cam_value_proj'):
        assert getattr(attn, name).weight.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match='needs img_feats'):
        attn(query, None, ref, boxes, bev)
    with pytest.raises(ValueError, match='with_camera=False'):
        _attn()(query, None, ref, boxes, bev, img_feats=imgs)
    with pytest.raises(ValueError, match='2 cameras'):
        attn(query, None, ref, boxes, bev, img_feats=[f[:, :1] for f in imgs],
             lidar2img=_cameras()[:, :1], img_shape=(IMG_H, IMG_W))
