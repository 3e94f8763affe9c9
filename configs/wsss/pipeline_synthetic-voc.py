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
# offline tools (CAM export, pseudo masks, IR labels): processes under
# torchrun, one thread each (the files do not depend on it)
workers = 2
train_split = 'trainaug'  # Stage A tags, CAMs and pseudo masks (tags only)
eval_split = 'train'  # seeds / pseudo masks scored with its pixel labels

stage_a = dict(config='configs/wsss/cam_resnet50_synthetic-voc.py')
cams = dict(args=[])  # make_cams.py defaults: scales 1.0/0.5/1.5/2.0 + flip
# background thresholds swept on `eval_split` (spec default 0.05..0.60)
seed_eval = dict(thresholds=(0.05, 0.60, 0.01))
crf = dict(preset='psa')
# IRN (Ahn et al., CVPR 2019): confident-label thresholds 0.30 / 0.05 and
# random-walk beta 10 as in IRN. Scale 2 and exp_times 6 adapt IRN to
# images four times smaller than VOC's (configs/irn/irn_resnet50_synthetic-
# voc.py): the walk grid of the 2x image is about half VOC's in each
# direction, and a walk's reach grows with the square root of its steps, so
# 2^8 / 4 = 2^6 steps cover the same share of the image. The walk's
# background threshold (IRN: 0.25 on VOC) is swept on `eval_split` like the
# seeds' threshold.
irn = dict(config='configs/irn/irn_resnet50_synthetic-voc.py',
           fg_thr=0.30, bg_thr=0.05, beta=10, exp_times=6, scale=2.0,
           sem_bg_thresholds=(0.05, 0.95, 0.01))
segmenter = dict(
    pseudo='configs/wsss/deeplabv3plus_r18-d8_synthetic-voc_pseudo.py',
    full='configs/wsss/deeplabv3plus_r18-d8_synthetic-voc_full.py',
    eval_split='val',
    # training seeds of every segmenter (mean and half-range in the table);
    # the main job trains each once to stay within its time budget
    seeds=(0, ))
# MARS (Jo et al., ICCV 2023) on the IRN masks: the offline tool config
# (its header says which feature model and why), the MARS segmenter
# (the base segmenter above + EMA teacher and weighted CE), and the planted
# biased classes shown separately. Delete this entry to skip MARS.
mars = dict(
    tool_config='configs/mars/mars_debias_synthetic-voc.py',
    segmenter='configs/mars/deeplabv3plus_r18-d8_mars_synthetic-voc.py',
    gt_dir='SegmentationClassAug',  # the sanity metric (target share)
    biased_classes=('boat', 'train'))
