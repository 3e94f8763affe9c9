# ESOL stage 2 (shrinkage) on the embedded VOC-layout set: the VOC recipe
# (esol_r50_stage2_voc12aug.py) on the synthetic stage 1, offsets bounded
# by 2 feature pixels as there; schedule inherited from stage 1.
#   python tools/train.py configs/esol/esol_r50_stage2_synthetic-voc.py
_base_ = ['./esol_r50_stage1_synthetic-voc.py']

load_from = 'work_dirs/esol_r50_stage1_synthetic-voc/epoch_2.pth'

model = dict(
    neck=dict(
        type='ESOLShrinkageNeck',
        shrinkage=dict(
            max_offset=2.0,
            w_init='uniform',
            w_trainable=False,
            zero_init_offset=True,
            backend='torchvision')),
    head=dict(
        area_loss=dict(
            type='AreaLoss', area_norm='max', loss_weight=0.1, eps=1e-5)))

optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'neck.expansion_sampler': dict(lr_mult=0.0, decay_mult=0.0)
        }))
