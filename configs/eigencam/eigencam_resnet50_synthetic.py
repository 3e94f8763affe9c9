# Eigen-CAM (training-free WSOL baseline) on the network trained by
# configs/cam/cam_resnet50_synthetic.py: same model, same data, same metric.
# The CAM checkpoint loads directly (its backbone.* / head.* keys map into
# the wrapped classifier):
#   python tools/test.py configs/eigencam/eigencam_resnet50_synthetic.py \
#       work_dirs/cam_resnet50_synthetic/epoch_N.pth
_base_ = ['../cam/cam_resnet50_synthetic.py']
# tau for Top-1 / GT-known Loc: the best MaxBoxAccV2 (IoU 0.5) threshold of
# this config's trained model on the SyntheticWSOL `val` split (never
# `test`), the calibration of Choe et al. (CVPR 2020); WSOLMetric also
# reports the full sweep. To choose tau in the run instead (the tau
# maximising GT-known Loc on `val`):
#   python tools/analysis_tools/calibrate_wsol_threshold.py CONFIG CKPT \
#       --out THR.json
#   python tools/test.py CONFIG CKPT --cfg-options \
#       test_evaluator.thr_file=THR.json
loc_thr = 0.10

model = dict(
    _delete_=True,
    type='EigenCAMLocalizer',
    classifier={{_base_.model}},
    # last stage of the ResNet-50 layout (the CAM head's input)
    target_layers=['backbone.layer4'],
    center=False,  # the paper's uncentred projection
    sign='channel_mean',
    solver='gram',
    loc_thr=loc_thr)
val_evaluator = dict(type='WSOLMetric', preset='choe', loc_thr=loc_thr)
test_evaluator = val_evaluator

# training-free: evaluation only (tools/test.py)
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
