# DTMR's reference schedule (released code): Adam lr 1.26e-5, betas
# (0.8, 0.999), eps 1e-8, weight decay 5e-4, element-wise gradient clamp
# 0.1, 150,001 iterations of one image each, validation every 10k with the
# best-val checkpoint kept, and lr = lr0 * 0.1 ** ((it - 30k) / 150k) after
# 30k iterations (ExponentialLR per iteration from 30k).
max_iters = 150001
decay_start = 30000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='Adam', lr=1.26e-5, betas=(0.8, 0.999), eps=1e-8,
        weight_decay=5e-4),
    clip_grad=dict(type='value', clip_value=0.1))
param_scheduler = [
    dict(
        type='ExponentialLR',
        gamma=0.1**(1 / 150000),
        by_epoch=False,
        begin=decay_start,
        end=max_iters),
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
