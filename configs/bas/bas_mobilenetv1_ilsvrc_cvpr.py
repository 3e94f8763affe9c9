# BAS MobileNetV1 on ILSVRC 2012, CVPR 2022 settings (shared/specs/bas.md):
# alpha 0.5, beta 1.5, final ReLU on the class maps, guard value 0; top-1 class
# map for Top-1 Loc, GT-class map for GT-known; tau 0.50 in the `paper` preset.
# 9 epochs (lr x0.1 at 3 and 6), global batch 128 (4 GPUs x 32).
_base_ = [
    '../_base_/models/bas_mobilenetv1.py',
    '../_base_/datasets/imagenet_wsol_crop256.py',
    '../_base_/schedules/bas_ilsvrc_sgd_9e.py',
    '../_base_/wsol_runtime.py',
]
num_classes = 1000
loc_thr = 0.50
model = dict(
    data_preprocessor=dict(num_classes=num_classes),
    head=dict(
        num_classes=num_classes,
        final_relu=True,
        bas_loss=dict(alpha=0.5, beta=1.5, guard_value=0, rectify=False),
        loc_topk=1,
        map_source='gt'),
    loc_thr=loc_thr)
val_evaluator = dict(type='WSOLMetric', preset='paper', loc_thr=loc_thr)
test_evaluator = val_evaluator
randomness = dict(seed=2)
