# Copyright (c) mmweak contributors.
"""DTMR's grounder: cached region features + word vectors -> TriadHead
(Sun et al., TPAMI 2021, arXiv 2106.04053)."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel

from mmweak.registry import MODELS


def location_features(boxes: torch.Tensor,
                      img_shape: torch.Tensor) -> torch.Tensor:
    """``[x1/W, y1/H, x2/W, y2/H, w h / (W H)]`` of boxes (..., N, 4) with
    ``img_shape`` (..., 2) as (H, W) of each image."""
    h = img_shape[..., 0:1].float()
    w = img_shape[..., 1:2].float()
    x1, y1, x2, y2 = boxes.unbind(-1)
    area = (x2 - x1) * (y2 - y1) / (w * h)
    return torch.stack([x1 / w, y1 / h, x2 / w, y2 / h, area], dim=-1)


@MODELS.register_module()
class TriadGrounder(BaseModel):
    """Weakly supervised referring-expression grounder (DTMR).

    Wires the pieces; the method lives in :class:`~mmweak.models.heads.
    TriadHead`. ``inputs`` are the cached region features of each image
    (list of (N_b, D) tensors, from ``LoadRegionFeatures``); the candidates
    are ``data_samples[b].gt_instances.bboxes`` and the expressions (with
    their triad words) ``data_samples[b].expressions``. A batch of images is
    padded to the largest N and all of its expressions are scored together.

    The subject query is ``0.1 e(subject) + 0.9 e(category)``; the category
    is the dataset's synonym-table mapping, else (``category_from='cosine'``
    or word vectors from a file) the most cosine-similar COCO category,
    else the subject word itself.

    Args:
        word_embedding (dict): :class:`WordEmbedding` config.
        head (dict): :class:`TriadHead` config.
        category_from (str): ``'synonyms'`` (dataset mapping, then the
            subject word) or ``'cosine'`` (nearest COCO category by frozen
            word vectors when the mapping fails). Defaults to 'synonyms'.
        data_preprocessor (dict, optional): Defaults to
            ``BaseDataPreprocessor`` (moves tensors to the device).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 word_embedding: dict,
                 head: dict,
                 category_from: str = 'synonyms',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if category_from not in ('synonyms', 'cosine'):
            raise ValueError(f"category_from must be 'synonyms' or 'cosine', "
                             f'got {category_from!r}')
        self.category_from = category_from
        self.word_embedding = MODELS.build(word_embedding)
        self.head = MODELS.build(head)

    # ----------------------------------------------------------- batching
    def _batch(self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]],
               data_samples: list) -> Tuple[Dict, torch.Tensor, torch.Tensor,
                                            torch.Tensor, Dict, Dict]:
        feats = list(inputs)
        num = [f.shape[0] for f in feats]
        b, n = len(feats), max(num)
        device = feats[0].device
        padded = feats[0].new_zeros(b, n, feats[0].shape[-1])
        boxes = feats[0].new_zeros(b, n, 4)
        valid = torch.zeros(b, n, dtype=torch.bool, device=device)
        shapes = torch.tensor([s.metainfo['img_shape'][:2]
                               for s in data_samples], device=device)
        for k, (f, s) in enumerate(zip(feats, data_samples)):
            padded[k, :num[k]] = f
            boxes[k, :num[k]] = s.gt_instances.bboxes.to(device)
            valid[k, :num[k]] = True
        enc = self.head.encode(
            padded, location_features(boxes, shapes))

        # words of every expression of the batch (plain lookups)
        exprs = [(k, e) for k, s in enumerate(data_samples)
                 for e in s.metainfo['expressions']]
        if not exprs:
            raise ValueError('a batch without expressions: check the '
                             'dataset split')
        img_idx = torch.tensor([k for k, _ in exprs], device=device)
        emb = self.word_embedding
        sub = emb.ids([e['subject'] for _, e in exprs])
        rel = emb.ids([e['relation'] for _, e in exprs])
        obj = emb.ids([e['object'] for _, e in exprs])
        cat = torch.tensor([
            emb.category_index.get(e.get('category'), -1) for _, e in exprs
        ], device=device)
        if self.category_from == 'cosine':
            cat = torch.where(cat >= 0, cat, emb.nearest_category(sub))
        known = (cat >= 0)[:, None]
        cat = cat.clamp(min=0)
        e_sub = emb.inputs(sub)
        e_cat = emb.category_vectors()[cat]
        fuse = self.head.sub_fuse
        q = dict(
            sub=torch.where(known, fuse * e_sub + (1 - fuse) * e_cat, e_sub),
            obj=emb.inputs(obj),
            rel=emb.inputs(rel))
        t_cat = emb.category_vectors(target=True)[cat]
        targets = dict(
            category=torch.where(known, t_cat,
                                 torch.nn.functional.embedding(
                                     sub, emb.targets)),
            obj=torch.nn.functional.embedding(obj, emb.targets),
            rel=torch.nn.functional.embedding(rel, emb.targets))
        return enc, valid, img_idx, boxes, q, targets

    def forward(self,
                inputs: Union[torch.Tensor, List[torch.Tensor]],
                data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        """``loss``: dict of losses; ``predict``: data samples with
        ``pred_instances``; ``tensor``: the grounding scores (E, N, N)."""
        enc, valid, img_idx, boxes, q, targets = self._batch(
            inputs, data_samples)
        if mode == 'loss':
            return self.head.loss(enc, valid, img_idx, q, targets)
        if mode == 'predict':
            return self.head.predict(enc, valid, img_idx, q, boxes,
                                     data_samples)
        if mode == 'tensor':
            return self.head.grounding_scores(enc, valid, img_idx, q)
        raise RuntimeError(f'Invalid mode "{mode}".')
