# Pretraining of the demo's reduced DeiT (width 64, 6 blocks, patch 12) and
# its classifier: the stand-in for the ImageNet DeiT that SAT starts from in
# the paper. Trained from scratch on a separately seeded SyntheticWSOL (seed
# 1, 8,000 images; the WSOL rows train, calibrate and test on seed 0), run
# once through the committed script, which exports the backbone and the
# classifier (checkpoints/demo/deit-tiny-d64_synthetic-cls.pth) with their
# SHA-256:
#   python tools/misc/pretrain_demo_backbones.py --only deit-tiny-d64_synthetic-cls
# The classifier is the 3x3 conv of the SAT head with *max* pooling of the
# class maps (the most confident position decides); its weights have the
# shape of the SAT / DeiT-CAM heads, so both fine-tunes start from them.
# Class parts are drawn with a half side of 0.045 to 0.09 of the image (8 to
# 16 px at 96 px) and validated on the WSOL set's 8 px parts. On 8 px parts
# alone the DeiT stayed at chance level (1/8) after 900 steps with any head,
# learning rate 5e-4 to 2e-3, patch 8 or 12 and 2,000 or 20,000 images;
# with 16 px parts alone it reached ~97% on 16 px parts in 400 steps but
# did not transfer to the WSOL set (the DeiT rows fine-tuned from it
# classified 33% of the test images); the mixed sizes reach ~80% on 8 px
# parts in 15 epochs (9 min on 2 cores).
_base_ = [
    '../_base_/models/sat_deit-tiny_synthetic.py',
    '../_base_/datasets/synthetic_wsol.py',
    '../_base_/wsol_runtime.py',
]
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch={{_base_.deit_arch}},
        img_size=96,
        patch_size=12,
        drop_path_rate=0.0,
        out_type='featmap'),
    head=dict(
        _delete_=True,
        type='ConvCAMHead',
        num_classes=8,
        in_channels=64,
        pool='max'),
    init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=.02),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    ])

part_scale = (0.045, 0.09)
train_dataloader = dict(
    dataset=dict(
        seed=1, num_samples=8000, with_mask=False, part_scale=part_scale))
val_dataloader = dict(
    dataset=dict(
        seed=1,
        split='val',
        num_samples=500,
        with_mask=False,
        part_scale=0.045))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='mmpretrain.Accuracy', topk=(1, ))
test_evaluator = val_evaluator

max_epochs = 15
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=1e-3, weight_decay=0.05, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
        }),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.02,
        by_epoch=False,
        begin=0,
        end=50),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=3)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1),
    visualization=dict(enable=False))
randomness = dict(seed=1)
