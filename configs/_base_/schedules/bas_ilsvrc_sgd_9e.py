# BAS on ILSVRC (CVPR 2022 and IJCV 2023): SGD with Nesterov momentum, lr
# 1e-3 (not batch-scaled), weight decay 5e-4, lr x1 / x2 / x10 / x20 groups
# (BASOptimWrapperConstructor); 9 epochs, lr x0.1 at epochs 3 and 6.
optim_wrapper = dict(
    constructor='BASOptimWrapperConstructor',
    optimizer=dict(
        type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4, nesterov=True),
    paramwise_cfg=dict(
        head_keys=('classifier', ),
        bias_lr_mult=2.0,
        head_lr_mult=10.0,
        head_bias_lr_mult=20.0))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[3, 6], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=9, val_interval=9)
val_cfg = dict()
test_cfg = dict()
# global batch 128 (4 GPUs x 32); lr is not batch-scaled
auto_scale_lr = dict(base_batch_size=128, enable=False)
