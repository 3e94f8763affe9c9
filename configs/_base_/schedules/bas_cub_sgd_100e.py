# BAS on CUB (CVPR 2022 recipe): as bas_cub_sgd_120e.py but 100 epochs,
# lr x0.1 at epoch 80; the paper reports the last (epoch-99) checkpoint.
_base_ = ['./bas_cub_sgd_120e.py']
train_cfg = dict(max_epochs=100)
