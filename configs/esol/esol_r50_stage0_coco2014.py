# ESOL (Li et al., NeurIPS 2022) stage 0 on MS COCO 2014 `train2014` tags
# (80 classes): the baseline CAM network whose backbone and classifier
# stages 1 and 2 start from; the IRN CAM recipe of
# configs/wsss/cam_resnet50_coco2014.py unchanged (5 epochs [default]).
#   python tools/train.py configs/esol/esol_r50_stage0_coco2014.py
_base_ = ['../wsss/cam_resnet50_coco2014.py']

model = dict(head=dict(bias=False))  # [default] bias-free 1x1 classifier
