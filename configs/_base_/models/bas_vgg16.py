# BAS (Wu et al., CVPR 2022; IJCV 2023 extension) on VGG16: conv4_3 (+ReLU,
# before pool4) is the 28x28 X_mid read by the generator; pool4 and
# conv5_1..conv5_3 (no pool5, no FC) give the 14x14 X_last.
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
        type='BASVGG',
        depth=16,
        # ImageNet VGG16 of mmpretrain (torchvision's vgg16-397923af.pth,
        # used by BAS, has other key names: features.<i>.weight instead of
        # features.<i>.conv.weight)
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'vgg/vgg16_batch256_imagenet_20210208-db26f1a5.pth',
            prefix='backbone')),
    head=dict(
        type='BASHead',
        num_classes=200,
        in_channels=512,
        mid_channels=512,
        hidden_channels=1024,
        final_relu=False,
        bas_loss=dict(
            type='BASLoss', alpha=0.0, beta=0.9, guard_value=0, rectify=True),
        loc_topk=80,
        map_source='pred'),
    loc_thr=0.1)
