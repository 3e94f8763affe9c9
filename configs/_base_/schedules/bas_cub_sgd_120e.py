# BAS on CUB (IJCV 2023 extension recipe): SGD with Nesterov momentum,
# lr 1e-3 (not batch-scaled), weight decay 5e-4 on every group, lr x1 / x2 /
# x10 / x20 for backbone weights / backbone biases / new-layer weights /
# new-layer biases (BASOptimWrapperConstructor); 120 epochs, lr x0.1 at 80.
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
    type='MultiStepLR', by_epoch=True, milestones=[80], gamma=0.1)
# the extension evaluates on the test set every epoch from epoch 30 and keeps
# the best checkpoint; mmweak reports the last checkpoint (protocol spec)
train_cfg = dict(by_epoch=True, max_epochs=120, val_interval=10)
val_cfg = dict()
test_cfg = dict()
# global batch 32 on one GPU; lr is not batch-scaled
auto_scale_lr = dict(base_batch_size=32, enable=False)
