# BAS (Wu et al., CVPR 2022; IJCV 2023 extension) on the modified
# InceptionV3: Mixed_6e (768x28x28, Mixed_6a at stride 1) is X_mid; Mixed_7a
# (stride 2, padding 1) -> 7b -> 7c give the 2048x14x14 X_last.
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
        type='BASInceptionV3',
        # torchvision's ImageNet InceptionV3 converted by mmpretrain; the
        # torchvision file itself (inception_v3_google-*.pth, used by BAS)
        # has the same key names and loads without the prefix
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'inception-v3/inception-v3_3rdparty_8xb32_in1k_20220615-'
            'dcd4d910.pth',
            prefix='backbone')),
    head=dict(
        type='BASHead',
        num_classes=200,
        in_channels=2048,
        mid_channels=768,
        hidden_channels=1024,
        final_relu=False,
        bas_loss=dict(
            type='BASLoss', alpha=0.5, beta=1.0, guard_value=1, rectify=True),
        loc_topk=200,
        map_source='pred'),
    loc_thr=0.1)
