# mmseg's 20k-iteration segmentation schedule (wsss-protocol spec, section
# 8, DeepLabV3+ on VOC-aug): SGD lr 0.01, momentum 0.9, weight decay 5e-4,
# poly decay (power 0.9) to 1e-4 per iteration; validation every 2,000
# iterations (checkpoints: seg_runtime.py). Batch 16 in total (4 GPUs x 4
# images).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005),
    clip_grad=None)
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=0,
        end=20000,
        by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=20000, val_interval=2000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
