# ESOL stage 1, expansion (Li et al., NeurIPS 2022, figure 2 top): a
# deformable "expansion sampler" on the last ResNet-50 map, trained through
# a gradient-reversal layer so that it *ascends* the classification loss
# while the classifier descends it; the Clip Op caps the sampled features
# before GAP and the classifier. Backbone frozen (requires_grad=False, BN
# eval, lr_mult 0) and W1 frozen; offset_conv1 and the classifier learn.
# Starts from the stage-0 checkpoint (backbone and `head.classifier` load
# by key; the zero-initialised offset conv and W1 are new):
#   python tools/train.py configs/esol/esol_r50_stage1_voc12aug.py \
#       [--cfg-options load_from=\
#        work_dirs/esol_r50_stage0_voc12aug/epoch_5.pth]
# Every value marked [default] below is mmweak's choice, not the paper's
# (configs/esol/README.md lists them all).
_base_ = ['./esol_r50_stage0_voc12aug.py']

load_from = 'work_dirs/esol_r50_stage0_voc12aug/epoch_5.pth'
max_epochs = 3  # [default]

model = dict(
    # frozen backbone: stem + layer1-4 without gradient, BN in eval mode
    backbone=dict(frozen_stages=4, norm_eval=True, init_cfg=None),
    neck=dict(
        type='ESOLExpansionNeck',
        in_channels=2048,  # [default] DCN after layer4, 2048 -> 2048
        max_offset=8.0,  # [default] m * tanh, feature pixels (128 px)
        grl_lambda=1.0,  # [default] inverse supervision by reversal
        w_init='uniform',  # [default] each of the 9 taps identity / 9
        w_trainable=False,  # [figure] W1 detached
        backend='torchvision',  # [default] or 'mmcv' / 'grid_sample'
        zero_init_offset=True,  # [default] DCN starts as the box average
        clip_mode='ratio',  # [default] min(ReLU(F'), kappa * max F')
        clip_ratio=0.5,  # [default] kappa
        clip_value=None))  # tau of clip_mode='fixed'

# [default] SGD lr 0.01 for offset_conv1 and the classifier, momentum 0.9,
# weight decay 1e-4, poly 0.9; the frozen backbone at lr_mult 0
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(
        custom_keys={'backbone': dict(lr_mult=0.0, decay_mult=0.0)}))
param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs)
