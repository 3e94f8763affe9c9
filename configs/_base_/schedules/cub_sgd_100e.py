# CAM on CUB: SGD, 100 epochs, lr x0.1 at epoch 80 (the BAS/CAM CUB recipe).
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4, nesterov=True),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)}))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[80], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()
# the CUB recipe uses batch 32 on one GPU; lr is not batch-scaled
auto_scale_lr = dict(base_batch_size=32, enable=False)
