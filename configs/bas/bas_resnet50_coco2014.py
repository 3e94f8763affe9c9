# BAS for WSSS Stage A on MS COCO 2014 `train2014` tags (80 classes), with
# the model, augmentation and schedule of bas_resnet50_voc12aug.py. The IJCV 2023
# extension reports VOC only: reusing the VOC settings (including 10 epochs)
# on COCO is an mmweak default, as for the IRN CAM COCO config. Training
# images need at least one tag (coco2014_to_wsss.py without
# --include-empty).
_base_ = [
    '../_base_/models/bas_resnet50_wsss.py',
    '../_base_/datasets/coco2014_cls.py',
    '../_base_/schedules/bas_wsss_sgd_poly_10e.py',
    '../_base_/default_runtime.py',
]
crop_size = 448

model = dict(head=dict(num_classes=80))
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
test_evaluator = [dict(type='mmpretrain.AveragePrecision')]

sync_bn = 'torch'
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=1, max_keep_ckpts=1))
randomness = dict(seed=0)
