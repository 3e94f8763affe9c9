# Point-DETR3D teacher (LiDAR only) on the CenterPoint voxel-0.1 LiDAR
# branch (spec section 4.1; GPU only: the SparseEncoder has no CPU kernels),
# 5% labelled nuScenes samples: point-detr3d_pillar02_nus-r05.py (pipelines,
# data, schedule, head) with the voxel branch of
# configs/_base_/models/point-detr3d_voxel01_nus.py, whose module names and
# shapes are those of centerpoint_voxel01_nus-r05-box.py (its LiDAR
# pre-training, step 1; fuse_checkpoints.py transfers them). The head reads
# the 512-channel BEV map at stride 8 (128 x 128).
_base_ = [
    './point-detr3d_pillar02_nus-r05.py',
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
    pts_bbox_head=dict(in_channels=lidar['bev_channels']))
