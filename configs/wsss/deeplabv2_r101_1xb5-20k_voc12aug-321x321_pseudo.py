# WSSS Stage C of the IRN lineage (IRN, BAS-WSSS, ESOL, LPCAM): DeepLab v2
# (Chen et al., TPAMI 2017; ResNet-101 at output stride 8 + ASPP-L,
# mmweak's DeepLabV2Head) trained on the Stage B pseudo masks of VOC 2012
# `trainaug`, validated on `val` (wsss-protocol spec, section 8).
# Recipe as LPCAM reports it, with the data handling of the DeepLab v2 code
# these papers train with (kazuto1011/deeplab-pytorch, configs/voc12.yaml):
# - batch 5 on one GPU, 321x321 crops, 20k iterations;
# - SGD lr 2.5e-4, momentum 0.9, weight decay 5e-4, head lr x10, poly 0.9;
# - random rescaling by 0.5-1.5 (long side 250-750 px: VOC images are at
#   most 500 px) and flips, no colour jitter; testing at the original size.
# Not reproduced: that code's multi-scale-input (MSC) training and its
# gradient accumulation over 2 batches (`ITER_SIZE: 2`; for it set
# optim_wrapper.accumulative_counts=2 and double every iteration count).
# Published numbers start from COCO-pretrained DeepLab v2 weights (the `*`
# rows): user-supplied, e.g. `load_from=...`.
#
# pseudo_mask_dir: the directory of pseudo masks, one `<img_id>.png` per
# trainaug id (0 background, 1..20 classes, 255 ignore, 254 uncertain, which
# becomes 255 at load time), absolute or relative to `data_root`. Edit it
# here, or override the key it sets from the command line:
#   --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=DIR
_base_ = [
    '../_base_/models/deeplabv2_r101.py',
    '../_base_/datasets/voc12aug_seg.py',
    '../_base_/schedules/seg_sgd_poly_20k.py',
    '../_base_/seg_runtime.py',
]
pseudo_mask_dir = 'pseudo_masks'
crop_size = (321, 321)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmseg.LoadAnnotations'),
    dict(type='MapLabelValues', mapping={254: 255}),
    dict(
        type='mmseg.RandomResize',
        scale=(500, 500),
        ratio_range=(0.5, 1.5),
        resize_type='mmseg.Resize',
        keep_ratio=True),
    dict(type='mmseg.RandomCrop', crop_size=crop_size),
    dict(type='mmseg.RandomFlip', prob=0.5),
    dict(type='mmseg.PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', _scope_='mmseg'),
    dict(type='mmseg.PackSegInputs'),
]
model = dict(data_preprocessor=dict(size=crop_size))
train_dataloader = dict(
    batch_size=5,
    dataset=dict(
        data_prefix=dict(seg_map_path=pseudo_mask_dir),
        pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=2.5e-4, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.)}))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.,
        power=0.9,
        begin=0,
        end=20000,
        by_epoch=False)
]
