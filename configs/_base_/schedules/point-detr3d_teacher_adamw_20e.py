# Point-DETR3D teacher schedule (spec section 4.6, from the released
# configs): 20 epochs of AdamW (lr 2e-4, weight decay 0.01, lr x0.1 on the
# image backbone, the voxel encoder and the SECOND backbone), gradient-norm
# clip 35, 500 iterations of linear warm-up from 1/3, then cosine annealing
# to 1e-3 of the base lr. 8 GPUs x 1 sample.
lr = 2e-4
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys=dict(
            img_backbone=dict(lr_mult=0.1),
            pts_voxel_encoder=dict(lr_mult=0.1),
            pts_backbone=dict(lr_mult=0.1))),
    clip_grad=dict(max_norm=35, norm_type=2))
max_epochs = 20
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0,
         end=500),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0,
         end=max_epochs, T_max=max_epochs, eta_min_ratio=1e-3,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
# 8 GPUs x 1 sample
auto_scale_lr = dict(enable=False, base_batch_size=8)
