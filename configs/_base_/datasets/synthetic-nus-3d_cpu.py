# The embedded nuScenes-layout set of the Point-DETR3D main job and the CPU
# size of its models: a second base of every *_synthetic-nus-* config,
# beside the nuScenes method config it adapts. Its keys carry the `syn_`
# prefix, so they never collide with the method config's (mmengine forbids
# a key in two bases); each synthetic config puts them in place.
#
# The set (written by the pipeline config's `data` stage, or by hand):
#   python tools/dataset_converters/make_synthetic_nuscenes.py \
#       data/synthetic_nuscenes --version v1.0-trainval --num-scenes 40 10 \
#       --num-samples-per-scene 5 --ground-points 8000
#   python tools/dataset_converters/create_nuscenes_infos.py \
#       data/synthetic_nuscenes --version v1.0-trainval --max-sweeps 0
# 40 train scenes (200 keyframes) and 10 val scenes (50) named as the
# devkit's first train / val scenes, so the converter and NuScenesMetric
# split them as real nuScenes (v1.0-trainval, the dataset base's version).
# Keyframes only: the generator writes no sweeps.
syn_data_root = 'data/synthetic_nuscenes/'

# CPU size. The pillar-0.2 model takes about 30 s per batch of 2 on two
# CPU cores. Here 0.8 m pillars (a 128 x 128 grid over the same +-51.2 m),
# a narrow SECOND / SECONDFPN whose neck returns the first level's stride
# (64 x 64 BEV map, 1.6 m cells, out_size_factor 2) and 16-channel
# CenterHead task branches: 0.12 s per sample for a training step of the
# box student on one core.
syn_voxel_size = [0.8, 0.8, 8]
syn_grid = [128, 128]
syn_out_size_factor = 2
syn_voxel_layer = dict(voxel_size=syn_voxel_size, max_voxels=(8000, 10000))
syn_lidar_branch = dict(
    pts_voxel_encoder=dict(feat_channels=[32], voxel_size=syn_voxel_size),
    pts_middle_encoder=dict(in_channels=32, output_shape=syn_grid),
    pts_backbone=dict(
        in_channels=32, out_channels=[32, 64, 128], layer_nums=[1, 2, 2]),
    pts_neck=dict(
        in_channels=[32, 64, 128],
        out_channels=[64, 64, 64],
        upsample_strides=[1, 2, 4]))
syn_centerpoint = dict(
    pts_bbox_head=dict(
        in_channels=192,
        share_conv_channel=32,
        separate_head=dict(head_conv=16),
        bbox_coder=dict(
            voxel_size=syn_voxel_size[:2],
            out_size_factor=syn_out_size_factor)),
    train_cfg=dict(
        pts=dict(
            grid_size=syn_grid + [1],
            voxel_size=syn_voxel_size,
            out_size_factor=syn_out_size_factor)),
    test_cfg=dict(
        pts=dict(
            voxel_size=syn_voxel_size[:2],
            out_size_factor=syn_out_size_factor)))
# class-mean (l, w, h) of the set's 5% labelled split, the spec's default
# (class_mean_size in make_point_split.py's summary,
# nuscenes_infos_train_r05_split.json), in the dataset base's class order
syn_class_mean_size = [
    [4.6015, 1.9127, 1.7497],  # car
    [6.7327, 2.6057, 2.8443],  # truck
    [12.5015, 2.9725, 3.7015],  # trailer
    [11.5845, 2.808, 3.5225],  # bus
    [6.582, 2.834, 3.118],  # construction_vehicle
    [1.722, 0.6097, 1.2822],  # bicycle
    [2.0595, 0.793, 1.4985],  # motorcycle
    [0.7427, 0.6715, 1.7802],  # pedestrian
    [0.4202, 0.403, 1.0355],  # traffic_cone
    [0.5133, 2.4263, 0.984],  # barrier
]

# Students' schedule: mmdet3d's cyclic-20e (AdamW lr 1e-4; the lr rises to
# 10x over the first 40 %, then falls to 1e-4 x; momentum the other way)
# over a fixed number of iterations, the same for the three students (5 %
# boxes, pseudo labels, fully supervised), so the 5 % student is not given
# 20x fewer steps than the others by an epoch count.
syn_student_iters = 200
syn_student_rise = int(0.4 * syn_student_iters)
syn_student_schedule = [
    dict(type='CosineAnnealingLR', T_max=syn_student_rise, eta_min=1e-3,
         begin=0, end=syn_student_rise, by_epoch=False),
    dict(type='CosineAnnealingLR',
         T_max=syn_student_iters - syn_student_rise, eta_min=1e-8,
         begin=syn_student_rise, end=syn_student_iters, by_epoch=False),
    dict(type='CosineAnnealingMomentum', T_max=syn_student_rise,
         eta_min=0.85 / 0.95, begin=0, end=syn_student_rise, by_epoch=False),
    dict(type='CosineAnnealingMomentum',
         T_max=syn_student_iters - syn_student_rise, eta_min=1,
         begin=syn_student_rise, end=syn_student_iters, by_epoch=False),
]
syn_student_loop = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=syn_student_iters,
    val_interval=syn_student_iters)
