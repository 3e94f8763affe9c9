# DTMR on the embedded synthetic RefCOCO (make demo / run_demo.py dtmr):
# tools/dataset_converters/make_synthetic_refcoco.py writes the data,
# tools/dtmr/build_vocab_and_triads.py the train vocabulary and
# configs/dtmr/feats_c4-r50-w16_synthetic-refcoco.py the 256-d features.
# Same model as the RefCOCO configs (only vis_dim follows the features);
# its own short schedule for a 2-core CPU: Adam at lr 2e-4 (the reference
# 1.26e-5 is set for 150k iterations), 4 images per iteration, 1,500
# iterations (10 epochs of the 600 training images), validation every 300
# iterations with the best-val checkpoint kept, softmax pooling (the raw
# scores of the released code diverged in this short schedule; see README).
_base_ = ['./dtmr_c4-r101-feats_refcoco-unc.py']
data_root = 'data/synthetic_refcoco/'
feature_cache = data_root + 'feats/c4-r50-w16'
pipeline = [
    dict(type='LoadRegionFeatures', cache_dir=feature_cache),
    dict(type='PackTriadInputs'),
]
model = dict(
    word_embedding=dict(vocab=data_root + 'refcoco/vocab.json'),
    head=dict(vis_dim=256, attn_norm='softmax'))
synthetic_data = dict(
    data_root=data_root + 'refcoco',
    img_prefix='../images/train2014',
    pipeline=pipeline)
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=synthetic_data)
val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=synthetic_data)
test_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    dataset=dict(split=['val', 'testA', 'testB'], **synthetic_data))
max_iters = 1500
optim_wrapper = dict(optimizer=dict(lr=2e-4))
param_scheduler = []
train_cfg = dict(max_iters=max_iters, val_interval=300)
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=300))
randomness = dict(seed=24)
