# Region features for the RefCOCO-family configs: mmdet's C4 Faster R-CNN
# at depth 101 (RoIAlign 14 x 14 on stage 3, stage-4 ResLayer shared head ->
# 2048 x 7 x 7, cells L2-normalised and averaged). Use a detector trained
# on COCO minus the RefCOCO val/test images (MAttNet's coco_minus_refer);
# the tool warns unless the checkpoint or --minus-refer declares it.
#   python tools/dtmr/extract_region_features.py \
#       configs/dtmr/feats_faster-rcnn_r101-caffe-c4_refcoco.py \
#       --checkpoint MINUS_REFER_C4_R101.pth [--data-root data/refcoco+]
_base_ = ['mmdet::_base_/models/faster-rcnn_r50-caffe-c4.py']
model = dict(
    backbone=dict(depth=101, init_cfg=None),
    roi_head=dict(shared_head=dict(depth=101, init_cfg=None)))
feature_extraction = dict(
    dataset=dict(
        type='RefCOCOGroundingDataset',
        data_root='data/refcoco',
        img_prefix='../coco/train2014',
        split_by='unc',
        split=['train', 'val', 'testA', 'testB']),
    img_scale_factor=1.0,
    out_dir='data/refcoco/feats/c4-r101',
    minus_refer=False)
