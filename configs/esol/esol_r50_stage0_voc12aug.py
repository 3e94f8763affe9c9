# ESOL (Li et al., NeurIPS 2022) stage 0 on VOC 2012 + SBD `trainaug`: the
# baseline CAM network whose backbone and classifier stages 1 and 2 start
# from. The paper does not draw this stage; mmweak uses the IRN CAM recipe
# of configs/wsss/cam_resnet50_voc12aug.py unchanged (ResNet-50, output
# stride 16, crop 512, batch 16, 5 epochs, SGD lr 0.1 / classifier x10, poly
# 0.9, weight decay 1e-4; the rates of IRN's run_sample.py, see
# configs/esol/README.md).
#   python tools/train.py configs/esol/esol_r50_stage0_voc12aug.py
_base_ = ['../wsss/cam_resnet50_voc12aug.py']

model = dict(head=dict(bias=False))  # [default] bias-free 1x1 classifier
