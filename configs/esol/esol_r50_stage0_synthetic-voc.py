# ESOL stage 0 on the embedded VOC-layout set
# (tools/dataset_converters/make_synthetic_voc.py): the CAM network of
# configs/wsss/cam_resnet50_synthetic-voc.py unchanged (ResNet-50 layout at
# a quarter of the width, a 512-channel last map at output stride 16, from
# scratch, crop 64, 16 epochs AdamW).
#   python tools/train.py configs/esol/esol_r50_stage0_synthetic-voc.py
_base_ = ['../wsss/cam_resnet50_synthetic-voc.py']

model = dict(head=dict(bias=False))
