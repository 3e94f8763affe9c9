# Eigen-CAM maps of an mmpretrain ResNet-50 classifier on CUB-200-2011,
# scored with WSOLMetric under the `paper` (crop256) protocol.
# Any checkpoint of this classifier works (keys backbone.*, head.*), e.g. a
# ResNet-50 fine-tuned on CUB with mmpretrain's resnet50_8xb8_cub recipe:
#   python tools/test.py configs/eigencam/eigencam_resnet50_cub.py CKPT
# The map needs no training and no class: with an ImageNet checkpoint the
# GT-known localization is a training-free reference (classification
# metrics are then meaningless).
_base_ = [
    '../_base_/datasets/cub_wsol_crop256.py',
    '../_base_/wsol_runtime.py',
]

model = dict(
    type='EigenCAMLocalizer',
    classifier=dict(
        type='ImageClassifier',
        _scope_='mmpretrain',
        data_preprocessor=dict(
            type='ClsDataPreprocessor',
            num_classes=200,
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            to_rgb=True),
        backbone=dict(
            type='ResNet',
            depth=50,
            num_stages=4,
            out_indices=(3, ),
            style='pytorch'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=200, in_channels=2048)),
    target_layers=['backbone.layer4'],  # the reference's layer4[-1]
    center=False,
    sign='channel_mean',
    solver='gram',
    loc_thr=0.2)

# evaluation only: the classifier is trained elsewhere
val_cfg = dict()
test_cfg = dict()

# training-free: evaluation only (tools/test.py)
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
