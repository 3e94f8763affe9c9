# Stage 1 of SAT on SyntheticWSOL: train the DeiT backbone as a classifier
# from scratch on a separately seeded SyntheticWSOL (seed 1; the WSOL rows
# train and test on seed 0). Its checkpoint plays the role of the ImageNet
# DeiT weights SAT starts from in the paper:
#   python tools/train.py configs/sat/deit-tiny_pretrain_synthetic.py \
#       --work-dir work_dirs/deit-tiny_pretrain_synthetic
# The classifier is the 3x3 conv of the SAT head with *max* pooling of the
# class maps (the most confident position decides); its weights have the
# shape of the SAT / DeiT-CAM heads, so both fine-tunes start from them.
# The pretraining set draws the class parts at twice the side of the WSOL
# set's (16 px instead of 8 px; `part_scale=0.09`), seed 1, 4000 images: a
# stand-in for ImageNet that a small DeiT learns within the CPU budget. On
# the 8 px parts it stayed at chance level (1/8) after 900 steps with any
# head (cls token, average or max pooling), learning rate 5e-4 to 2e-3,
# patch 8 or 12 and 2,000 or 20,000 images; with 16 px parts it reaches
# ~97% validation accuracy in 400 steps (BENCHMARKS.md, section SAT).
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

part_scale = 0.09
train_dataloader = dict(
    dataset=dict(
        seed=1, num_samples=4000, with_mask=False, part_scale=part_scale))
val_dataloader = dict(
    dataset=dict(
        seed=1,
        split='val',
        num_samples=500,
        with_mask=False,
        part_scale=part_scale))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='mmpretrain.Accuracy', topk=(1, ))
test_evaluator = val_evaluator

max_epochs = 3
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
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1),
    visualization=dict(enable=False))
randomness = dict(seed=1)
