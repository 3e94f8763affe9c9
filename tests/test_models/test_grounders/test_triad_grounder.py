# Copyright (c) mmweak contributors.
"""TriadGrounder on a fixture batch: losses, predictions (one box per
expression, the argmax candidate), the location features, and frozen
reconstruction targets after an optimiser step of the whole model."""
import torch
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper

from mmweak.datasets import RefCOCOGroundingDataset
from mmweak.models.grounders import location_features
from mmweak.registry import MODELS
from mmweak.testing import make_refcoco_root, write_random_region_features


def _model(**head):
    return MODELS.build(dict(
        type='TriadGrounder',
        word_embedding=dict(type='WordEmbedding',
                            vocab=['man', 'left', 'car', 'dog'], dim=6),
        head=dict(type='TriadHead', vis_dim=5, word_dim=6, loc_dim=4,
                  hidden=8, **head)))


def _batch(tmp_path, split='train'):
    root = make_refcoco_root(str(tmp_path))
    cache = str(tmp_path / 'feats')
    write_random_region_features(cache, root['data_root'], dim=5)
    ds = RefCOCOGroundingDataset(
        split=split, pipeline=[dict(type='LoadRegionFeatures',
                                    cache_dir=cache),
                               dict(type='PackTriadInputs')], **root)
    return pseudo_collate([ds[i] for i in range(len(ds))])


def test_location_features():
    loc = location_features(torch.tensor([[[10., 20., 30., 60.]]]),
                            torch.tensor([[100, 50]]))
    torch.testing.assert_close(
        loc, torch.tensor([[[0.2, 0.2, 0.6, 0.6, 800 / 5000]]]))


def test_train_step_keeps_targets_frozen(tmp_path):
    torch.manual_seed(0)
    model = _model(attn_norm='raw')
    batch = _batch(tmp_path)
    optim = build_optim_wrapper(model, dict(
        type='OptimWrapper', optimizer=dict(type='Adam', lr=0.01),
        clip_grad=dict(type='value', clip_value=0.1)))
    targets = model.word_embedding.targets.clone()
    inputs = model.word_embedding.inputs.weight.detach().clone()
    log = model.train_step(batch, optim)
    assert set(log) >= {'loss', 'loss_sub', 'loss_obj', 'loss_rel'}
    assert torch.isfinite(log['loss'])
    assert torch.equal(model.word_embedding.targets, targets)
    assert not torch.equal(model.word_embedding.inputs.weight, inputs)


def test_predict_one_box_per_expression(tmp_path):
    model = _model(attn_norm='softmax').eval()
    batch = _batch(tmp_path)
    with torch.no_grad():
        out = model.test_step(batch)
        scores = model(model.data_preprocessor(batch)['inputs'],
                       batch['data_samples'], mode='tensor')
    assert [len(o.pred_instances) for o in out] == [3, 1]
    first = out[0].pred_instances
    flat = scores[0].flatten().argmax()
    assert int(first.indices[0]) == int(flat // scores.shape[1])
    torch.testing.assert_close(
        first.bboxes[0],
        batch['data_samples'][0].gt_instances.bboxes[first.indices[0]])
    # the padded candidate of the 2-candidate image is never chosen
    assert int(out[1].pred_instances.indices.max()) < 2
