# CUB-200-2011 for WSOL, `crop256` preset (wsol-protocol spec, section 2):
# resize to 256x256 (aspect ratio distorted), random 224 crop + horizontal
# flip for training; centre 224 crop at test, GT boxes clipped to [0, 223]
# and truncated to int. The data preprocessor (ImageNet mean/std, to_rgb)
# lives in the model config. CUB has no separate val split: val = test, as
# in the papers; select checkpoints by the last epoch, not by this score.
dataset_type = 'CUBWSOL'
data_root = 'data/CUB_200_2011'

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
    # reads `mask_path` into `gt_seg_map` when the dataset has with_mask=True
    dict(type='LoadWSOLAnnotations'),
    dict(type='WSOLResize', scale=(256, 256), keep_ratio=False),
    dict(type='WSOLCenterCrop', crop_size=224),
    dict(type='WSOLClipBoxes', inclusive=True, truncate=True),
    dict(type='PackWSOLInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type,
                 data_root=data_root,
                 split='train',
                 pipeline=train_pipeline),
)

val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        # set with_mask=True (and put the CUB segmentations under
        # data_root/segmentations) to get PxAP / PIoU
        with_mask=False,
        test_mode=True,
        pipeline=test_pipeline),
)
val_evaluator = dict(type='WSOLMetric', preset='paper')

test_dataloader = val_dataloader
test_evaluator = val_evaluator
