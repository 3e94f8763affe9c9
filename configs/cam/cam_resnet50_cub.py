_base_ = [
    '../_base_/models/cam_resnet50.py',
    '../_base_/datasets/cub_wsol_crop256.py',
    '../_base_/schedules/cub_sgd_100e.py',
    '../_base_/wsol_runtime.py',
]
