# ILSVRC 2012 for WSOL, `crop256` preset (wsol-protocol spec, section 2).
# Layout under data_root (see ImageNetWSOL):
#   train/<wnid>/*.JPEG, val/ILSVRC2012_val_*.JPEG,
#   val_boxes/ILSVRC2012_val_*.xml (the ILSVRC 2012 val box XMLs),
#   optional meta/train.txt, meta/val.txt (mmpretrain format).
# The val set (50,000 images) is the WSOL test split; labels come from the
# XML wnids (sorted-wnid order), so no label file is required.
dataset_type = 'ImageNetWSOL'
data_root = 'data/imagenet'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSOLAnnotations', with_mask=False),
    dict(type='WSOLResize', scale=(256, 256), keep_ratio=False),
    dict(type='WSOLRandomCrop', crop_size=224),
    dict(type='WSOLRandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackWSOLInputs'),
]

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSOLAnnotations'),
    dict(type='WSOLResize', scale=(256, 256), keep_ratio=False),
    dict(type='WSOLCenterCrop', crop_size=224),
    dict(type='WSOLClipBoxes', inclusive=True, truncate=True),
    dict(type='PackWSOLInputs'),
]

train_dataloader = dict(
    batch_size=32,  # per GPU
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        # listing 1.28M files is slow; mmpretrain's meta/train.txt is faster
        # ann_file='meta/train.txt',
        pipeline=train_pipeline),
)

val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type,
                 data_root=data_root,
                 split='val',
                 val_img_dir='val',
                 val_xml_dir='val_boxes',
                 test_mode=True,
                 pipeline=test_pipeline),
)
val_evaluator = dict(type='WSOLMetric', preset='paper')

test_dataloader = val_dataloader
test_evaluator = val_evaluator
