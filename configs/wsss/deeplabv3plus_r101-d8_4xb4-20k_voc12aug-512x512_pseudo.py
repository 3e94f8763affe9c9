# WSSS Stage C: mmseg's DeepLabV3+-R101 (deeplabv3plus_r101-d8_4xb4-20k_
# voc12aug-512x512: ResNetV1c-101, output stride 8, SyncBN, 512x512 crops,
# 4 GPUs x 4 images, 20k iterations) trained on the Stage B pseudo masks of
# VOC 2012 `trainaug` instead of its GT, validated on `val` (wsss-protocol
# spec, section 8). The RS+EPM / MARS segmenter family.
#
# pseudo_mask_dir: the directory of pseudo masks, one `<img_id>.png` per
# trainaug id (0 background, 1..20 classes, 255 ignore, 254 uncertain, which
# becomes 255 at load time), absolute or relative to `data_root`. Edit it
# here, or override the key it sets from the command line:
#   --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=DIR
# Multi-scale + flip testing: the dataset base's `tta_pipeline` with the
# runtime's `tta_model` (see ..._pseudo_test-server.py).
_base_ = [
    '../_base_/models/deeplabv3plus_r101-d8.py',
    '../_base_/datasets/voc12aug_seg.py',
    '../_base_/schedules/seg_sgd_poly_20k.py',
    '../_base_/seg_runtime.py',
]
pseudo_mask_dir = 'pseudo_masks'
train_dataloader = dict(
    dataset=dict(data_prefix=dict(seg_map_path=pseudo_mask_dir)))
