# Copyright (c) mmweak contributors.
"""DTMR speed at RefCOCO scale on cached (random) features.

    python tools/benchmarks/bench_dtmr.py [--images 1500]
        [--expressions 10834] [--candidates 10] [--vis-dim 2048]
        [--batch-size 16] [--train-images 20] [--threads N]

1. **Evaluation**: the RefCOCO val split's size (10,834 expressions; 1,500
   images with 5 to 15, on average about 10, candidates each; 2048-d
   features; 300-d words; the reference head sizes) through
   ``TriadGrounder.test_step`` in batches of ``--batch-size`` images, and
   ``GroundingAccuracy``. Goal: within 30 s on 2 CPU cores.
2. **Training step**: forward + backward of the three losses for one image
   (the reference batch) at a time, averaged over ``--train-images``
   images, for the batched head and for a reference that loops over the
   expressions and, for each, over the N x N pairs, building every
   concatenated MLP input (the structure of the released code's scorers
   written per pair). Both compute the same losses (checked).
"""
import argparse
import time
from typing import List

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmweak.evaluation.metrics import GroundingAccuracy
from mmweak.registry import MODELS
from mmweak.utils import register_all_modules

WORDS = ['man', 'woman', 'car', 'dog', 'left', 'right', 'above', 'below',
         'next', 'biggest', 'chair', 'bottle']


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--images', type=int, default=1500)
    p.add_argument('--expressions', type=int, default=10834)
    p.add_argument('--candidates', type=int, default=10)
    p.add_argument('--vis-dim', type=int, default=2048)
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--train-images', type=int, default=20)
    p.add_argument('--threads', type=int, default=None)
    return p.parse_args()


def make_data(args, rng: np.random.Generator):
    """Images with random features, boxes and triads."""
    per_img = np.full(args.images, args.expressions // args.images)
    per_img[:args.expressions - per_img.sum()] += 1
    data = []
    for k in range(args.images):
        n = int(rng.integers(args.candidates - 5, args.candidates + 6))
        xy = rng.uniform(0, 400, size=(n, 2))
        wh = rng.uniform(20, 200, size=(n, 2))
        boxes = torch.tensor(np.concatenate([xy, xy + wh], 1),
                             dtype=torch.float32)
        exprs = []
        for _ in range(int(per_img[k])):
            t = int(rng.integers(n))
            exprs.append(dict(
                subject=str(rng.choice(WORDS)), relation=str(
                    rng.choice(WORDS)), object=str(rng.choice(WORDS)),
                category='person', target_index=t,
                gt_bbox=boxes[t].tolist()))
        s = DetDataSample(gt_instances=InstanceData(bboxes=boxes))
        s.set_metainfo(dict(img_shape=(640, 640), expressions=exprs))
        feats = torch.from_numpy(
            rng.normal(size=(n, args.vis_dim)).astype(np.float32) /
            np.sqrt(args.vis_dim))
        data.append((feats, s))
    return data


def loop_losses(model, feats: torch.Tensor, sample) -> torch.Tensor:
    """The three losses with per-expression, per-pair Python loops."""
    head = model.head
    enc, valid, img_idx, boxes, q, targets = model._batch([feats], [sample])
    v, vl = enc['v'][0], enc['vl'][0]
    n = v.shape[0]
    first_s = head.subject_scorer.first_layer()
    first_p = head.pair_scorer.first_layer()
    total = 0.
    for e in range(len(img_idx)):
        s_sub, s_obj, s_pair, pairs = [], [], [], []
        for i in range(n):
            for j in range(n):
                s_sub.append(head.subject_scorer.mlp(
                    first_s(torch.cat([q['sub'][e], v[i]]))))
                s_obj.append(head.subject_scorer.mlp(
                    first_s(torch.cat([q['obj'][e], v[j]]))))
                p_ij = torch.cat([vl[i], vl[j]])
                pairs.append(p_ij)
                s_pair.append(head.pair_scorer.mlp(first_p(torch.cat(
                    [q['sub'][e], q['obj'][e], q['rel'][e], p_ij]))))
        a_sub = torch.cat(s_sub)
        a_obj = torch.cat(s_obj)
        a_pair = torch.cat(s_pair)
        f_sub = sum(a_sub[k] * v[k // n] for k in range(n * n))
        f_obj = sum(a_obj[k] * v[k % n] for k in range(n * n))
        f_pair = sum(a_pair[k] * pairs[k] for k in range(n * n))
        total = total + F.mse_loss(head.visual_emb(f_sub),
                                   targets['category'][e]) + \
            F.mse_loss(head.visual_emb(f_obj), targets['obj'][e]) + \
            F.mse_loss(head.pair_emb(f_pair), targets['rel'][e])
    return total / len(img_idx)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    register_all_modules()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = MODELS.build(dict(
        type='TriadGrounder',
        word_embedding=dict(type='WordEmbedding', vocab=WORDS, dim=300),
        head=dict(type='TriadHead', vis_dim=args.vis_dim, attn_norm='raw')))
    data = make_data(args, rng)
    n_expr = sum(len(s.expressions) for _, s in data)
    n_cand = np.mean([f.shape[0] for f, _ in data])
    print(f'threads {torch.get_num_threads()}; {len(data)} images, '
          f'{n_expr} expressions, {n_cand:.1f} candidates per image, '
          f'{args.vis_dim}-d features')

    model.eval()
    metric = GroundingAccuracy()
    t0 = time.perf_counter()
    with torch.no_grad():
        for k in range(0, len(data), args.batch_size):
            chunk = data[k:k + args.batch_size]
            out = model.test_step(dict(inputs=[f for f, _ in chunk],
                                       data_samples=[s for _, s in chunk]))
            metric.process(None, [o.to_dict() for o in out])
    res = metric.compute_metrics(metric.results)
    eval_s = time.perf_counter() - t0
    print(f'evaluation: {eval_s:.1f} s for {res["num_expressions"]} '
          f'expressions (accuracy {res["acc"]:.1f}% on random features, '
          f'random choice {res["random_acc"]:.1f}%)')

    model.train()
    times: List[List[float]] = [[], []]
    for feats, sample in data[:args.train_images]:
        t = time.perf_counter()
        losses = model([feats], [sample], mode='loss')
        batched = sum(losses.values())
        batched.backward()
        times[0].append(time.perf_counter() - t)
        model.zero_grad()
        t = time.perf_counter()
        ref = loop_losses(model, feats, sample)
        ref.backward()
        times[1].append(time.perf_counter() - t)
        model.zero_grad()
        # the same quantity: the mean over expressions of the summed losses
        if not torch.allclose(ref, batched, rtol=1e-3, atol=1e-5):
            raise AssertionError(f'batched {float(batched)} != loop '
                                 f'{float(ref)}')
    fast, slow = np.mean(times[0]), np.mean(times[1])
    print(f'training step (forward + backward, one image, '
          f'{n_expr / len(data):.1f} expressions): batched '
          f'{1000 * fast:.1f} ms, per-expression per-pair loop '
          f'{1000 * slow:.1f} ms ({slow / fast:.0f}x)')


if __name__ == '__main__':
    main()
