# centerpoint_pillar02_nus-full.py (fully supervised, no velocity) on the
# embedded nuScenes-layout set, at the CPU size and schedule of
# centerpoint_pillar02_synthetic-nus-r05-box.py: every train sample with
# its GT boxes, GT paste from every train sample.
_base_ = ['./centerpoint_pillar02_synthetic-nus-r05-box.py']

db_sampler = dict(
    info_path=_base_.data_root + 'nuscenes_dbinfos_train.pkl')
train_pipeline = [
    dict(t, db_sampler=dict(t['db_sampler'], info_path=db_sampler['info_path']))
    if t['type'] == 'ObjectSample' else t for t in _base_.train_pipeline
]
train_dataloader = dict(
    dataset=dict(
        dataset=dict(
            ann_file='nuscenes_infos_train.pkl', pipeline=train_pipeline)))
