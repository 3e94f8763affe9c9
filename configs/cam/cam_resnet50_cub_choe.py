# CAM on ResNet-50, CUB-200-2011 read through the wsolevaluation metadata
# (Choe et al., CVPR 2020), `resize224` preset and `choe` metric preset:
# validation on `val` (train-fullsup, CUBV2), where tau is chosen (the
# metric's best_thr), and testing on `test` (the CUB test set). Model and
# schedule as cam_resnet50_cub.py.
_base_ = [
    '../_base_/models/cam_resnet50.py',
    '../_base_/datasets/cub_wsoleval_resize224.py',
    '../_base_/schedules/cub_sgd_100e.py',
    '../_base_/wsol_runtime.py',
]
