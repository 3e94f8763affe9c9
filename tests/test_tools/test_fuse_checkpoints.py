# Copyright (c) mmweak contributors.
"""tools/point_detr3d/fuse_checkpoints.py: LiDAR ``pts_*`` (no head) plus
image ``backbone``/``neck`` -> ``img_*``, prefix maps, provenance meta and
clear errors, on tiny fake checkpoints."""
import hashlib
import os

import pytest
import torch
from torch import nn

from mmweak.testing import load_tool_script
from mmweak.utils import load_checkpoint_safely


def _tree(**modules):
    tree = nn.Module()
    for name, module in modules.items():
        setattr(tree, name, module)
    return tree


def _lidar():  # a CenterPoint-shaped LiDAR detector
    return _tree(pts_voxel_encoder=nn.Linear(4, 8),
                 pts_backbone=nn.Sequential(nn.Conv2d(8, 8, 3),
                                            nn.BatchNorm2d(8)),
                 pts_neck=nn.Conv2d(8, 16, 1),
                 pts_bbox_head=nn.Conv2d(16, 10, 1))


def _image():  # an FCOS3D-shaped (mmdet naming) image detector
    return _tree(backbone=nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)),
                 neck=nn.Conv2d(4, 6, 1),
                 bbox_head=nn.Conv2d(6, 10, 1))


def _teacher():  # the Point-DETR3D teacher's module names
    return _tree(img_backbone=nn.Sequential(nn.Conv2d(3, 4, 3),
                                            nn.BatchNorm2d(4)),
                 img_neck=nn.Conv2d(4, 6, 1),
                 pts_voxel_encoder=nn.Linear(4, 8),
                 pts_backbone=nn.Sequential(nn.Conv2d(8, 8, 3),
                                            nn.BatchNorm2d(8)),
                 pts_neck=nn.Conv2d(8, 16, 1),
                 pts_bbox_head=nn.Linear(16, 7))


@pytest.fixture(scope='module')
def setup(tmp_path_factory, repo_root):
    tmp = tmp_path_factory.mktemp('fuse')
    torch.manual_seed(0)
    lidar, image = _lidar(), _image()
    paths = dict(lidar=str(tmp / 'centerpoint.pth'),
                 image=str(tmp / 'fcos3d.pth'),
                 ddp=str(tmp / 'img_ddp.pth'))
    torch.save({
        'state_dict': lidar.state_dict(),
        'meta': {
            'epoch': 20
        }
    }, paths['lidar'])
    torch.save({'state_dict': image.state_dict()}, paths['image'])
    # a DDP-saved checkpoint already using the teacher's image names
    torch.save(
        {
            'module.' + k: v
            for k, v in _tree(img_backbone=image.backbone,
                              img_neck=image.neck,
                              pts_x=nn.Linear(1, 1)).state_dict().items()
        }, paths['ddp'])
    tool = load_tool_script(repo_root,
                            'tools/point_detr3d/fuse_checkpoints.py')
    return dict(tmp=tmp, tool=tool, paths=paths, lidar=lidar, image=image)


def test_fuse_takes_lidar_and_image_parts(setup):
    tool, paths, out = setup['tool'], setup['paths'], \
        str(setup['tmp'] / 'fused.pth')
    tool.main(
        ['--lidar', paths['lidar'], '--image', paths['image'], '--out', out])
    ckpt = load_checkpoint_safely(out)
    teacher = _teacher()
    result = teacher.load_state_dict(ckpt['state_dict'], strict=False)
    assert sorted(
        result.missing_keys) == ['pts_bbox_head.bias', 'pts_bbox_head.weight']
    assert result.unexpected_keys == []
    for name, value in setup['lidar'].state_dict().items():
        if not name.startswith('pts_bbox_head'):
            assert torch.equal(teacher.state_dict()[name], value)
    for name, value in setup['image'].state_dict().items():
        if not name.startswith('bbox_head'):
            assert torch.equal(teacher.state_dict()['img_' + name], value)
    meta = ckpt['meta']
    assert meta['fused_by'] == 'tools/point_detr3d/fuse_checkpoints.py'
    for source in ('lidar', 'image'):
        info = meta['sources'][source]
        assert info['sha256'] == hashlib.sha256(
            open(paths[source], 'rb').read()).hexdigest()
    assert meta['sources']['lidar']['skipped'] == [
        'pts_bbox_head.weight', 'pts_bbox_head.bias'
    ]
    assert meta['sources']['image']['skipped'] == [
        'bbox_head.weight', 'bbox_head.bias'
    ]
    assert 'img_backbone.1.running_mean' in meta['sources']['image']['taken']
    assert not [p for p in os.listdir(setup['tmp']) if p.startswith('.')]


