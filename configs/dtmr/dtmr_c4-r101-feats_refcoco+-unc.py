# DTMR on RefCOCO+ (UNC splits); as the RefCOCO config with its own files.
_base_ = ['./dtmr_c4-r101-feats_refcoco-unc.py']
data_root = 'data/refcoco+/'
feature_cache = data_root + 'feats/c4-r101'
pipeline = [
    dict(type='LoadRegionFeatures', cache_dir=feature_cache),
    dict(type='PackTriadInputs'),
]
model = dict(word_embedding=dict(vocab=data_root + 'vocab.json'))
train_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=pipeline))
test_dataloader = dict(dataset=dict(data_root=data_root, pipeline=pipeline))
