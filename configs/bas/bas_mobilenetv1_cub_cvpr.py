# BAS MobileNetV1 on CUB-200-2011, CVPR 2022 settings (shared/specs/bas.md):
# alpha 0.5, beta 1.5, final ReLU on the class maps, guard value 0; class-
# agnostic map (mean of all 200 class maps); tau 0.15 in the `paper` preset.
# 100 epochs (lr x0.1 at 80), global batch 32 (1 GPU x 32).
_base_ = [
    '../_base_/models/bas_mobilenetv1.py',
    '../_base_/datasets/cub_wsol_crop256.py',
    '../_base_/schedules/bas_cub_sgd_100e.py',
    '../_base_/wsol_runtime.py',
]
loc_thr = 0.15
model = dict(
    head=dict(
        final_relu=True,
        bas_loss=dict(alpha=0.5, beta=1.5, guard_value=0, rectify=False),
        loc_topk=200,
        map_source='pred'),
    loc_thr=loc_thr)
# the CVPR CUB script averages per class: also log *_per_class
val_evaluator = dict(
    type='WSOLMetric', preset='paper', loc_thr=loc_thr, per_class=True)
test_evaluator = val_evaluator
randomness = dict(seed=6)
