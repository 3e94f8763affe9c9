# Fully supervised upper bound of WSSS Stage C: the same DeepLabV3+-R101,
# schedule and augmentation as deeplabv3plus_r101-d8_4xb4-20k_voc12aug-
# 512x512_pseudo.py, trained on the pixel labels of `trainaug` (VOC train
# SegmentationClass + SBD aug SegmentationClassAug, as mmseg's
# pascal_voc12_aug.py). mmseg reports 77.22 mIoU on val for this recipe
# (single scale); MARS's Table 3 quotes 80.6 for its torchvision R101.
_base_ = [
    '../_base_/models/deeplabv3plus_r101-d8.py',
    '../_base_/datasets/voc12aug_seg_full.py',
    '../_base_/schedules/seg_sgd_poly_20k.py',
    '../_base_/seg_runtime.py',
]
