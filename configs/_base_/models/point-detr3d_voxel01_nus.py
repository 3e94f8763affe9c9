# The CenterPoint voxel-0.1 LiDAR branch of Point-DETR3D (spec sections 4.1
# and 6): hard voxelisation (0.1 x 0.1 x 0.2 m, 10 points per voxel) ->
# HardSimpleVFE -> SparseEncoder (41 x 1024 x 1024, 128 x 2 = 256-channel
# BEV) -> SECOND -> SECONDFPN (2 x 256 channels at stride 8, a 128 x 128 map
# over +-51.2 m), with the values of mmdet3d 1.4's
# _base_/models/centerpoint_voxel01_second_secfpn_nus.py (the config tests
# compare the shapes). Stored as variables, not as a ``model``, so that the
# voxel configs take the pillar-0.2 method configs (their pipelines, data
# and schedules) and swap the LiDAR branch in:
#   model = dict(pts_voxel_encoder=dict(voxel01_lidar['pts_voxel_encoder'],
#                                       _delete_=True), ...)
# The SparseEncoder runs on GPUs only (mmcv's sparse convolution and
# spconv have no CPU kernels); the model builds and the data voxelise on the
# CPU.
voxel01_size = [0.1, 0.1, 0.2]
voxel01_lidar = dict(
    voxel_layer=dict(
        max_num_points=10,
        voxel_size=voxel01_size,
        point_cloud_range=[-51.2, -51.2, -5.0, 51.2, 51.2, 3.0],
        max_voxels=(90000, 120000)),
    pts_voxel_encoder=dict(type='HardSimpleVFE', num_features=5),
    pts_middle_encoder=dict(
        type='SparseEncoder',
        in_channels=5,
        sparse_shape=[41, 1024, 1024],
        output_channels=128,
        order=('conv', 'norm', 'act'),
        encoder_channels=((16, 16, 32), (32, 32, 64), (64, 64, 128),
                          (128, 128)),
        encoder_paddings=((0, 0, 1), (0, 0, 1), (0, 0, [0, 1, 1]), (0, 0)),
        block_type='basicblock'),
    pts_backbone=dict(
        type='SECOND',
        in_channels=256,
        out_channels=[128, 256],
        layer_nums=[5, 5],
        layer_strides=[1, 2],
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01),
        conv_cfg=dict(type='Conv2d', bias=False)),
    pts_neck=dict(
        type='SECONDFPN',
        in_channels=[128, 256],
        out_channels=[256, 256],
        upsample_strides=[1, 2],
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01),
        upsample_cfg=dict(type='deconv', bias=False),
        use_conv_for_no_stride=True),
    # channels of the neck's BEV map, its stride in voxels and the voxel
    # grid (x, y, z) of CenterPoint's targets
    bev_channels=512,
    out_size_factor=8,
    grid_size=[1024, 1024, 40])
