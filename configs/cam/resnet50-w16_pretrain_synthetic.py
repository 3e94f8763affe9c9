# Pretraining of the demo's quarter-width ResNet-50 (stem/base channels 16):
# the stand-in for the ImageNet weights that CAM and BAS start from in the
# papers. A plain 8-way classifier (the CAM head: GAP + linear) trained on a
# separately seeded SyntheticWSOL (seed 1, 8,000 images; the WSOL rows train
# and test on seed 0), so the pretraining data are disjoint from every WSOL
# split. Run once through the committed script, which also exports the
# backbone weights and their SHA-256:
#   python tools/misc/pretrain_demo_backbones.py --only resnet50-w16
# Class parts are drawn with a half side of 0.045 to 0.07 of the image (8 to
# 13 px at 96 px): the WSOL set's 8 px parts and somewhat larger ones, the
# way ImageNet shows objects at many scales.
_base_ = ['./cam_resnet50_synthetic.py']

num_classes = 8
part_scale = (0.045, 0.07)
# from scratch (the row configs load this pretraining's output instead)
model = dict(backbone=dict(init_cfg=None), loc_thr=0.5)
train_dataloader = dict(
    dataset=dict(
        seed=1, num_samples=8000, with_mask=False, part_scale=part_scale))
val_dataloader = dict(
    dataset=dict(
        seed=1,
        split='val',
        num_samples=1000,
        with_mask=False,
        part_scale=0.045))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='mmpretrain.Accuracy', topk=(1, ))
test_evaluator = val_evaluator

max_epochs = 6
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        eta_min=1e-4),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1),
    visualization=dict(enable=False))
randomness = dict(seed=1)
