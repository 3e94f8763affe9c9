# DTMR on RefCOCO (UNC splits), ground-truth candidate boxes, cached C4
# ResNet-101 features of a coco_minus_refer detector, reference schedule.
# 1) python tools/dtmr/build_vocab_and_triads.py data/refcoco
# 2) python tools/dtmr/extract_region_features.py \
#        configs/dtmr/feats_faster-rcnn_r101-caffe-c4_refcoco.py \
#        --checkpoint MINUS_REFER_DETECTOR.pth
# 3) python tools/train.py configs/dtmr/dtmr_c4-r101-feats_refcoco-unc.py
_base_ = [
    '../_base_/models/dtmr_c4-r101-feats.py',
    '../_base_/datasets/refcoco_grounding.py',
    '../_base_/schedules/dtmr_adam_150k.py',
    '../_base_/default_runtime.py',
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=500),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=10000,
        max_keep_ckpts=1,
        save_best='grounding/acc',
        rule='greater'))
log_processor = dict(by_epoch=False)
randomness = dict(seed=24)
