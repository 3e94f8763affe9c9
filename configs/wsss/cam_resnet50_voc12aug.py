# WSSS Stage A, IRN recipe (Ahn et al., CVPR 2019): the multi-label CAM
# ResNet-50 (output stride 16, ImageNet-pretrained) on VOC 2012 + SBD
# `trainaug` tags; batch 16, crop 512, 5 epochs, SGD lr 0.1 poly, weight
# decay 1e-4. Then the CAMs of the tagged classes:
#   python tools/wsss/make_cams.py configs/wsss/cam_resnet50_voc12aug.py \
#       work_dirs/cam_resnet50_voc12aug/epoch_5.pth --split trainaug \
#       --out-dir work_dirs/cam_resnet50_voc12aug/cams
_base_ = [
    '../_base_/models/cam_resnet50_multilabel.py',
    '../_base_/datasets/voc12aug_cls.py',
    '../_base_/schedules/irn_cam_sgd_poly_5e.py',
    '../_base_/default_runtime.py',
]

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=1, max_keep_ckpts=1))
randomness = dict(seed=0)
