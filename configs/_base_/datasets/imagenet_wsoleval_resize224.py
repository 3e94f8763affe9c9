# ILSVRC 2012 through the wsolevaluation metadata (Choe et al., CVPR 2020;
# wsol-protocol spec, sections 1.3 and 2), `resize224` preset.
# Layout under data_root (a copy or links of a wsolevaluation checkout):
#   metadata/ILSVRC/{train,val,test}/{image_ids,class_labels,image_sizes,
#       localization}.txt
#   dataset/ILSVRC/train/<wnid>/*.JPEG, dataset/ILSVRC/val/*.JPEG and the
#       ImageNetV2 images of the `val` split, under the paths listed in
#       image_ids.txt
# Splits: `train` = train-weaksup (labels only), `val` = train-fullsup
# (ImageNetV2 threshold-0.7 with new boxes, 10,000 images: the only split on
# which tau or hyper-parameters may be chosen with boxes), `test` = the
# ILSVRC 2012 val set (50,000 images).
# Test pipeline: resize to 224x224 (aspect ratio distorted), no crop, boxes
# scaled and truncated to int. Training: resize 256, random 224 crop, flip.
# Images are decoded without applying EXIF orientation, as PIL-based loaders
# do, since the boxes refer to the stored pixels.
dataset_type = 'WSOLEvalMetadataDataset'
data_root = 'data/wsolevaluation'
metadata_root = 'metadata/ILSVRC'
data_prefix = dict(img_path='dataset/ILSVRC')

train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadWSOLAnnotations', with_mask=False),
    dict(type='WSOLResize', scale=(256, 256), keep_ratio=False),
    dict(type='WSOLRandomCrop', crop_size=224),
    dict(type='WSOLRandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackWSOLInputs'),
]

test_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadWSOLAnnotations'),
    dict(type='WSOLResize', scale=(224, 224), keep_ratio=False),
    dict(type='WSOLClipBoxes', inclusive=False, truncate=True),
    dict(type='PackWSOLInputs'),
]

train_dataloader = dict(
    batch_size=32,  # per GPU
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type,
                 data_root=data_root,
                 metadata_root=metadata_root,
                 split='train',
                 data_prefix=data_prefix,
                 pipeline=train_pipeline),
)

# validation on train-fullsup: choose tau (best_thr) here, never on test
val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type,
                 data_root=data_root,
                 metadata_root=metadata_root,
                 split='val',
                 data_prefix=data_prefix,
                 test_mode=True,
                 pipeline=test_pipeline),
)
val_evaluator = dict(type='WSOLMetric', preset='choe')

test_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type,
                 data_root=data_root,
                 metadata_root=metadata_root,
                 split='test',
                 data_prefix=data_prefix,
                 test_mode=True,
                 pipeline=test_pipeline),
)
test_evaluator = dict(type='WSOLMetric', preset='choe')
