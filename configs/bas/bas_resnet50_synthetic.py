# BAS on the embedded SyntheticWSOL set, trained from scratch on the CPU:
# the same quarter-width ResNet-50 (stem/base channels 16), data, schedule
# (5 epochs) and metric preset as configs/cam/cam_resnet50_synthetic.py, so
# the two rows of the main-job table compare the methods, not the budgets.
# Choices below were made on the synthetic `val` split (the train-fullsup
# role), never on `test`; see BENCHMARKS.md, section BAS:
# - beta 0.5: with the CUB value 1.5 (and 0.8, 1.0) the area term drives
#   the maps to ~0 in the first epoch, before the from-scratch classifier
#   gives the background term any signal;
# - erase_norm_mode='eval': the erase branch judges the erased features with
#   the running BN statistics; with batch statistics (the reference's deep
#   copies) erasing more always lowers S_b, and the maps spread over the
#   background (val MaxBoxAccV2 31.7 -> 45.1);
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
    backbone=dict(stem_channels=16, base_channels=16, init_cfg=None),
    head=dict(
        num_classes=num_classes,
        in_channels=512,
        mid_channels=256,
        hidden_channels=128,
        bas_loss=dict(alpha=0.5, beta=0.5, guard_value=1, rectify=True),
        erase_norm_mode='eval',
        loc_topk=num_classes,
        map_source='pred'),
    loc_thr=loc_thr)
val_evaluator = dict(type='WSOLMetric', preset='choe', loc_thr=loc_thr)
test_evaluator = val_evaluator
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=1),
    visualization=dict(enable=True, max_samples=8))
randomness = dict(seed=0)
