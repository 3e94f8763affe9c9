# The DeiT CAM baseline of SAT on SyntheticWSOL: the same backbone (without
# the spatial token), the same 3x3 conv + GAP classifier, initialisation,
# data and schedule as sat_deit-tiny_synthetic.py; the localization map is
# the class map of that classifier (ConvCAMHead); both start from
# checkpoints/demo/deit-tiny-d64_synthetic-cls.pth:
#   python tools/train.py configs/sat/cam_deit-tiny_synthetic.py
_base_ = ['./sat_deit-tiny_synthetic.py']
# tau for Top-1 / GT-known Loc. The main job chooses it on the SyntheticWSOL
# `val` split in the run (the tau maximising GT-known Loc there) and tests
# with it:
#   python tools/analysis_tools/calibrate_wsol_threshold.py CONFIG CKPT \
#       --out THR.json
#   python tools/test.py CONFIG CKPT --cfg-options \
#       test_evaluator.thr_file=THR.json
# The value below is only the fallback when no calibration file is given
# (the method's usual default); WSOLMetric also reports the full sweep.
loc_thr = 0.2
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch={{_base_.deit_arch}},
        img_size=96,
        patch_size=12,
        drop_path_rate=0.1,
        out_type='featmap'),
    head=dict(
        _delete_=True, type='ConvCAMHead', num_classes=8, in_channels=64),
    loc_thr=loc_thr)
val_evaluator = dict(type='WSOLMetric', preset='choe', loc_thr=loc_thr)
test_evaluator = val_evaluator
