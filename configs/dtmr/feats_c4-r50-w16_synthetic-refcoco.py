# Region features of the embedded synthetic RefCOCO for DTMR
# (tools/dtmr/extract_region_features.py). The feature network is a C4-style
# mmdet Faster R-CNN whose trunk is the committed quarter-width ResNet-50
# (checkpoints/demo/resnet50-w16_synthetic-cls.pth, SHA-256 in
# checkpoints/demo/SHA256SUMS): an 8-way classifier pretrained on a
# separately seeded SyntheticWSOL, so it has seen neither these images nor
# any referent, box or pixel label of this set ("minus-refer" by
# construction). RoIAlign (7 x 7, stride 16) runs on the stage-3 output
# (256 channels) at twice the image size; each cell is L2-normalised over
# channels and the grid averaged. The stage-4 ResLayer shared head of a full
# C4 model is not used here: mmdet's ResLayer has no width option for the
# quarter-width trunk; the tool applies `roi_head.shared_head` whenever a
# detector config has one (e.g. faster-rcnn_r101-caffe-c4 below).
#   python tools/dtmr/extract_region_features.py \
#       configs/dtmr/feats_c4-r50-w16_synthetic-refcoco.py
default_scope = 'mmweak'
data_root = 'data/synthetic_refcoco/'
backbone_ckpt = '{{fileDirname}}/../../checkpoints/demo/' \
    'resnet50-w16_synthetic-cls.pth'
norm_cfg = dict(type='BN', requires_grad=False)
detector = dict(
    type='mmdet.FasterRCNN',
    data_preprocessor=dict(
        type='mmdet.DetDataPreprocessor',
        # the pretraining's normalisation (mmpretrain ImageNet mean/std, RGB)
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=16),
    backbone=dict(
        type='mmdet.ResNet',
        depth=50,
        base_channels=16,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        frozen_stages=3,
        norm_cfg=norm_cfg,
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(
            type='Pretrained', checkpoint=backbone_ckpt, prefix='backbone')),
    rpn_head=dict(
        type='mmdet.RPNHead',
        in_channels=256,
        feat_channels=256,
        anchor_generator=dict(
            type='mmdet.AnchorGenerator',
            scales=[2, 4, 8],
            ratios=[0.5, 1.0, 2.0],
            strides=[16]),
        bbox_coder=dict(
            type='mmdet.DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[1.0, 1.0, 1.0, 1.0])),
    roi_head=dict(
        type='mmdet.StandardRoIHead',
        bbox_roi_extractor=dict(
            type='mmdet.SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
            out_channels=256,
            featmap_strides=[16]),
        bbox_head=dict(
            type='mmdet.BBoxHead',
            with_avg_pool=True,
            roi_feat_size=7,
            in_channels=256,
            num_classes=80,
            bbox_coder=dict(
                type='mmdet.DeltaXYWHBBoxCoder',
                target_means=[0., 0., 0., 0.],
                target_stds=[0.1, 0.1, 0.2, 0.2]))),
    train_cfg=None,
    test_cfg=dict(
        rpn=dict(nms_pre=100, max_per_img=100, nms=dict(type='nms',
                                                       iou_threshold=0.7)),
        rcnn=dict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5),
                  max_per_img=10)))
# what the tool extracts and where it writes
feature_extraction = dict(
    dataset=dict(
        type='RefCOCOGroundingDataset',
        data_root=data_root + 'refcoco',
        img_prefix='../images/train2014',
        split_by='unc',
        split=['train', 'val', 'testA', 'testB']),
    img_scale_factor=2.0,
    out_dir=data_root + 'feats/c4-r50-w16',
    # declared: the trunk never saw this set (see the header)
    minus_refer=True)
