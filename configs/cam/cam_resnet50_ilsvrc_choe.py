# CAM on ResNet-50, ILSVRC 2012 read through the wsolevaluation metadata
# (Choe et al., CVPR 2020), `resize224` preset and `choe` metric preset:
# validation on `val` (train-fullsup, ImageNetV2), where tau is chosen (the
# metric's best_thr), and testing on `test` (the ILSVRC 2012 val set).
# Schedule: the 9-epoch ILSVRC length of the BAS configs (lr x0.1 at epochs 3
# and 6) with the CAM CUB optimizer (SGD lr 1e-3, head x10); it has not been
# tuned or measured for CAM.
_base_ = [
    '../_base_/models/cam_resnet50.py',
    '../_base_/datasets/imagenet_wsoleval_resize224.py',
    '../_base_/wsol_runtime.py',
]
num_classes = 1000
model = dict(
    data_preprocessor=dict(num_classes=num_classes),
    head=dict(num_classes=num_classes))

optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4, nesterov=True),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)}))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[3, 6], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=9, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# global batch 128 (4 GPUs x 32); lr is not batch-scaled
auto_scale_lr = dict(base_batch_size=128, enable=False)
