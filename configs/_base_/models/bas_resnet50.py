# BAS (Wu et al., CVPR 2022; IJCV 2023 extension) on ResNet-50: layer3 at
# stride 1 gives the 28x28 X_mid read by the generator; a 2x2 max-pool and
# layer4 (stride 1) give the 14x14 X_last read by the classifier head.
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
        type='BASResNet',
        depth=50,
        strides=(1, 2, 1, 1),
        style='pytorch',
        # torchvision's ResNet-50 (the BAS initialisation); its key names are
        # those of mmpretrain's ResNet, so it loads without a prefix
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.pytorch.org/models/'
            'resnet50-19c8e357.pth')),
    head=dict(
        type='BASHead',
        num_classes=200,
        in_channels=2048,
        mid_channels=1024,
        hidden_channels=1024,
        final_relu=False,
        bas_loss=dict(
            type='BASLoss', alpha=0.5, beta=1.5, guard_value=1, rectify=True),
        loc_topk=200,
        map_source='pred'),
    loc_thr=0.1)
