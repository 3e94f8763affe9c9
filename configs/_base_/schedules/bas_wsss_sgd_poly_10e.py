# Schedule of BAS for WSSS (IJCV 2023 extension, WSSS/train_bas.py;
# shared/specs/bas.md, section 7): 10 epochs, SGD lr 0.005 for the backbone
# and 0.05 for the new layers (names containing "classifier": the generator
# and the classifier), weight decay 1e-4, poly decay (power 0.9) per
# iteration down to 0 at the real last iteration, global batch 16.
# The reference's IRN-style optimizer hands the weight decay to SGD's
# positional momentum slot (momentum 1e-4, in effect none): momentum 0 here,
# as in mmweak's IRN CAM schedule. Its other quirks (BN shifts left out of
# the optimizer, a poly range computed from the per-GPU batch) are not
# reproduced; bas_resnet50_voc12aug_parity.py has the first two.
max_epochs = 10
optim_wrapper = dict(
    constructor='BASOptimWrapperConstructor',
    optimizer=dict(type='SGD', lr=0.005, momentum=0.0, weight_decay=1e-4),
    paramwise_cfg=dict(
        head_keys=('classifier', ),
        bias_lr_mult=1.0,
        head_lr_mult=10.0,
        head_bias_lr_mult=10.0))
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
# global batch 16 (the reference: DDP over its GPUs); lr is not batch-scaled
auto_scale_lr = dict(base_batch_size=16, enable=False)
