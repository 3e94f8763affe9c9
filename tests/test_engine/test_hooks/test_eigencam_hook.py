# Copyright (c) mmweak contributors.
import glob
import os
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.runner import Runner
from mmengine.visualization import Visualizer

from mmweak.engine import EigenCAMHook
from mmweak.registry import HOOKS, MODELS


def classifier_cfg():
    return dict(
        type='WSOLClassifier',
        data_preprocessor=dict(
            type='mmpretrain.ClsDataPreprocessor',
            num_classes=2,
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            to_rgb=True),
        backbone=dict(
            type='mmpretrain.ResNet',
            depth=18,
            strides=(1, 2, 2, 1),
            out_indices=(3, )),
        head=dict(type='CAMHead', num_classes=2, in_channels=512))


def count_hooks(model):
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks)
        for m in model.modules())


def image_folder(root, per_class=2, size=40):
    """A CustomDataset folder: one sub-folder per class, PNG images."""
    rng = np.random.default_rng(0)
    for cls in ('a', 'b'):
        for i in range(per_class):
            img = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            img[10:25, 12:30] = 255  # a bright object
            path = osp.join(root, cls, f'{cls}{i}.png')
            os.makedirs(osp.dirname(path), exist_ok=True)
            cv2.imwrite(path, img)
    return root


def test_hook_draws_the_first_samples_then_removes_its_hooks(tmp_path):
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    model = MODELS.build(classifier_cfg()).eval()
    visualizer = Visualizer(
        name='eigencam_hook_unit',
        vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(tmp_path))
    runner = SimpleNamespace(model=model, visualizer=visualizer, iter=7)
    hook = HOOKS.build(
        dict(type='EigenCAMHook', target_layers='backbone.layer4',
             max_samples=3))
    assert isinstance(hook, EigenCAMHook)
    gen = torch.Generator().manual_seed(0)
    images = [
        torch.randint(0, 256, (3, 32, 32), generator=gen, dtype=torch.uint8)
        for _ in range(2)
    ]

    def data_batch(offset):
        return dict(
            inputs=images,
            data_samples=[
                DataSample(
                    metainfo=dict(
                        img_shape=(32, 32), img_path=f'img{offset + i}.jpg'))
                for i in range(2)
            ])

    hook.before_val_epoch(runner)
    assert count_hooks(model) == 2  # target layer + model input
    for it in range(3):
        batch = data_batch(2 * it)
        outputs = model.val_step(batch)
        hook.after_val_iter(runner, it, batch, outputs)
        if it >= 1:  # 3 samples drawn after the second batch
            assert count_hooks(model) == 0
    hook.after_val_epoch(runner)
    files = sorted(glob.glob(str(tmp_path / 'vis_data' / 'vis_image' /
                                 '*.png')))
    assert [osp.basename(f) for f in files] == [
        'eigencam_img0_7.png', 'eigencam_img1_7.png', 'eigencam_img2_7.png'
    ]
    drawn = cv2.imread(files[0])
    assert drawn.shape == (32, 32, 3)
    plain = images[0].permute(1, 2, 0).numpy()  # BGR like cv2.imread
    assert np.abs(drawn.astype(int) - plain.astype(int)).mean() > 1


def test_hook_in_a_runner_test_writes_local_and_tensorboard_images(tmp_path):
    pytest.importorskip('tensorboard')
    data_root = image_folder(str(tmp_path / 'data'))
    pipeline = [
        dict(type='mmcv.LoadImageFromFile'),
        dict(type='mmcv.Resize', scale=(32, 32)),
        dict(type='mmpretrain.PackInputs'),
    ]
    torch.manual_seed(0)
    runner = Runner(
        model=classifier_cfg(),
        work_dir=str(tmp_path / 'work'),
        test_dataloader=dict(
            batch_size=2,
            num_workers=0,
            dataset=dict(
                type='mmpretrain.CustomDataset',
                data_root=data_root,
                pipeline=pipeline),
            sampler=dict(type='DefaultSampler', shuffle=False)),
        test_cfg=dict(),
        test_evaluator=dict(type='mmpretrain.Accuracy'),
        custom_hooks=[
            dict(
                type='EigenCAMHook',
                target_layers=['backbone.layer4'],
                max_samples=3)
        ],
        visualizer=dict(
            type='Visualizer',
            vis_backends=[
                dict(type='LocalVisBackend'),
                dict(type='TensorboardVisBackend')
            ]),
        default_scope='mmweak')
    metrics = runner.test()
    assert 'accuracy/top1' in metrics
    vis_dir = osp.join(runner.work_dir, runner.timestamp, 'vis_data')
    local = sorted(glob.glob(osp.join(vis_dir, 'vis_image', '*.png')))
    assert len(local) == 3
    assert all(osp.basename(f).startswith('eigencam_') for f in local)
    assert cv2.imread(local[0]).shape == (32, 32, 3)
    assert glob.glob(osp.join(vis_dir, 'events.out.tfevents.*'))
    assert count_hooks(runner.model) == 0


def test_hook_rejects_bad_settings():
    with pytest.raises(ValueError, match='target_layers'):
        EigenCAMHook(target_layers=[])
    with pytest.raises(ValueError, match='max_samples'):
        EigenCAMHook(target_layers='backbone', max_samples=-1)
