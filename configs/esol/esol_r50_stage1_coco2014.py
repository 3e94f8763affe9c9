# ESOL stage 1 (expansion) on MS COCO 2014: esol_r50_stage1_voc12aug.py
# with the COCO data and 80 classes. The paper's COCO schedule is unknown:
# 2 epochs is mmweak's starting point [default] (spec section 6).
#   python tools/train.py configs/esol/esol_r50_stage1_coco2014.py \
#       [--cfg-options load_from=\
#        work_dirs/esol_r50_stage0_coco2014/epoch_5.pth]
_base_ = ['./esol_r50_stage0_coco2014.py']

load_from = 'work_dirs/esol_r50_stage0_coco2014/epoch_5.pth'
max_epochs = 2  # [default]

model = dict(
    backbone=dict(frozen_stages=4, norm_eval=True, init_cfg=None),
    neck=dict(
        type='ESOLExpansionNeck',
        in_channels=2048,  # [default]
        max_offset=8.0,  # [default]
        grl_lambda=1.0,  # [default]
        w_init='uniform',  # [default]
        w_trainable=False,  # [figure]
        backend='torchvision',  # [default]
        zero_init_offset=True,  # [default]
        clip_mode='ratio',  # [default]
        clip_ratio=0.5,  # [default]
        clip_value=None))

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
