# SAT (Wu et al., ICCV 2023): DeiT-S with the spatial-aware token, the last
# 3 blocks gated, a 3x3 conv classifier on the patch tokens and the batch
# area / normalization losses. Initialised from the official ImageNet DeiT-S
# (deit_small_patch16_224-cd65a155.pth, converted with
# tools/model_converters/deit_to_sat.py; see configs/sat/README.md).
model = dict(
    type='WSOLClassifier',
    data_preprocessor=dict(
        type='mmpretrain.ClsDataPreprocessor',
        num_classes=200,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='SATVisionTransformer',
        arch='deit-small',
        img_size=224,
        patch_size=16,
        num_gated_blocks=3,
        drop_rate=0.,
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/deit_small_patch16_224-cd65a155_mmpretrain'
            '.pth',
            prefix='backbone')),
    head=dict(
        type='SATHead',
        num_classes=200,
        in_channels=384,
        loss=dict(type='mmpretrain.CrossEntropyLoss', loss_weight=1.0),
        loc_loss=dict(
            type='SATLoss', area_target=0.25, area_weight=1.0,
            norm_weight=1.0)),
    loc_thr=0.4)
