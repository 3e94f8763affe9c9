# SAT with DeiT-S on ILSVRC 2012 (Wu et al., ICCV 2023), `paper` preset.
# AdamW lr 1.5e-5 (weight decay 0.05), global batch 512 (4 GPUs x 128),
# area target 0.35, one epoch (the official code stops after the first
# epoch on rank 0 only; here max_epochs=1 for every rank) with the cosine
# decay to 1e-6 applied per iteration over that epoch.
_base_ = [
    '../_base_/models/sat_deit-small.py',
    '../_base_/datasets/imagenet_wsol_crop256.py',
    '../_base_/wsol_runtime.py',
]
num_classes = 1000
loc_thr = 0.3  # the SAT ImageNet evaluator's threshold
model = dict(
    data_preprocessor=dict(num_classes=num_classes),
    head=dict(num_classes=num_classes, loc_loss=dict(area_target=0.35)),
    loc_thr=loc_thr)
val_evaluator = dict(type='WSOLMetric', preset='paper', loc_thr=loc_thr)
test_evaluator = val_evaluator

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

max_epochs = 1
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=1.5e-5, weight_decay=0.05, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.loc_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
            '.loc_embed': dict(decay_mult=0.0),
        }))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=512, enable=False)

default_hooks = dict(
    logger=dict(interval=100), checkpoint=dict(interval=1, max_keep_ckpts=1))
randomness = dict(seed=6)
