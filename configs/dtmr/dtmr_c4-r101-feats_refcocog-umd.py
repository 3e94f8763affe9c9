# DTMR on RefCOCOg (UMD split: train / val / test).
_base_ = ['./dtmr_c4-r101-feats_refcoco-unc.py']
data_root = 'data/refcocog/'
feature_cache = data_root + 'feats/c4-r101'
pipeline = [
    dict(type='LoadRegionFeatures', cache_dir=feature_cache),
    dict(type='PackTriadInputs'),
]
model = dict(word_embedding=dict(vocab=data_root + 'vocab.json'))
train_dataloader = dict(
    dataset=dict(data_root=data_root, split_by='umd', pipeline=pipeline))
val_dataloader = dict(
    dataset=dict(data_root=data_root, split_by='umd', pipeline=pipeline))
test_dataloader = dict(
    dataset=dict(
        data_root=data_root, split_by='umd', split='test',
        pipeline=pipeline))
