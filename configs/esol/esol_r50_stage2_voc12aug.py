# ESOL stage 2, shrinkage (Li et al., NeurIPS 2022, figure 2 bottom): the
# frozen stage-1 expansion block (DCN + Clip Op, stop-gradient after it),
# then a "shrinkage sampler" (offset_conv2, frozen W2, no reversal) whose
# output F2 feeds the classifier; loss L_cls + lambda_area * L_area.
# Backbone, offset_conv1, W1, Clip and W2 frozen; offset_conv2 and the
# classifier learn. Starts from the stage-1 checkpoint: backbone,
# `neck.expansion_sampler.*` and `head.classifier` load by key, the
# shrinkage sampler starts at zero offsets. The CAMs for Stage B are this
# model's (`forward_cam` = classifier on F2):
#   python tools/train.py configs/esol/esol_r50_stage2_voc12aug.py \
#       [--cfg-options load_from=\
#        work_dirs/esol_r50_stage1_voc12aug/epoch_3.pth]
#   python tools/wsss/make_cams.py configs/esol/esol_r50_stage2_voc12aug.py \
#       work_dirs/esol_r50_stage2_voc12aug/epoch_3.pth --split trainaug
# Schedule (3 epochs, SGD lr 0.01) inherited from stage 1 [default].
_base_ = ['./esol_r50_stage1_voc12aug.py']

load_from = 'work_dirs/esol_r50_stage1_voc12aug/epoch_3.pth'

model = dict(
    neck=dict(
        # the expansion keys inherited from stage 1 must stay as trained
        type='ESOLShrinkageNeck',
        shrinkage=dict(
            max_offset=8.0,  # [default]
            w_init='uniform',  # [default]
            w_trainable=False,  # [figure] W2 detached
            zero_init_offset=True,  # [default]
            backend='torchvision')),  # [default]
    head=dict(
        area_loss=dict(
            type='AreaLoss',
            area_norm='max',  # [default] A / (max A + eps)
            loss_weight=0.1,  # [default] lambda_area
            eps=1e-5)))

optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'neck.expansion_sampler': dict(lr_mult=0.0, decay_mult=0.0)
        }))
