# Fine-tuning schedule of the SAT / DeiT-CAM rows on SyntheticWSOL: AdamW
# with weight decay 0.05 (none on norms, biases, tokens and positional
# embeddings), per-iteration cosine decay to 1e-6 without warmup (the SAT
# recipe), a few epochs to fit the main-job budget on 2 CPU cores.
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=5e-4, weight_decay=0.05, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.loc_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
            '.loc_embed': dict(decay_mult=0.0),
        }))
max_epochs = 5
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
