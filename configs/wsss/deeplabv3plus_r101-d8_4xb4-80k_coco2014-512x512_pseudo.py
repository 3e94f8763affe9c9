# WSSS Stage C on MS COCO 2014 with mmseg's DeepLabV3+-R101 (the RS+EPM /
# MARS segmenter family; MARS reports 49.4 val mIoU): the model of
# deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512_pseudo.py for the 81
# classes, trained on the Stage B pseudo masks of `train2014`, validated on
# `val2014` (wsss-protocol spec, sections 2.3 and 8), with mmseg's VOC-style
# augmentation (coco2014_wsss_seg.py). Schedule [mmweak default: the spec
# gives none for COCO]: mmseg's 80k-iteration COCO-Stuff 164k schedule
# (SGD lr 0.01, poly to 1e-4, batch 16), validation every 8,000 iterations.
#
# pseudo_mask_dir: the directory of pseudo masks, one `<stem>.png` per
# train2014 stem (0 background, 1..80 classes, 255 ignore, 254 uncertain,
# which becomes 255 at load time), absolute or relative to `data_root`.
# Edit it here, or override the key it sets from the command line:
#   --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=DIR
# With the default of coco2014_wsss_seg.py (the rasterised GT,
# `SegmentationClass/train2014`) this config is the fully supervised
# upper bound.
_base_ = [
    '../_base_/models/deeplabv3plus_r101-d8.py',
    '../_base_/datasets/coco2014_wsss_seg.py',
    '../_base_/schedules/seg_sgd_poly_20k.py',
    '../_base_/seg_runtime.py',
]
pseudo_mask_dir = 'pseudo_masks'
num_classes = 81
max_iters = 80000
model = dict(
    decode_head=dict(num_classes=num_classes),
    auxiliary_head=dict(num_classes=num_classes))
train_dataloader = dict(
    dataset=dict(data_prefix=dict(seg_map_path=pseudo_mask_dir)))

param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=8000)
default_hooks = dict(checkpoint=dict(interval=8000))
