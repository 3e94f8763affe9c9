# BAS MobileNetV1 on CUB-200-2011, IJCV 2023 extension settings
# (shared/specs/bas.md): alpha 0.5, beta 1.9, rectified scores in the loss,
# guard value 1; map = mean of the top-80 class maps; tau 0.10 in the `paper`
# preset. 120 epochs (lr x0.1 at 80), global batch 32 (1 GPU x 32).
_base_ = [
    '../_base_/models/bas_mobilenetv1.py',
    '../_base_/datasets/cub_wsol_crop256.py',
    '../_base_/schedules/bas_cub_sgd_120e.py',
    '../_base_/wsol_runtime.py',
]
loc_thr = 0.10
model = dict(
    head=dict(
        bas_loss=dict(alpha=0.5, beta=1.9, guard_value=1, rectify=True),
        loc_topk=80,
        map_source='pred'),
    loc_thr=loc_thr)
val_evaluator = dict(type='WSOLMetric', preset='paper', loc_thr=loc_thr)
test_evaluator = val_evaluator
