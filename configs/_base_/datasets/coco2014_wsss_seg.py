# MS COCO 2014 for WSSS Stage C (wsss-protocol spec, sections 2.3 and 8):
# mmweak's COCO2014WSSSDataset (81 classes: background + the 80 things, COCO
# category ids mapped to 1..80 in sorted-id order), trained on `train2014`
# with the Stage B pseudo masks in place of the GT and validated on
# `val2014` by mmseg's IoUMetric. The label maps and list files come from
#   python tools/dataset_converters/coco2014_to_wsss.py data/coco2014
# which writes, beside the official images:
#   data/coco2014/{train2014,val2014}/<stem>.jpg        (official)
#   data/coco2014/SegmentationClass/{train2014,val2014}/<stem>.png
#   data/coco2014/ImageSets/{train2014,val2014}.txt      (annotated images)
#
# `pseudo_mask_dir`: directory of one `<stem>.png` per listed train image
# (values 0..80, 255 ignore, 254 uncertain), absolute or relative to
# `data_root`. The default is the rasterised GT, i.e. the fully supervised
# upper bound. A config variable is read where a dict uses it, so a config
# that changes it must also re-set
# `train_dataloader.dataset.data_prefix.seg_map_path`; on the command line:
#   --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=DIR
#
# 81 classes: a model base's `num_classes` (21 for VOC) must be set to 81
# in the config that combines them (decode and auxiliary heads).
#
# Host components carry their `mmseg.` prefix (the default scope is mmweak);
# bare `LoadImageFromFile` is mmcv's, as in mmseg.
dataset_type = 'COCO2014WSSSDataset'
data_root = 'data/coco2014'
pseudo_mask_dir = 'SegmentationClass/train2014'
crop_size = (512, 512)
img_scale = (2048, 512)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmseg.LoadAnnotations'),
    # 254 (uncertain, MARS) -> 255 (ignore) before the loss and the
    # cat_max_ratio count see it
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
# multi-scale + flip testing (0.5, 1.0, 1.5, 2.0 and flip, relative to the
# original image) through mmseg's SegTTAModel
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
        data_prefix=dict(img_path='train2014', seg_map_path=pseudo_mask_dir),
        ann_file='ImageSets/train2014.txt',
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
            img_path='val2014', seg_map_path='SegmentationClass/val2014'),
        ann_file='ImageSets/val2014.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='mmseg.IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
