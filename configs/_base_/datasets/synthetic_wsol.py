# SyntheticWSOL: generated in memory from a seed (no files), 96x96 images,
# 8 classes decided by a small part on the object while the box and mask
# cover the whole object. Sized to train in minutes on 2 CPU cores.
# Images are already at the model's resolution, so the pipelines need no
# loading or resizing; GT boxes keep their exclusive ends (x2 = last object
# column + 1), so no WSOLClipBoxes here.
dataset_type = 'SyntheticWSOL'
img_size = 96
num_classes = 8

train_pipeline = [
    dict(type='WSOLRandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackWSOLInputs'),
]
test_pipeline = [dict(type='PackWSOLInputs')]

train_dataloader = dict(
    batch_size=32,
    num_workers=0,  # in-memory data; workers only add overhead on 2 cores
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type,
                 num_classes=num_classes,
                 num_samples=2000,
                 img_size=img_size,
                 split='train',
                 seed=0,
                 pipeline=train_pipeline),
)

# `val` (the train-fullsup role of Choe et al.: thresholds and other
# choices are made here) and `test` (reported) are separate streams of the
# same generator; nothing is tuned on `test`.
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type,
                 num_classes=num_classes,
                 num_samples=500,
                 img_size=img_size,
                 split='val',
                 seed=0,
                 with_mask=True,
                 test_mode=True,
                 pipeline=test_pipeline),
)
# threshold sweep (MaxBoxAccV2) and PxAP / PIoU from the masks
val_evaluator = dict(type='WSOLMetric', preset='choe')

test_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type,
                 num_classes=num_classes,
                 num_samples=500,
                 img_size=img_size,
                 split='test',
                 seed=0,
                 with_mask=True,
                 test_mode=True,
                 pipeline=test_pipeline),
)
test_evaluator = val_evaluator
