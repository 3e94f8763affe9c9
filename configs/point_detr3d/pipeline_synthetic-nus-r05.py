# Point-DETR3D teacher-student method (AAAI 2024, arXiv 2403.15317) on the
# embedded nuScenes-layout set, LiDAR only, CenterPoint pillar 0.2, on the
# CPU, from one command (the 3D part of `make demo`):
#   python tools/point_detr3d/run_pipeline.py \
#       configs/point_detr3d/pipeline_synthetic-nus-r05.py \
#       [--work-dir work_dirs/p3d_synthetic] [--from STAGE] [--to STAGE]
# Stages: data -> split -> lidar_pretrain -> fuse -> teacher ->
# pseudo_label -> student -> full -> evaluate (WORK_DIR/results.md).
title = ('Point-DETR3D on the embedded nuScenes-layout set (pillar 0.8 '
         'CPU size, LiDAR only)')
# relative to the repository root (or absolute)
data_root = 'data/synthetic_nuscenes'
# devkit version of the tables: the embedded set is named as the first
# scenes of v1.0-trainval's train and val splits
version = 'v1.0-trainval'
# embedded set only: make_synthetic_nuscenes.py arguments (40 train and 10
# val scenes, 5 keyframes each: 200 train / 50 val samples), then
# create_nuscenes_infos.py with this --max-sweeps
generate = dict(
    args=[
        '--version', version, '--num-scenes', 40, 10,
        '--num-samples-per-scene', 5, '--ground-points', 8000, '--seed', 0
    ],
    max_sweeps=0)
# make_point_split.py: the first ceil(ratio * N) samples by timestamp keep
# their boxes (split_by='scene': whole scenes in a seeded order)
split = dict(ratio=0.05, seed=0, split_by='sample', args=[])
# step 1 = the "5% boxes only" row
lidar_pretrain = dict(
    config='configs/point_detr3d/'
    'centerpoint_pillar02_synthetic-nus-r05-box.py',
    options={})
# step 2: fuse_checkpoints.py (an FCOS3D image checkpoint is optional; the
# LiDAR-only teacher needs none)
fuse = dict(image_checkpoint=None, args=[])
# step 3
teacher = dict(
    config='configs/point_detr3d/point-detr3d_pillar02_synthetic-nus-r05.py',
    options={})
# step 4: make_pseudo_labels.py, sharded over `workers` processes
pseudo_label = dict(workers=1, args=[], options={})
# step 5
student = dict(
    config='configs/point_detr3d/'
    'centerpoint-twoview_pillar02_synthetic-nus-r05-pseudo.py',
    options={})
# the fully supervised counterpart (full = None leaves it out)
full = dict(
    config='configs/point_detr3d/centerpoint_pillar02_synthetic-nus-full.py',
    options={})
# training seed of every trained stage (randomness.seed; --cfg-options
# seed=1 for another run)
seed = 0
# --cfg-options of every tools/test.py run
test_options = {}
