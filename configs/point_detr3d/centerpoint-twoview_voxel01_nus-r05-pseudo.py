# Point-DETR3D student on the CenterPoint voxel-0.1 LiDAR branch (GPU only:
# the SparseEncoder has no CPU kernels), 5% labelled nuScenes samples:
# centerpoint-twoview_pillar02_nus-r05-pseudo.py (two views, consistency
# loss, merged pkl of the teacher point-detr3d_voxel01_nus-r05.py) with the
# LiDAR branch of centerpoint_voxel01_nus-r05-box.py; both views are
# voxelised at 0.1 m and the consistency masks live on the 128 x 128 map.
# The merged pkl (data/nuscenes/pseudo_r05 is shared with the pillar
# student: give each teacher its own --out-dir and ann_file_pseudo, or run
# tools/point_detr3d/run_pipeline.py pipeline_voxel01_nus-r05.py):
#   python tools/point_detr3d/make_pseudo_labels.py \
#       configs/point_detr3d/point-detr3d_voxel01_nus-r05.py TEACHER.pth \
#       --out-dir data/nuscenes/pseudo_voxel01_r05
_base_ = [
    './centerpoint-twoview_pillar02_nus-r05-pseudo.py',
    '../_base_/models/point-detr3d_voxel01_nus.py',
]

ann_file_pseudo = 'pseudo_voxel01_r05/nuscenes_infos_train_pseudo.pkl'
lidar = _base_.voxel01_lidar
voxel_size = _base_.voxel01_size
model = dict(
    loss_consistency=dict(
        voxel_size=voxel_size, out_size_factor=lidar['out_size_factor']),
    data_preprocessor=dict(
        data_preprocessor=dict(voxel_layer=lidar['voxel_layer'])),
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
train_dataloader = dict(
    dataset=dict(dataset=dict(ann_file=ann_file_pseudo)))
