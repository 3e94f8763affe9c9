# WSSS Stage A on MS COCO 2014 `train2014` tags (80 classes) with the IRN
# CAM ResNet-50 and schedule of cam_resnet50_voc12aug.py (batch 16, crop
# 512, 5 epochs, SGD lr 0.1 poly, weight decay 1e-4). IRN's COCO runs used
# its VOC settings; keeping them is an mmweak default.
_base_ = [
    '../_base_/models/cam_resnet50_multilabel.py',
    '../_base_/datasets/coco2014_cls.py',
    '../_base_/schedules/irn_cam_sgd_poly_5e.py',
    '../_base_/default_runtime.py',
]

model = dict(head=dict(num_classes=80))
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=1, max_keep_ckpts=1))
randomness = dict(seed=0)
