# point-detr3d_pillar02_nus-r05.py (the teacher) on the embedded
# nuScenes-layout set, with the LiDAR branch at the CPU size of
# centerpoint_pillar02_synthetic-nus-r05-box.py (same module shapes, so that
# checkpoint initialises it) and the labelled split's own class-mean sizes.
_base_ = ['./point-detr3d_pillar02_nus-r05.py']

# --- embedded data (the same block in every *_synthetic-nus-* config) ---
data_root = 'data/synthetic_nuscenes/'
metainfo = dict(classes=_base_.class_names, version='v1.0-mini')
load_points = _base_.load_points[:1]  # keyframes only, no sweeps
db_sampler = dict(
    _base_.db_sampler,
    data_root=data_root,
    info_path=data_root + _base_.dbinfos_labelled)
val_evaluator = dict(
    data_root=data_root, ann_file=data_root + 'nuscenes_infos_val.pkl')
test_evaluator = val_evaluator
# --- CPU size (the same LiDAR branch in every *_synthetic-nus-* config) ---
voxel_size = [0.4, 0.4, 8]
# class-mean (l, w, h) of the embedded set's 5% labelled split, the spec's
# default (class_mean_size in make_point_split.py's summary,
# nuscenes_infos_train_r05_split.json)
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
        voxel_layer=dict(voxel_size=voxel_size, max_voxels=(16000, 20000))),
    pts_voxel_encoder=dict(feat_channels=[32], voxel_size=voxel_size),
    pts_middle_encoder=dict(in_channels=32, output_shape=(256, 256)),
    pts_backbone=dict(
        in_channels=32, out_channels=[32, 64, 128], layer_nums=[1, 2, 2]),
    pts_neck=dict(in_channels=[32, 64, 128], out_channels=[64, 64, 64]),
    pts_bbox_head=dict(
        in_channels=192, embed_dims=128, ffn_channels=256,
        class_mean_size=class_mean_size))

train_pipeline = load_points + [
    dict(t, db_sampler=db_sampler) if t['type'] == 'ObjectSample' else t
    for t in _base_.train_pipeline[2:]
]
teacher_test_pipeline = load_points + _base_.teacher_test_pipeline[2:]
pseudo_label_pipeline = load_points + _base_.pseudo_label_pipeline[2:]
# the teacher's 500 warm-up iterations (8 GPUs x 1 sample on nuScenes)
# would outlast the embedded set's short schedule
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0,
         end=50),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0,
         end=_base_.max_epochs, T_max=_base_.max_epochs, eta_min_ratio=1e-3,
         convert_to_iter_based=True),
]
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root, metainfo=metainfo,
        pipeline=teacher_test_pipeline))
test_dataloader = val_dataloader
pseudo_label_dataloader = dict(
    num_workers=0,
    dataset=dict(
        data_root=data_root, metainfo=metainfo,
        pipeline=pseudo_label_pipeline))
