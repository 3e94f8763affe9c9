# BAS on the embedded SyntheticWSOL set, fine-tuned on the CPU: the same
# quarter-width ResNet-50 (stem/base channels 16), starting point
# (checkpoints/demo/resnet50-w16_synthetic-cls.pth, pretrained on a
# separately seeded SyntheticWSOL by tools/misc/pretrain_demo_backbones.py,
# the stand-in for the paper's ImageNet weights), data, schedule (5 epochs)
# and metric preset as configs/cam/cam_resnet50_synthetic.py, so the two rows
# of the main-job table compare the methods, not the budgets; each method's
# backbone learning rate is its own choice on `val` (BAS 0.1x, CAM 1x). Choices below were made on the
# synthetic `val` split (the train-fullsup role), never on `test`; see
# configs/bas/README.md:
# - beta 1.5, the paper's CUB value (val MaxBoxAccV2 54.3 against 50.5 with
#   beta 0.5; beta 0.5 was needed only when training from scratch, where
#   the area term drove the maps to ~0 before the classifier gave the
#   background term any signal);
# - backbone learning rate 0.1x (the papers' fine-tuning rule): with every
#   layer at 0.02 the pretrained classification collapsed (test Top-1 47.6);
# - erase_norm_mode='eval': the erase branch judges the erased features with
#   the running BN statistics; with batch statistics (the reference's deep
#   copies) erasing more always lowers S_b, and the maps spread over the
#   background (measured from scratch: val MaxBoxAccV2 31.7 -> 45.1);
# - class-agnostic map (mean of all classes), as BAS on CUB;
# - classifier head width 128 (1024 in the paper) to keep the CPU budget.
_base_ = [
    '../_base_/models/bas_resnet50.py',
    '../_base_/datasets/synthetic_wsol.py',
    '../_base_/schedules/synthetic_sgd.py',
    '../_base_/wsol_runtime.py',
]
num_classes = 8
# tau for Top-1 / GT-known Loc. The main job chooses it on the SyntheticWSOL
# `val` split in the run (the tau maximising GT-known Loc there) and tests
# with it:
#   python tools/analysis_tools/calibrate_wsol_threshold.py CONFIG CKPT \
#       --out THR.json
#   python tools/test.py CONFIG CKPT --cfg-options \
#       test_evaluator.thr_file=THR.json
# The value below is only the fallback when no calibration file is given
# (the method's usual default); WSOLMetric also reports the full sweep.
loc_thr = 0.5
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
    head=dict(
        num_classes=num_classes,
        in_channels=512,
        mid_channels=256,
        hidden_channels=128,
        bas_loss=dict(alpha=0.5, beta=1.5, guard_value=1, rectify=True),
        erase_norm_mode='eval',
        loc_topk=num_classes,
        map_source='pred'),
    loc_thr=loc_thr)
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
val_evaluator = dict(type='WSOLMetric', preset='choe', loc_thr=loc_thr)
test_evaluator = val_evaluator
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=1),
    visualization=dict(enable=True, max_samples=8))
randomness = dict(seed=0)
