# PASCAL VOC 2012 + SBD `trainaug` (10,582 images) with image-level tags for
# WSSS Stage A (wsss-protocol spec, 2.1-2.2). Tags come from the XML
# <object><name> entries, difficult objects kept (the IRN convention; set
# skip_difficult=True for RS+EPM's). IRN's CAM-training augmentation: long
# side resized to a random length in [320, 640] (bicubic), horizontal flip,
# random 512 crop, padded with the ImageNet mean where the image is smaller
# (IRN pads with 0 after normalisation; here the crop pads the raw BGR image
# with the mean and centres it). The data preprocessor (ImageNet mean/std,
# BGR -> RGB) lives in the model config.
dataset_type = 'WSSSClsDataset'
data_root = 'data/VOCdevkit/VOC2012'
crop_size = 512

train_pipeline = [
    dict(type='LoadImageFromFile'),
    # a square target (L, L) with keep_ratio makes the long side exactly L;
    # L = 640 * U(0.5, 1.0), i.e. uniform in [320, 640]
    dict(
        type='RandomResize',
        scale=(640, 640),
        ratio_range=(0.5, 1.0),
        keep_ratio=True,
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='mmpretrain.RandomCrop',
        crop_size=crop_size,
        pad_if_needed=True,
        pad_val=(104, 116, 124)),
    dict(type='mmpretrain.PackInputs'),
]

# CAM export and classification test: the image at its original size (the
# CAM .npy files are at the original resolution; make_cams.py rescales).
cam_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmpretrain.PackInputs'),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,  # IRN: max_step = (N // batch) * epochs
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/trainaug.txt',
        tag_source='xml',
        skip_difficult=False,
        pipeline=train_pipeline),
)

# Read by tools/wsss/make_cams.py (`--split` swaps the id list, e.g. train).
cam_dataloader = dict(
    batch_size=1,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/trainaug.txt',
        tag_source='xml',
        skip_difficult=False,
        test_mode=True,
        pipeline=cam_pipeline),
)

# Multi-label classification of the `val` tags (mAP, per-class F1):
# a sanity check of Stage A, not a WSSS figure. Batch 1 keeps every image at
# its own size (no padding inside the global average pool).
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/val.txt',
        tag_source='xml',
        skip_difficult=False,
        test_mode=True,
        pipeline=cam_pipeline),
)
test_evaluator = [
    dict(type='mmpretrain.AveragePrecision'),
    dict(type='mmpretrain.MultiLabelMetric', average='macro'),
]