def test_img_named_ddp_checkpoint_and_maps(setup):
    tool, paths, out = setup['tool'], setup['paths'], \
        str(setup['tmp'] / 'mapped.pth')
    fused = tool.main([
        '--lidar', paths['lidar'], '--image', paths['ddp'], '--out', out,
        '--map', 'img_neck.=img_neck.fpn.', '--map', 'pts_=lidar_',
        '--lidar-exclude'
    ])
    names = set(fused['state_dict'])
    assert {
        'img_neck.fpn.weight', 'img_backbone.0.weight',
        'lidar_bbox_head.weight', 'lidar_voxel_encoder.weight'
    } <= names
    assert not any(n.startswith(('pts_', 'module.')) for n in names)
    assert fused['meta']['sources']['image']['skipped'] == [
        'pts_x.weight', 'pts_x.bias'
    ]
    assert fused['meta']['rules']['maps'] == [
        'img_neck.=img_neck.fpn.', 'pts_=lidar_'
    ]
    assert torch.equal(
        load_checkpoint_safely(out)['state_dict']['img_neck.fpn.weight'],
        setup['image'].neck.weight)


def test_errors(setup, tmp_path):
    tool, paths = setup['tool'], setup['paths']
    out = str(tmp_path / 'x.pth')
    with pytest.raises(ValueError,
                       match=r"centerpoint.pth: no tensor taken "
                       r"\(names starting with 'lidar_'\)"):
        tool.main([
            '--lidar', paths['lidar'], '--image', paths['image'], '--out', out,
            '--lidar-prefix', 'lidar_'
        ])
    with pytest.raises(ValueError,
                       match=r"fcos3d.pth: no tensor taken.*"
                       r"start with \['backbone', 'bbox_head', 'neck'\]"):
        tool.main([
            '--lidar', paths['lidar'], '--image', paths['image'], '--out', out,
            '--image-modules', 'img_neck'
        ])
    with pytest.raises(ValueError, match=r"rule\(s\) \['cam_=x_'\] match no"):
        tool.main([
            '--lidar', paths['lidar'], '--image', paths['image'], '--out', out,
            '--map', 'cam_=x_'
        ])
    with pytest.raises(ValueError, match='both give'):
        tool.main([
            '--lidar', paths['lidar'], '--image', paths['lidar'], '--out', out,
            '--image-prefix', '', '--image-modules', 'pts_neck'
        ])
    with pytest.raises(SystemExit):
        tool.parse_args(
            ['--lidar', 'a', '--image', 'b', '--out', out, '--map', 'nodst'])
    with pytest.raises(FileNotFoundError):
        tool.main([
            '--lidar',
            str(tmp_path / 'none.pth'), '--image', paths['image'], '--out', out
        ])
    torch.save({'state_dict': {'a': 1}}, str(tmp_path / 'bad.pth'))
    with pytest.raises(ValueError, match='bad.pth: expected a checkpoint'):
        tool.main([
            '--lidar',
            str(tmp_path / 'bad.pth'), '--image', paths['image'], '--out', out
        ])
    assert not os.path.exists(out)


def test_lidar_only_teacher_needs_no_image_checkpoint(setup):
    """Without --image (a LiDAR-only teacher) the LiDAR tensors alone are
    taken, and the meta records that no image source was used."""
    out = str(setup['tmp'] / 'lidar_only.pth')
    setup['tool'].main(['--lidar', setup['paths']['lidar'], '--out', out])
    fused = load_checkpoint_safely(out)
    assert fused['meta']['sources']['image'] is None
    expected = {
        k: v
        for k, v in setup['lidar'].state_dict().items()
        if not k.startswith('pts_bbox_head.')
    }
    assert set(fused['state_dict']) == set(expected)
    for key, value in expected.items():
        assert torch.equal(fused['state_dict'][key], value), key
