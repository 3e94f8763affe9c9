# DeepLabV3+ (Chen et al., ECCV 2018) on ResNetV1c-101 at output stride 8,
# mmseg's deeplabv3plus_r101-d8 model for 21 VOC classes (wsss-protocol
# spec, section 8): dilations (1, 1, 2, 4), depthwise-separable ASPP with
# rates (1, 12, 24, 36) + image pooling, decoder on the stage-1 features, an
# auxiliary FCN head on stage 3 (weight 0.4), SyncBN. ImageNet-pretrained
# backbone as in mmseg (`open-mmlab://resnet101_v1c`, for users who have
# it); every nested type carries the `mmseg.` prefix because a prefixed
# type does not change the default scope (mmweak) of its sub-configs.
norm_cfg = dict(type='SyncBN', requires_grad=True)
num_classes = 21
data_preprocessor = dict(
    type='mmseg.SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size=(512, 512),
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='mmseg.EncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained='open-mmlab://resnet101_v1c',
    backbone=dict(
        type='mmseg.ResNetV1c',
        depth=101,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        contract_dilation=True),
    decode_head=dict(
        type='mmseg.DepthwiseSeparableASPPHead',
        in_channels=2048,
        in_index=3,
        channels=512,
        dilations=(1, 12, 24, 36),
        c1_in_channels=256,
        c1_channels=48,
        dropout_ratio=0.1,
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='mmseg.CrossEntropyLoss', use_sigmoid=False,
            loss_weight=1.0)),
    auxiliary_head=dict(
        type='mmseg.FCNHead',
        in_channels=1024,
        in_index=2,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='mmseg.CrossEntropyLoss', use_sigmoid=False,
            loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
