# CAM (Zhou et al., CVPR 2016) on ResNet-50 with a stride-1 last stage
# (output stride 16, a 14x14 map at 224), ImageNet-pretrained.
model = dict(
    type='WSOLClassifier',
    data_preprocessor=dict(
        type='mmpretrain.ClsDataPreprocessor',
        num_classes=200,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='mmpretrain.ResNet',
        depth=50,
        strides=(1, 2, 2, 1),
        out_indices=(3, ),
        style='pytorch',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth',
            prefix='backbone')),
    head=dict(type='CAMHead', num_classes=200, in_channels=2048),
    loc_thr=0.2)
