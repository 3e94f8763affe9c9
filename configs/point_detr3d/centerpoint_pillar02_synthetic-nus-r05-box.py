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
# devkit version (v1.0-mini tables), the missing sweeps and a CPU schedule
# differ.
_base_ = ['./centerpoint_pillar02_nus-r05-box.py']

data_root = 'data/synthetic_nuscenes/'
metainfo = dict(classes=_base_.class_names, version='v1.0-mini')
# keyframes only (mmdet3d's sweep loader would pad with copies of the frame)
load_points = _base_.load_points[:1]
db_sampler = dict(
    data_root=data_root, info_path=data_root + _base_.dbinfos_labelled)
train_pipeline = load_points + _base_.train_pipeline[2:]
train_pipeline[1] = dict(type='ObjectSample', db_sampler=db_sampler)
test_pipeline = load_points + _base_.test_pipeline[2:]

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        dataset=dict(
            data_root=data_root, metainfo=metainfo,
            pipeline=train_pipeline)))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    data_root=data_root, ann_file=data_root + 'nuscenes_infos_val.pkl')
test_evaluator = val_evaluator
