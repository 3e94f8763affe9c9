# CAM on SyntheticWSOL with the output-stride-8 ResNet-50 layout (layer3 and
# layer4 at stride 1; a 12x12 map at 96 px), otherwise identical to
# cam_resnet50_synthetic.py (quarter width, data, 5 epochs, optimiser): the
# CAM counterpart of bas_resnet50_synthetic.py at the resolution BAS's
# generator reads. Not part of the main job (it trains about 3x longer than
# the output-stride-16 CAM); see BENCHMARKS.md, section BAS.
_base_ = './cam_resnet50_synthetic.py'

# tau for Top-1 / GT-known Loc: the best MaxBoxAccV2 (IoU 0.5) threshold of
# this config's trained model on the SyntheticWSOL `val` split (never
# `test`), as for every synthetic config.
loc_thr = 0.1
model = dict(backbone=dict(strides=(1, 2, 1, 1)), loc_thr=loc_thr)
val_evaluator = dict(type='WSOLMetric', preset='choe', loc_thr=loc_thr)
test_evaluator = val_evaluator
