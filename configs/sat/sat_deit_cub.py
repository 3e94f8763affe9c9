# The short name users type: identical to sat_deit-small_cub.py.
#   python tools/train.py configs/sat/sat_deit_cub.py
_base_ = ['./sat_deit-small_cub.py']
