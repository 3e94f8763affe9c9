# SAT on the embedded SyntheticWSOL images (96 x 96): a DeiT-Tiny-style
# backbone (MLP ratio 4, LN eps 1e-6, qkv bias) reduced to fit the
# CPU budget of the main job: width 64 (2 heads of 32) and 6 blocks instead
# of 192 (3 heads of 64) and 12, patch 12 (an 8 x 8 token grid). The last 3
# blocks are gated, as in SAT.
# It starts from the synthetic DeiT classifier of
# configs/sat/deit-tiny_pretrain_synthetic.py (the stand-in for the
# ImageNet DeiT checkpoint of the paper).
deit_arch = dict(
    embed_dims=64, num_layers=6, num_heads=2, feedforward_channels=256)
model = dict(
    type='WSOLClassifier',
    data_preprocessor=dict(
        type='mmpretrain.ClsDataPreprocessor',
        num_classes=8,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='SATVisionTransformer',
        arch=deit_arch,
        img_size=96,
        patch_size=12,
        num_gated_blocks=3,
        drop_path_rate=0.1),
    head=dict(
        type='SATHead',
        num_classes=8,
        in_channels=64,
        loc_loss=dict(
            type='SATLoss', area_target=0.25, area_weight=1.0,
            norm_weight=1.0)),
    loc_thr=0.2)
