# Short schedule for the embedded SyntheticWSOL set (minutes on 2 CPU cores;
# 5 epochs keep the whole main job, every method included, near 13 minutes).
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4, nesterov=True))
# The cosine end is explicit: a run stopped early (e.g. max_epochs=1) and
# resumed to the full length then follows the same learning rates as an
# uninterrupted run (an end taken from max_epochs would be planned for the
# shorter run and saved in its checkpoint).
max_epochs = 5
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        eta_min=1e-4),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=5)
val_cfg = dict()
test_cfg = dict()
