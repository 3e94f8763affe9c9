# MS COCO 2014 with image-level tags for WSSS Stage A (wsss-protocol spec,
# 2.3): images under <data_root>/train2014/, ids in ImageSets/train2014.txt
# and tags (0-based indices of the 80 thing classes, sorted category-id
# order) in cls_labels_train2014.json, both written by
# tools/dataset_converters/coco2014_to_wsss.py. Same augmentation as the VOC
# Stage A (IRN): long side in [320, 640], flip, random 512 crop.
dataset_type = 'WSSSClsDataset'
data_root = 'data/coco2014'
crop_size = 512
coco_fg_classes = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train',
    'truck', 'boat', 'traffic light', 'fire hydrant', 'stop sign',
    'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
    'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag',
    'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
    'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
    'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon',
    'bowl', 'banana', 'apple', 'sandwich', 'orange', 'broccoli', 'carrot',
    'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant',
    'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote',
    'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink',
    'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear',
    'hair drier', 'toothbrush')

train_pipeline = [
    dict(type='LoadImageFromFile'),
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
cam_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmpretrain.PackInputs'),
]


def _split(split, pipeline, test_mode):
    return dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=f'ImageSets/{split}.txt',
        data_prefix=dict(
            img_path=split, seg_map_path=f'SegmentationClass/{split}'),
        tag_source=f'cls_labels_{split}.json',
        img_suffix='.jpg',
        metainfo=dict(classes=coco_fg_classes),
        test_mode=test_mode,
        pipeline=pipeline)


train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=_split('train2014', train_pipeline, False),
)
# make_cams.py: COCO's other split also changes the image folder and tag
# file, so switch it with --cfg-options (see configs/wsss/README.md).
cam_dataloader = dict(
    batch_size=1,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=_split('train2014', cam_pipeline, True),
)
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=_split('val2014', cam_pipeline, True),
)
test_evaluator = [
    dict(type='mmpretrain.AveragePrecision'),
    dict(type='mmpretrain.MultiLabelMetric', average='macro'),
]
