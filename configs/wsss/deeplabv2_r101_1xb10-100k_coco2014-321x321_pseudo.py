# WSSS Stage C on MS COCO 2014 (IRN lineage): DeepLab v2-R101 (DeepLabV2Head,
# output stride 8, frozen BN) for the 81 classes, trained on the Stage B
# pseudo masks of `train2014`, validated on `val2014` (wsss-protocol spec,
# sections 2.3 and 8). COCO recipe as LPCAM reports it: batch 10, 100k
# iterations, lr 2e-4 (head x10), weight decay 5e-4, poly 0.9, crops of
# 321; rescaling by 0.5-1.5 of the original size (long side 320-960 px:
# COCO images are at most 640 px) and flips; testing at the original size,
# as deeplabv2_r101_1xb5-20k_voc12aug-321x321_pseudo.py. IRN reports 42.0
# val mIoU with this segmenter.
#
# pseudo_mask_dir: the directory of pseudo masks, one `<stem>.png` per
# train2014 stem (0 background, 1..80 classes, 255 ignore, 254 uncertain,
# which becomes 255 at load time), absolute or relative to `data_root`.
# Edit it here, or override the key it sets from the command line:
#   --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=DIR
_base_ = [
    '../_base_/models/deeplabv2_r101.py',
    '../_base_/datasets/coco2014_wsss_seg.py',
    '../_base_/schedules/seg_sgd_poly_20k.py',
    '../_base_/seg_runtime.py',
]
pseudo_mask_dir = 'pseudo_masks'
num_classes = 81
crop_size = (321, 321)
max_iters = 100000
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmseg.LoadAnnotations'),
    dict(type='MapLabelValues', mapping={254: 255}),
    dict(
        type='mmseg.RandomResize',
        scale=(640, 640),
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
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=num_classes))
train_dataloader = dict(
    batch_size=10,
    dataset=dict(
        data_prefix=dict(seg_map_path=pseudo_mask_dir),
        pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=2e-4, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.)}))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=10000)
default_hooks = dict(checkpoint=dict(interval=10000))
