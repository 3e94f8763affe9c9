# RefCOCO (UNC splits) with ground-truth candidate boxes and cached region
# features (tools/dtmr/extract_region_features.py). One image per item with
# all of its expressions of the split; one image per training iteration.
dataset_type = 'RefCOCOGroundingDataset'
data_root = 'data/refcoco/'
img_prefix = '../coco/train2014'
split_by = 'unc'
feature_cache = data_root + 'feats/c4-r101'
pipeline = [
    dict(type='LoadRegionFeatures', cache_dir=feature_cache),
    dict(type='PackTriadInputs'),
]
# the fields every split shares
refcoco_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    img_prefix=img_prefix,
    split_by=split_by,
    check_images=False,
    pipeline=pipeline)
train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(refcoco_dataset, split='train'))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(refcoco_dataset, split='val', test_mode=True))
# the test splits with the val loader's settings
test_dataloader = dict(
    val_dataloader,
    dataset=dict(val_dataloader['dataset'], split=['testA', 'testB']))
val_evaluator = dict(type='GroundingAccuracy', iou_thr=0.5)
test_evaluator = val_evaluator
