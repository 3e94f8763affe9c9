# Schedule of IRN's CAM network (Ahn et al., CVPR 2019; jiwoon-ahn/irn):
# 5 epochs, SGD lr 0.1 with the classifier at x10, poly decay (power 0.9)
# per iteration down to 0, weight decay 1e-4. IRN's PolyOptimizer hands
# weight_decay to torch SGD's positional `momentum` slot, so the reference
# trains with momentum 1e-4 (in effect none) and the per-group weight decay
# 1e-4: momentum 0 here. No validation during training (IRN only logs a
# val loss); test = the config's classification test.
max_epochs = 5
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.0, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'head.classifier': dict(lr_mult=10.0)}))
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
val_cfg = None
val_dataloader = None
val_evaluator = None
test_cfg = dict()
# batch 16 on one GPU (IRN); lr is not batch-scaled
auto_scale_lr = dict(base_batch_size=16, enable=False)
