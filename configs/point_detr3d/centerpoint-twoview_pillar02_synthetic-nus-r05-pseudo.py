# centerpoint-twoview_pillar02_nus-r05-pseudo.py (the student) on the
# embedded nuScenes-layout set, at the CPU size of
# centerpoint_pillar02_synthetic-nus-r05-box.py.
_base_ = ['./centerpoint-twoview_pillar02_nus-r05-pseudo.py']

# --- embedded data (the same block in every *_synthetic-nus-* config) ---
data_root = 'data/synthetic_nuscenes/'
metainfo = dict(classes=_base_.class_names, version='v1.0-mini')
load_points = _base_.load_points[:1]  # keyframes only, no sweeps
db_sampler = dict(
    _base_.db_sampler,
    data_root=data_root,
    info_path=data_root + _base_.dbinfos_labelled)
test_pipeline = load_points + _base_.test_pipeline[2:]
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    data_root=data_root, ann_file=data_root + 'nuscenes_infos_val.pkl')
test_evaluator = val_evaluator
# --- CPU size (the same LiDAR branch in every *_synthetic-nus-* config) ---
voxel_size = [0.4, 0.4, 8]
# class-mean (l, w, h) of the labelled split, as the teacher's
class_mean_size = [
    [4.628, 1.9266, 1.8056],  # car
    [6.778, 2.663, 2.902],  # truck
    [11.76, 3.058, 3.593],  # trailer
    [11.498, 2.855, 3.322],  # bus
    [7.037, 2.793, 3.21],  # construction_vehicle
    [1.676, 0.618, 1.314],  # bicycle
    [1.98, 0.823, 1.524],  # motorcycle
    [0.7265, 0.6847, 1.7808],  # pedestrian
    [0.4147, 0.4287, 1.1143],  # traffic_cone
    [0.5125, 2.422, 0.913],  # barrier
]
model = dict(
    data_preprocessor=dict(
        data_preprocessor=dict(
            voxel_layer=dict(
                voxel_size=voxel_size, max_voxels=(16000, 20000)))),
    pts_voxel_encoder=dict(feat_channels=[32], voxel_size=voxel_size),
    pts_middle_encoder=dict(in_channels=32, output_shape=(256, 256)),
    pts_backbone=dict(
        in_channels=32, out_channels=[32, 64, 128], layer_nums=[1, 2, 2]),
    pts_neck=dict(in_channels=[32, 64, 128], out_channels=[64, 64, 64]),
    pts_bbox_head=dict(
        in_channels=192,
        share_conv_channel=32,
        bbox_coder=dict(voxel_size=voxel_size[:2])),
    loss_consistency=dict(
        voxel_size=voxel_size, class_mean_sizes=class_mean_size),
    train_cfg=dict(pts=dict(grid_size=[256, 256, 1], voxel_size=voxel_size)),
    test_cfg=dict(pts=dict(voxel_size=voxel_size[:2])))

# the two-view pipeline with the embedded set's loader and GT database
branch = _base_.train_pipeline[-1]
train_pipeline = load_points + _base_.train_pipeline[2:-1] + [
    dict(branch,
         strong=[
             dict(t, db_sampler=db_sampler) if t['type'] == 'ObjectSample'
             else t for t in branch['strong']
         ])
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        dataset=dict(
            data_root=data_root, metainfo=metainfo,
            pipeline=train_pipeline)))
