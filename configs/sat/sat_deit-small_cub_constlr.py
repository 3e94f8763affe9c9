# Parity with the released SAT code on CUB: the cosine schedule it computes
# is never written into the optimizer (constant lr 1e-4), and its no-decay
# list is lost behind DataParallel (tokens, positional embeddings, norms and
# biases are all decayed). Everything else as sat_deit-small_cub.py.
_base_ = ['./sat_deit-small_cub.py']
optim_wrapper = dict(paramwise_cfg=dict(_delete_=True))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
