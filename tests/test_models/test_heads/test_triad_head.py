# Copyright (c) mmweak contributors.
"""TriadHead: batched scores equal an explicit per-expression, per-pair
loop over the concatenated MLP inputs; each loss equals its formula computed
by hand (loops, no broadcasting); inference picks argmax 2 sub + obj + pair;
the subject-only ablation has no relation/object/pair parts."""
import pytest
import torch
import torch.nn.functional as F

from mmweak.models.heads import TriadHead

DV, DW, DL = 6, 4, 3


def _setup(attn_norm='softmax', subject_only=False):
    torch.manual_seed(0)
    head = TriadHead(vis_dim=DV, word_dim=DW, loc_dim=DL, hidden=8,
                     attn_norm=attn_norm, subject_only=subject_only)
    feats = torch.randn(2, 4, DV)
    loc5 = torch.rand(2, 4, 5)
    valid = torch.tensor([[True, True, True, False], [True] * 4])
    img_idx = torch.tensor([0, 1, 1])
    q = dict(sub=torch.randn(3, DW), obj=torch.randn(3, DW),
             rel=torch.randn(3, DW))
    targets = dict(category=torch.randn(3, DW), obj=torch.randn(3, DW),
                   rel=torch.randn(3, DW))
    return head, head.encode(feats, loc5), valid, img_idx, q, targets


def _loop_scores(head, enc, img_idx, q, n):
    """s_sub, s_obj, s_pair by concatenating every input explicitly."""
    sub_mlp = head.subject_scorer
    pair_mlp = head.pair_scorer
    first_s, first_p = sub_mlp.first_layer(), pair_mlp.first_layer()
    e_n = len(img_idx)
    s_sub = torch.zeros(e_n, n)
    s_obj = torch.zeros(e_n, n)
    s_pair = torch.zeros(e_n, n, n)
    for e in range(e_n):
        b = int(img_idx[e])
        for i in range(n):
            v = enc['v'][b, i]
            s_sub[e, i] = sub_mlp.mlp(first_s(torch.cat([q['sub'][e], v])))
            s_obj[e, i] = sub_mlp.mlp(first_s(torch.cat([q['obj'][e], v])))
            for j in range(n):
                x = torch.cat([q['sub'][e], q['obj'][e], q['rel'][e],
                               enc['vl'][b, i], enc['vl'][b, j]])
                s_pair[e, i, j] = pair_mlp.mlp(first_p(x))
    return s_sub, s_obj, s_pair


def test_batched_scores_equal_explicit_loop():
    head, enc, valid, img_idx, q, _ = _setup()
    with torch.no_grad():
        s = head.scores(enc, img_idx, q)
        ref = _loop_scores(head, enc, img_idx, q, 4)
    torch.testing.assert_close(s['sub'], ref[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(s['obj'], ref[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(s['pair'], ref[2], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('attn_norm', ['raw', 'softmax'])
def test_losses_equal_hand_computed(attn_norm):
    head, enc, valid, img_idx, q, targets = _setup(attn_norm)
    with torch.no_grad():
        losses = head.loss(enc, valid, img_idx, q, targets)
        s_sub, s_obj, s_pair = _loop_scores(head, enc, img_idx, q, 4)
        f_sub, f_obj, f_pair = [], [], []
        for e in range(len(img_idx)):
            b = int(img_idx[e])
            idx = [i for i in range(4) if valid[b, i]]
            grid = [(i, j) for i in idx for j in idx]
            w = {}
            for name, fn in (('sub', lambda i, j: s_sub[e, i]),
                             ('obj', lambda i, j: s_obj[e, j]),
                             ('pair', lambda i, j: s_pair[e, i, j])):
                vals = torch.stack([fn(i, j) for i, j in grid])
                if attn_norm == 'softmax':
                    vals = vals.softmax(0)
                w[name] = vals
            f_sub.append(sum(w['sub'][k] * enc['v'][b, i]
                             for k, (i, j) in enumerate(grid)))
            f_obj.append(sum(w['obj'][k] * enc['v'][b, j]
                             for k, (i, j) in enumerate(grid)))
            f_pair.append(sum(
                w['pair'][k] * torch.cat([enc['vl'][b, i], enc['vl'][b, j]])
                for k, (i, j) in enumerate(grid)))
        want_sub = F.mse_loss(head.visual_emb(torch.stack(f_sub)),
                              targets['category'])
        want_obj = F.mse_loss(head.visual_emb(torch.stack(f_obj)),
                              targets['obj'])
        want_rel = F.mse_loss(head.pair_emb(torch.stack(f_pair)),
                              targets['rel'])
    torch.testing.assert_close(losses['loss_sub'], want_sub, rtol=1e-4,
                               atol=1e-5)
    torch.testing.assert_close(losses['loss_obj'], want_obj, rtol=1e-4,
                               atol=1e-5)
    torch.testing.assert_close(losses['loss_rel'], want_rel, rtol=1e-4,
                               atol=1e-5)


def test_mse_by_hand():
    """The loss is a plain mean squared error: one known number."""
    head, enc, valid, img_idx, q, targets = _setup()
    with torch.no_grad():
        for p in head.visual_emb.parameters():
            p.zero_()
        head.visual_emb[-1].bias.fill_(1.0)  # prediction = all ones
        targets['category'] = torch.zeros(3, DW)
        targets['category'][0, 0] = 3.0  # (1-3)^2 = 4, others (1-0)^2 = 1
        losses = head.loss(enc, valid, img_idx, q, targets)
    want = (4 + (3 * DW - 1) * 1) / (3 * DW)
    assert float(losses['loss_sub']) == pytest.approx(want)


def test_inference_is_argmax_of_2sub_obj_pair():
    head, enc, valid, img_idx, q, _ = _setup()
    with torch.no_grad():
        total = head.grounding_scores(enc, valid, img_idx, q)
        s_sub, s_obj, s_pair = _loop_scores(head, enc, img_idx, q, 4)
    want = 2 * s_sub[:, :, None] + s_obj[:, None, :] + s_pair
    assert torch.isinf(total[0, 3]).all() and torch.isinf(total[0, :, 3]).all()
    torch.testing.assert_close(total[0, :3, :3], want[0, :3, :3], atol=1e-5,
                               rtol=1e-5)
    torch.testing.assert_close(total[1:], want[1:], atol=1e-5, rtol=1e-5)


def test_subject_only_has_no_pair_parts():
    head, enc, valid, img_idx, q, targets = _setup(subject_only=True)
    assert not hasattr(head, 'pair_scorer') and 'vl' not in enc
    losses = head.loss(enc, valid, img_idx, q, targets)
    assert set(losses) == {'loss_sub'}
    total = head.grounding_scores(enc, valid, img_idx, q)
    # constant over the object index j (within the valid candidates)
    assert torch.equal(total[1, :, 0], total[1, :, 3])


def test_bad_attn_norm():
    with pytest.raises(ValueError, match='attn_norm'):
        TriadHead(attn_norm='sum')
