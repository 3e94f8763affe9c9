# The WSSS main-job pipeline on the embedded VOC-layout set, run by
# `python tools/wsss/run_pipeline.py configs/wsss/pipeline_synthetic-voc.py`
# (and by `make demo TASKS=wsss`). Each entry names the ordinary mmweak /
# mmseg config of one stage; for real VOC, write the same file with the VOC
# configs and drop `synthetic`.
title = ('Synthetic VOC-layout set '
         '(tools/dataset_converters/make_synthetic_voc.py)')
synthetic = dict(out_dir='data/synthetic_voc', seed=0)
data_root = 'data/synthetic_voc/VOCdevkit/VOC2012'
num_classes = 21
train_split = 'trainaug'  # Stage A tags, CAMs and pseudo masks (tags only)
eval_split = 'train'  # seeds / pseudo masks scored with its pixel labels

stage_a = dict(config='configs/wsss/cam_resnet50_synthetic-voc.py')
cams = dict(args=[])  # make_cams.py defaults: scales 1.0/0.5/1.5/2.0 + flip
# background thresholds swept on `eval_split` (spec default 0.05..0.60)
seed_eval = dict(thresholds=(0.05, 0.60, 0.01))
crf = dict(preset='psa')
# IRN (Ahn et al., CVPR 2019): confident-label thresholds 0.30 / 0.05,
# random walk beta 10, 8 iterations, semantic background threshold 0.25
irn = dict(config='configs/irn/irn_resnet50_synthetic-voc.py',
           fg_thr=0.30, bg_thr=0.05, beta=10, exp_times=8, sem_bg_thr=0.25)
segmenter = dict(
    pseudo='configs/wsss/deeplabv3plus_r18-d8_synthetic-voc_pseudo.py',
    full='configs/wsss/deeplabv3plus_r18-d8_synthetic-voc_full.py',
    eval_split='val')
