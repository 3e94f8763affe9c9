# BAS for WSSS Stage A (Zhai et al., IJCV 2023, arXiv 2309.12943, Sec. 5;
# shared/specs/bas.md, section 7) on VOC 2012 + SBD `trainaug` tags:
# ResNet-50 at output stride 16, one positive class drawn per image,
# L_mcls + 0.2 L_frg + L_bas + 1.2 L_ac; images resized to 512x512
# (bicubic, aspect ratio not kept), horizontal flip, random 448 crop; batch
# 16, 10 epochs, SGD poly lr 0.005 / 0.05, weight decay 1e-4; SyncBN under
# DDP. Seeds are the generator maps M(x), exported like CAMs:
#   python tools/wsss/make_cams.py configs/bas/bas_resnet50_voc12aug.py \
#       work_dirs/bas_resnet50_voc12aug/epoch_10.pth --split train \
#       --out-dir work_dirs/bas_resnet50_voc12aug/cams
# and optionally fused with a separately trained IRN CAM
# (tools/wsss/fuse_cams.py; see configs/bas/README.md).
_base_ = [
    '../_base_/models/bas_resnet50_wsss.py',
    '../_base_/datasets/voc12aug_cls.py',
    '../_base_/schedules/bas_wsss_sgd_poly_10e.py',
    '../_base_/default_runtime.py',
]
crop_size = 448

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='Resize',
        scale=(512, 512),
        keep_ratio=False,
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='mmpretrain.RandomCrop',
        crop_size=crop_size,
        pad_if_needed=True,
        pad_val=(104, 116, 124)),
    dict(type='mmpretrain.PackInputs'),
]
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))

# L_mcls ranks positives over negatives and leaves the logits uncalibrated,
# so the classification check is mAP only (no F1 at a 0.5 threshold)
test_evaluator = [dict(type='mmpretrain.AveragePrecision')]

# the reference trains with DDP + SyncBN
sync_bn = 'torch'
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=1, max_keep_ckpts=1))
randomness = dict(seed=0)
