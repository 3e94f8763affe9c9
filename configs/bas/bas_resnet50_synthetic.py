# BAS on the embedded SyntheticWSOL set, trained from scratch on the CPU:
# the same quarter-width ResNet-50 (stem/base channels 16), data, schedule
# and metric as configs/cam/cam_resnet50_synthetic.py, so the two rows of the
# main-job table compare the methods, not the budgets. The classifier head
# is scaled by the same quarter (hidden width 256 instead of 1024).
_base_ = [
    '../_base_/models/bas_resnet50.py',
    '../_base_/datasets/synthetic_wsol.py',
    '../_base_/schedules/synthetic_sgd.py',
    '../_base_/default_runtime.py',
]
num_classes = 8
loc_thr = 0.2  # as the CAM baseline; the `choe` metric also sweeps it
model = dict(
    data_preprocessor=dict(num_classes=num_classes),
    backbone=dict(stem_channels=16, base_channels=16, init_cfg=None),
    head=dict(
        num_classes=num_classes,
        in_channels=512,
        mid_channels=256,
        hidden_channels=256,
        # class-agnostic map: the mean over all classes (BAS CUB setting)
        loc_topk=num_classes),
    loc_thr=loc_thr)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=1),
    visualization=dict(enable=True, max_samples=8))
randomness = dict(seed=0)
