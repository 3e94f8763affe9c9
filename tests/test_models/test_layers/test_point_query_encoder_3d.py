# Copyright (c) mmweak contributors.
import math

import pytest
import torch

from mmweak.models.layers.point_query_encoder_3d import (PointQueryEncoder3D,
                                                         sine_embed,
                                                         split_embed_dims)
from mmweak.registry import MODELS

PCR = [-12.8, -12.8, -5.0, 12.8, 12.8, 3.0]
MEAN = [[4.6, 1.9, 1.7], [0.7, 0.7, 1.7], [0.5, 2.5, 1.0]]


def _encoder(**kwargs):
    cfg = dict(
        type='mmweak.PointQueryEncoder3D',
        num_classes=3,
        embed_dims=32,
        point_cloud_range=PCR,
        class_mean_size=MEAN)
    cfg.update(kwargs)
    enc = MODELS.build(cfg)
    enc.init_weights()
    return enc


def test_split_embed_dims():
    assert split_embed_dims(256) == (86, 86, 84)
    assert split_embed_dims(32) == (12, 10, 10)
    assert sum(split_embed_dims(30)) == 30
    with pytest.raises(ValueError, match='even'):
        split_embed_dims(31)


def test_sine_embed_values():
    v = torch.tensor([[0.25, 0.5]])
    emb = sine_embed(v, (4, 2), temperature=100.)
    a = 0.25 * 2 * math.pi
    b = 0.5 * 2 * math.pi
    expected = torch.tensor([[
        math.sin(a),
        math.cos(a),
        math.sin(a / 10.),
        math.cos(a / 10.),
        math.sin(b),
        math.cos(b)
    ]])
    torch.testing.assert_close(emb, expected)


def test_query_is_sine_embedding_of_point_and_size():
    enc = _encoder()
    torch.nn.init.zeros_(enc.class_embed.weight)
    points = [torch.tensor([[0.0, 0.0, -1.0], [6.4, -12.8, 3.0]])]
    labels = [torch.tensor([2, 0])]
    out = enc(points, labels)
    ref = torch.tensor([[[0.5, 0.5, 0.5], [0.75, 0.0, 1.0]]])
    torch.testing.assert_close(out['reference_points'], ref)
    size = torch.tensor([[MEAN[2], MEAN[0]]])
    torch.testing.assert_close(out['prior_size'], size)
    dims = split_embed_dims(32)
    expected = sine_embed(ref, dims) + sine_embed(size / 16., dims)
    torch.testing.assert_close(out['query_pos'], expected)
    torch.testing.assert_close(out['query'], expected)
    assert not out['key_padding_mask'].any()
    # a non-zero class embedding is added on top of query_pos
    torch.nn.init.normal_(enc.class_embed.weight)
    out2 = enc(points, labels)
    torch.testing.assert_close(
        out2['query'] - out2['query_pos'],
        enc.class_embed.weight[labels[0]][None])


def test_compat_h_bug():
    points = [torch.zeros(2, 3)]
    labels = [torch.tensor([0, 1])]  # h != l for class 0, h > l class 1
    fixed = _encoder(compat_h_bug=False)
    buggy = _encoder(compat_h_bug=True)
    pos_fixed = fixed(points, labels)['query_pos']
    pos_buggy = buggy(points, labels)['query_pos']
    dims = split_embed_dims(32)
    ref = torch.tensor([0.5, 0.5, 0.625]).expand(1, 2, 3)  # z: 5 / 8
    size = torch.tensor([[MEAN[0], MEAN[1]]])
    bug_size = size[..., [0, 1, 0]]
    torch.testing.assert_close(
        pos_buggy, sine_embed(ref, dims) + sine_embed(bug_size / 16., dims))
    assert not torch.allclose(pos_fixed, pos_buggy)
    # the prior size itself is the true (l, w, h) either way
    torch.testing.assert_close(buggy(points, labels)['prior_size'], size)
    # only the h chunk of the size embedding changes
    h_chunk = slice(dims[0] + dims[1], None)
    torch.testing.assert_close(pos_fixed[..., :h_chunk.start],
                               pos_buggy[..., :h_chunk.start])


def test_padding_and_mask():
    enc = _encoder()
    points = [torch.rand(3, 3), torch.rand(1, 3), torch.zeros(0, 3)]
    labels = [torch.tensor([0, 1, 2]), torch.tensor([1]),
              torch.zeros(0, dtype=torch.long)]
    out = enc(points, labels)
    assert out['query'].shape == (3, 3, 32)
    expected_mask = torch.tensor([[False, False, False], [False, True, True],
                                  [True, True, True]])
    assert torch.equal(out['key_padding_mask'], expected_mask)
    assert out['num_points'].tolist() == [3, 1, 0]
    assert torch.equal(out['labels'][1], torch.tensor([1, 0, 0]))
    # each sample's queries equal those of the sample encoded alone
    alone = enc(points[1:2], labels[1:2])
    torch.testing.assert_close(out['query'][1, :1], alone['query'][0])
    # all samples empty: one masked slot
    empty = enc([torch.zeros(0, 3)], [torch.zeros(0, dtype=torch.long)])
    assert empty['key_padding_mask'].tolist() == [[True]]


def test_bad_inputs():
    enc = _encoder(num_query=2)
    with pytest.raises(ValueError, match='num_query=2'):
        enc([torch.rand(3, 3)], [torch.zeros(3, dtype=torch.long)])
    with pytest.raises(ValueError, match='labels_3d must lie'):
        enc([torch.rand(1, 3)], [torch.tensor([3])])
    with pytest.raises(ValueError, match=r'\(N, 3\)'):
        enc([torch.rand(2, 2)], [torch.zeros(2, dtype=torch.long)])
    with pytest.raises(ValueError, match='class_mean_size'):
        PointQueryEncoder3D(
            num_classes=2,
            embed_dims=32,
            point_cloud_range=PCR,
            class_mean_size=MEAN)
