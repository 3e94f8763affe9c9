# PASCAL VOC 2012 + SBD for WSSS Stage C (wsss-protocol spec, sections 7-8):
# mmseg's PascalVOCDataset, read as distributed, trained on `trainaug`
# (10,582 ids) with the Stage B pseudo masks in place of the GT, validated
# on `val` (1,449 ids, SegmentationClass, 255 ignored) by mmseg's IoUMetric.
#
# `pseudo_mask_dir`: directory of one `<img_id>.png` per trainaug id (values
# 0..20, 255 ignore, 254 uncertain), absolute or relative to `data_root`.
# A config variable is read where a dict uses it, so a config that changes
# it must also re-set `train_dataloader.dataset.data_prefix.seg_map_path`
# (see configs/wsss/*_pseudo.py); on the command line override the key:
#   --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=DIR
#
# Host components carry their `mmseg.` prefix (the default scope is mmweak);
# bare `LoadImageFromFile` is mmcv's, as in mmseg. `RandomResize` builds
# mmseg's `Resize` (nearest label resizing over every seg field).
dataset_type = 'mmseg.PascalVOCDataset'
data_root = 'data/VOCdevkit/VOC2012'
pseudo_mask_dir = 'pseudo_masks'
crop_size = (512, 512)
img_scale = (2048, 512)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmseg.LoadAnnotations'),
    # 254 (uncertain, MARS) -> 255 (ignore): mmseg's CrossEntropyLoss has
    # one ignore index and fails on 254; mapping it first also keeps it out
    # of RandomCrop's cat_max_ratio count
    dict(type='MapLabelValues', mapping={254: 255}),
    dict(
        type='mmseg.RandomResize',
        scale=img_scale,
        ratio_range=(0.5, 2.0),
        resize_type='mmseg.Resize',
        keep_ratio=True),
    dict(type='mmseg.RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='mmseg.RandomFlip', prob=0.5),
    dict(type='mmseg.PhotoMetricDistortion'),
    dict(type='mmseg.PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmseg.Resize', scale=img_scale, keep_ratio=True),
    # GT loaded after Resize: scored at the original size
    dict(type='LoadAnnotations', _scope_='mmseg'),
    dict(type='mmseg.PackSegInputs'),
]
# multi-scale + flip testing (RS+EPM / MARS: 0.5, 1.0, 1.5, 2.0 and flip,
# scales relative to the original image), through mmseg's SegTTAModel
# (`tta_model` in configs/_base_/seg_runtime.py), which averages softmax
tta_scales = [0.5, 1.0, 1.5, 2.0]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='mmseg.Resize', scale_factor=r, keep_ratio=True)
                for r in tta_scales
            ],
            [
                dict(type='mmseg.RandomFlip', prob=0.,
                     direction='horizontal'),
                dict(type='mmseg.RandomFlip', prob=1.,
                     direction='horizontal'),
            ],
            [dict(type='mmseg.LoadAnnotations')],
            [dict(type='mmseg.PackSegInputs')],
        ]),
]

train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path=pseudo_mask_dir),
        ann_file='ImageSets/Segmentation/trainaug.txt',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='mmseg.IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
