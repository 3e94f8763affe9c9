# centerpoint_pillar02_nus-r05-box.py on the embedded nuScenes-layout set:
#   python tools/dataset_converters/make_synthetic_nuscenes.py \
#       data/synthetic_nuscenes --num-samples-per-scene 10
#   python tools/dataset_converters/create_nuscenes_infos.py \
#       data/synthetic_nuscenes --version v1.0-mini
#   python tools/point_detr3d/make_point_split.py \
#       data/synthetic_nuscenes/nuscenes_infos_train.pkl --ratio 0.05 \
#       --dbinfos data/synthetic_nuscenes/nuscenes_dbinfos_train.pkl \
#       --out-dir data/synthetic_nuscenes
# Same readers, converter, split and metric as nuScenes; the root, the
# devkit version (v1.0-mini tables), the missing sweeps and the CPU size
# differ: 0.4 m pillars (a 256 x 256 grid over the same +-51.2 m) and a
# narrower SECOND / SECONDFPN (the full pillar-0.2 model takes about 30 s
# per batch of 2 on 2 CPU cores).
_base_ = ['./centerpoint_pillar02_nus-r05-box.py']

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
model = dict(
    data_preprocessor=dict(
        voxel_layer=dict(voxel_size=voxel_size, max_voxels=(16000, 20000))),
    pts_voxel_encoder=dict(feat_channels=[32], voxel_size=voxel_size),
    pts_middle_encoder=dict(in_channels=32, output_shape=(256, 256)),
    pts_backbone=dict(
        in_channels=32, out_channels=[32, 64, 128], layer_nums=[1, 2, 2]),
    pts_neck=dict(in_channels=[32, 64, 128], out_channels=[64, 64, 64]),
    pts_bbox_head=dict(
        in_channels=192,
        share_conv_channel=32,
        bbox_coder=dict(voxel_size=voxel_size[:2])),
    train_cfg=dict(pts=dict(grid_size=[256, 256, 1], voxel_size=voxel_size)),
    test_cfg=dict(pts=dict(voxel_size=voxel_size[:2])))

train_pipeline = load_points + [
    dict(t, db_sampler=db_sampler) if t['type'] == 'ObjectSample' else t
    for t in _base_.train_pipeline[2:]
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        dataset=dict(
            data_root=data_root, metainfo=metainfo,
            pipeline=train_pipeline)))
