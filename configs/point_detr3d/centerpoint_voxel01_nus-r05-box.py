# CenterPoint voxel 0.1 (no velocity, CBGS; GPU only: the SparseEncoder has
# no CPU kernels) on the 5% labelled nuScenes samples: the LiDAR
# pre-training of point-detr3d_voxel01_nus-r05.py and the "5% boxes only"
# student of the voxel setting. centerpoint_pillar02_nus-r05-box.py
# (pipeline, data, schedule, head) with the LiDAR branch of mmdet3d's
# centerpoint_voxel01_second_secfpn_nus.py
# (configs/_base_/models/point-detr3d_voxel01_nus.py): targets and decoding
# on the 128 x 128 map (stride 8).
_base_ = [
    './centerpoint_pillar02_nus-r05-box.py',
    '../_base_/models/point-detr3d_voxel01_nus.py',
]

lidar = _base_.voxel01_lidar
voxel_size = _base_.voxel01_size
model = dict(
    data_preprocessor=dict(voxel_layer=lidar['voxel_layer']),
    pts_voxel_encoder=dict(lidar['pts_voxel_encoder'], _delete_=True),
    pts_middle_encoder=dict(lidar['pts_middle_encoder'], _delete_=True),
    pts_backbone=dict(lidar['pts_backbone'], _delete_=True),
    pts_neck=dict(lidar['pts_neck'], _delete_=True),
    pts_bbox_head=dict(
        in_channels=lidar['bev_channels'],
        bbox_coder=dict(
            out_size_factor=lidar['out_size_factor'],
            voxel_size=voxel_size[:2])),
    train_cfg=dict(
        pts=dict(
            grid_size=lidar['grid_size'],
            voxel_size=voxel_size,
            out_size_factor=lidar['out_size_factor'])),
    test_cfg=dict(
        pts=dict(
            out_size_factor=lidar['out_size_factor'],
            voxel_size=voxel_size[:2])))
