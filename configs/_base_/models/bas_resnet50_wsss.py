# BAS for WSSS (Zhai et al., IJCV 2023, arXiv 2309.12943, Sec. 5;
# shared/specs/bas.md, section 7): ResNet-50 with layer3 at output stride 16
# and layer4 at stride 1 (a 448 crop gives 28x28 maps for both); the
# generator (bias-free Conv3x3(1024 -> 20) + Sigmoid) reads layer3, the
# classifier (bias-free Conv1x1(2048 -> 20)) reads layer4; the erase branch
# is layer4 + classifier with frozen weights (functional, no copies). Each
# image draws one positive class per iteration; loss
# L_mcls + 0.2 L_frg + L_bas + 1.2 L_ac. BN trains (the reference uses
# SyncBN); nothing is frozen. forward_cam gives the generator maps M(x).
model = dict(
    type='BASWSSSClassifier',
    data_preprocessor=dict(
        type='mmpretrain.ClsDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='BASResNet',
        depth=50,
        strides=(1, 2, 2, 1),
        tail_pool=False,
        style='pytorch',
        # torchvision's ResNet-50, the reference's initialisation; its keys
        # are those of mmpretrain's ResNet, so it loads without a prefix
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.pytorch.org/models/'
            'resnet50-19c8e357.pth')),
    head=dict(
        type='BASWSSSHead',
        num_classes=20,
        in_channels=2048,
        mid_channels=1024,
        loss=dict(type='PosNegCrossEntropyLoss', loss_weight=1.0),
        bas_loss=dict(
            type='BASLoss', alpha=0.2, beta=1.2, guard_value=1, rectify=True),
        detach_frg_feats=True))
