# Stage 1 of SAT on SyntheticWSOL: train the DeiT backbone as an ordinary
# classifier (mmpretrain ImageClassifier, cls-token linear head) from
# scratch on a separately seeded SyntheticWSOL (seed 1; the WSOL rows train
# and test on seed 0). Its checkpoint plays the role of the ImageNet DeiT
# weights SAT starts from in the paper:
#   python tools/train.py configs/sat/deit-tiny_pretrain_synthetic.py \
#       --work-dir work_dirs/deit-tiny_pretrain_synthetic
_base_ = [
    '../_base_/datasets/synthetic_wsol.py',
    '../_base_/default_runtime.py',
]
num_classes = 8
deit_arch = dict(
    embed_dims=96, num_layers=6, num_heads=3, feedforward_channels=384)
model = dict(
    type='mmpretrain.ImageClassifier',
    data_preprocessor=dict(
        type='mmpretrain.ClsDataPreprocessor',
        num_classes=num_classes,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='mmpretrain.VisionTransformer',
        arch=deit_arch,
        img_size=96,
        patch_size=12,
        drop_path_rate=0.1),
    neck=None,
    head=dict(
        type='mmpretrain.VisionTransformerClsHead',
        num_classes=num_classes,
        in_channels=96,
        loss=dict(type='mmpretrain.CrossEntropyLoss', loss_weight=1.0)),
    init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=.02),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    ])

# scale jitter: resize to 108 and take a random 96 crop, then flip
train_pipeline = [
    dict(type='WSOLResize', scale=(108, 108), keep_ratio=False),
    dict(type='WSOLRandomCrop', crop_size=96),
    dict(type='WSOLRandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackWSOLInputs'),
]
train_dataloader = dict(
    dataset=dict(seed=1, num_samples=2000, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(seed=1, split='val', num_samples=500, with_mask=False))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='mmpretrain.Accuracy', topk=(1, ))
test_evaluator = val_evaluator

max_epochs = 8
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
        start_factor=0.01,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=1,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1),
    visualization=dict(enable=False))
randomness = dict(seed=1)
