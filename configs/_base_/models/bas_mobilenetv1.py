# BAS (Wu et al., CVPR 2022; IJCV 2023 extension) on the modified
# MobileNetV1 (BN + ReLU; the 7th layer at stride 1): all layers but the last
# two give the 512x28x28 X_mid; the last two give the 1024x14x14 X_last.
# Defaults are the extension's CUB-200 values (shared/specs/bas.md).
model = dict(
    type='BASClassifier',
    data_preprocessor=dict(
        type='mmpretrain.ClsDataPreprocessor',
        num_classes=200,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='BASMobileNetV1',
        widen_factor=1.0,
        # the authors' ReLU MobileNetV1 (69.5% ImageNet top-1), converted
        # with tools/model_converters/mobilenet_v1_to_mmweak.py
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/mobilenet_v1_with_relu_69_5_mmweak.pth')),
    head=dict(
        type='BASHead',
        num_classes=200,
        in_channels=1024,
        mid_channels=512,
        hidden_channels=1024,
        final_relu=False,
        bas_loss=dict(
            type='BASLoss', alpha=0.5, beta=1.9, guard_value=1, rectify=True),
        loc_topk=80,
        map_source='pred'),
    loc_thr=0.1)
