# Parity with the released SAT ImageNet code: constant lr 1.5e-5 (the
# computed cosine schedule is never applied) and every parameter decayed
# (the no-decay list is lost behind DDP). Otherwise sat_deit-small_imagenet.
_base_ = ['./sat_deit-small_imagenet.py']
optim_wrapper = dict(paramwise_cfg=dict(_delete_=True))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
