# CAM on the embedded SyntheticWSOL set, fine-tuned on the CPU.
# ResNet-50 layout (bottleneck depth 50, stride-1 last stage) at a quarter of
# the width (base/stem channels 16 instead of 64) so that training fits the
# main-job budget on 2 CPU cores. The backbone starts from the committed
# checkpoints/demo/resnet50-w16_synthetic-cls.pth (pretrained on a separately
# seeded SyntheticWSOL by tools/misc/pretrain_demo_backbones.py), the stand-in
# for the ImageNet weights of the paper; the head starts from scratch. Every
# layer trains at the schedule's learning rate: chosen on `val` against the
# backbone at 0.1x (val GT-known 42.0 / MaxBoxAccV2 47.7 against 40.2 / 46.2;
# see configs/cam/README.md).
_base_ = [
    '../_base_/models/cam_resnet50.py',
    '../_base_/datasets/synthetic_wsol.py',
    '../_base_/schedules/synthetic_sgd.py',
    '../_base_/wsol_runtime.py',
]
# tau for Top-1 / GT-known Loc. The main job chooses it on the SyntheticWSOL
# `val` split in the run (the tau maximising GT-known Loc there) and tests
# with it:
#   python tools/analysis_tools/calibrate_wsol_threshold.py CONFIG CKPT \
#       --out THR.json
#   python tools/test.py CONFIG CKPT --cfg-options \
#       test_evaluator.thr_file=THR.json
# The value below is only the fallback when no calibration file is given
# (the method's usual default); WSOLMetric also reports the full sweep.
loc_thr = 0.2
num_classes = 8
model = dict(
    data_preprocessor=dict(num_classes=num_classes),
    backbone=dict(
        stem_channels=16,
        base_channels=16,
        # found relative to this file, so runs from any directory (and
        # `mim train` of an installed package) use the committed file
        init_cfg=dict(
            type='Pretrained',
            checkpoint='{{fileDirname}}/../../checkpoints/demo/'
            'resnet50-w16_synthetic-cls.pth',
            prefix='backbone')),
    head=dict(num_classes=num_classes, in_channels=512),
    loc_thr=loc_thr)
val_evaluator = dict(type='WSOLMetric', preset='choe', loc_thr=loc_thr)
test_evaluator = val_evaluator
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=1),
    visualization=dict(enable=True, max_samples=8))
randomness = dict(seed=0)
