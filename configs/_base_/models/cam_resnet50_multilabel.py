# The CAM network of IRN (Ahn et al., CVPR 2019) for WSSS Stage A: an
# ImageNet-pretrained ResNet-50 at output stride 16 (layer4 at stride 1), a
# bias-free 1x1 classifier over the last map (logits = classifier(GAP)),
# multi-label soft-margin loss. As in IRN's reference code, every BN layer
# stays in eval mode (norm_eval) and the stem, layer1 and layer2 get no
# gradient (`stage2(x).detach()` there): frozen_stages=2.
model = dict(
    type='MultiLabelCAMClassifier',
    data_preprocessor=dict(
        type='mmpretrain.ClsDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='mmpretrain.ResNet',
        depth=50,
        strides=(1, 2, 2, 1),
        out_indices=(3, ),
        style='pytorch',
        frozen_stages=2,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth',
            prefix='backbone')),
    head=dict(
        type='MultiLabelCAMHead',
        num_classes=20,
        in_channels=2048,
        loss=dict(type='mmpretrain.CrossEntropyLoss', use_sigmoid=True)))
