# DeepLab v2 (Chen et al., TPAMI 2017) on ResNet-101 at output stride 8, the
# Stage C segmenter of the IRN lineage (wsss-protocol spec, section 8):
# ResNetV1c-101 with dilations (1, 1, 2, 4) and mmweak's DeepLabV2Head
# (ASPP-L: four 3x3 convolutions with rates 6/12/18/24 from the 2048-channel
# stage-4 features straight to the class logits, summed; no BN, no image
# pooling, no auxiliary head). As in DeepLab v2, BN is frozen (ImageNet
# statistics and affine parameters, `norm_eval`): its batch of 5 is too
# small to estimate them. ImageNet-pretrained backbone named as in mmseg
# (`open-mmlab://resnet101_v1c`, for users who have it); the COCO-pretrained
# DeepLab v2 weights of the `*` rows are user-supplied (`load_from`).
norm_cfg = dict(type='BN', requires_grad=False)
num_classes = 21
data_preprocessor = dict(
    type='mmseg.SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size=(321, 321),
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
        out_indices=(3, ),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=norm_cfg,
        norm_eval=True,
        style='pytorch',
        contract_dilation=True),
    decode_head=dict(
        type='DeepLabV2Head',
        in_channels=2048,
        dilations=(6, 12, 18, 24),
        num_classes=num_classes,
        align_corners=False,
        loss_decode=dict(
            type='mmseg.CrossEntropyLoss', use_sigmoid=False,
            loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
