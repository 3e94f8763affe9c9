# ESOL stage 2 (shrinkage) on MS COCO 2014: esol_r50_stage2_voc12aug.py on
# the COCO stage 1; 2 epochs [default] inherited from stage 1.
#   python tools/train.py configs/esol/esol_r50_stage2_coco2014.py \
#       [--cfg-options load_from=\
#        work_dirs/esol_r50_stage1_coco2014/epoch_2.pth]
_base_ = ['./esol_r50_stage1_coco2014.py']

load_from = 'work_dirs/esol_r50_stage1_coco2014/epoch_2.pth'

model = dict(
    neck=dict(
        type='ESOLShrinkageNeck',
        shrinkage=dict(
            max_offset=8.0,  # [default]
            w_init='uniform',  # [default]
            w_trainable=False,  # [figure]
            zero_init_offset=True,  # [default]
            backend='torchvision')),  # [default]
    head=dict(
        area_loss=dict(
            type='AreaLoss',
            area_norm='max',  # [default]
            loss_weight=0.1,  # [default]
            eps=1e-5)))

optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'neck.expansion_sampler': dict(lr_mult=0.0, decay_mult=0.0)
        }))
