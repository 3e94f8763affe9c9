# Copyright (c) mmweak contributors.
"""DTMR's triad matching and reconstruction head (Sun et al., "Discriminative
Triad Matching and Reconstruction for Weakly Referring Expression
Grounding", TPAMI 2021, arXiv 2106.04053, sections 3.2-3.3)."""
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.structures import InstanceData

from mmweak.registry import MODELS


class FactorisedScorer(nn.Module):
    """``MLP([query; f_1; ...; f_k])`` = Linear-ReLU-Linear-ReLU-Linear(->1)
    with the first Linear split into one block per input, so that a score
    over a grid of candidates is a broadcast sum of per-candidate terms
    (exactly the MLP on the concatenation, without building it).

    Args:
        query_dim (int): Query size.
        feat_dims (list[int]): Sizes of the feature parts.
        hidden (int): Hidden width. Defaults to 512.
    """

    def __init__(self, query_dim: int, feat_dims: List[int],
                 hidden: int = 512) -> None:
        super().__init__()
        self.query = nn.Linear(query_dim, hidden)
        self.feats = nn.ModuleList(
            nn.Linear(d, hidden, bias=False) for d in feat_dims)
        self.mlp = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, 1))

    def first_layer(self) -> nn.Linear:
        """The equivalent ``Linear(query + sum(feats) -> hidden)``."""
        w = torch.cat([self.query.weight] + [f.weight for f in self.feats],
                      dim=1)
        lin = nn.Linear(w.shape[1], w.shape[0])
        lin.weight.data.copy_(w)
        lin.bias.data.copy_(self.query.bias)
        return lin

    def score(self, pre: torch.Tensor) -> torch.Tensor:
        """Scores from summed first-layer terms (..., hidden) -> (...)."""
        return self.mlp(pre).squeeze(-1)


def _mlp(in_dim: int, out_dim: int) -> nn.Sequential:
    """``in -> 1024 -> 512 -> out``, ReLU between, linear output."""
    return nn.Sequential(nn.Linear(in_dim, 1024), nn.ReLU(),
                         nn.Linear(1024, 512), nn.ReLU(),
                         nn.Linear(512, out_dim))


@MODELS.register_module()
class TriadHead(BaseModule):
    """Triad matching (three scorers) and reconstruction (three MSE losses).

    For an image with N candidates (visual feature ``v_i``, location
    ``l_i``) and an expression with triad words (subject, relation,
    object), all scores live on the N x N grid of ordered pairs (i, j)
    (i = subject candidate, j = object candidate, i = j allowed):

    - ``s_sub(i) = MLP_so([q_sub; v_i])`` with the query
      ``q_sub = 0.1 e(subject) + 0.9 e(category)``;
    - ``s_obj(j) = MLP_so([e(object); v_j])`` (the **same** MLP);
    - ``s_pair(i, j) = MLP_p([q_sub; e(object); e(relation); v_i; l_i; v_j;
      l_j])``, all N^2 pairs of all expressions in one batched computation;
    - inference ``S(i, j) = 2 s_sub(i) + s_obj(j) + s_pair(i, j)``, the
      prediction is candidate ``i*`` of ``argmax S`` (eq. 12).

    Reconstruction (eqs. 9-11) pools the features with the scores over the
    grid, ``f_sub = sum_ij a_sub(i,j) v_i`` (and ``f_obj``, ``f_pair`` with
    ``p_ij = [v_i; l_i; v_j; l_j]``), and regresses the **frozen** word
    vectors: ``L_sub = MSE(visual_emb(f_sub), e(category))``, ``L_obj =
    MSE(visual_emb(f_obj), e(object))``, ``L_rel = MSE(pair_emb(f_pair),
    e(relation))``. ``attn_norm='raw'`` uses the raw scores as weights (the
    released code; ``s_sub(i, j)`` repeats over j, so ``f_sub = N sum_i
    s_sub(i) v_i``); ``'softmax'`` normalises each score map over the valid
    grid first (numerically safer). ``subject_only=True`` keeps the subject
    scorer and ``L_sub`` alone (the ablation without relation, object and
    pair scorer).

    Visual features come in as the cached mean of the L2-normalised RoI
    cells and are multiplied by a learnable scale (init 20); locations are
    ``[x1/W, y1/H, x2/W, y2/H, wh/WH]``, L2-normalised, scaled (init 20),
    then ``Linear(5 -> loc_dim)``.

    Args:
        vis_dim (int): Visual feature size. Defaults to 2048.
        word_dim (int): Word vector size. Defaults to 300.
        loc_dim (int): Location embedding size. Defaults to 512.
        hidden (int): Scorer width. Defaults to 512.
        attn_norm (str): ``'raw'`` or ``'softmax'``. Defaults to 'raw'.
        subject_only (bool): The subject-only ablation. Defaults to False.
        sub_fuse (float): Weight of ``e(subject)`` in ``q_sub`` (the
            category gets ``1 - sub_fuse``). Defaults to 0.1.
        inference_weights (tuple[float]): Weights of ``s_sub``, ``s_obj``,
            ``s_pair`` in ``S``. Defaults to (2, 1, 1).
        loss_weights (tuple[float]): Weights of ``loss_sub``, ``loss_obj``,
            ``loss_rel``. Defaults to (1, 1, 1).
        scale_init (float): Initial feature / location scales. Defaults to
            20.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 vis_dim: int = 2048,
                 word_dim: int = 300,
                 loc_dim: int = 512,
                 hidden: int = 512,
                 attn_norm: str = 'raw',
                 subject_only: bool = False,
                 sub_fuse: float = 0.1,
                 inference_weights=(2., 1., 1.),
                 loss_weights=(1., 1., 1.),
                 scale_init: float = 20.,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if attn_norm not in ('raw', 'softmax'):
            raise ValueError(f"attn_norm must be 'raw' or 'softmax', got "
                             f'{attn_norm!r}')
        self.attn_norm = attn_norm
        self.subject_only = subject_only
        self.sub_fuse = sub_fuse
        self.inference_weights = tuple(inference_weights)
        self.loss_weights = tuple(loss_weights)
        self.vis_scale = nn.Parameter(torch.tensor(float(scale_init)))
        self.subject_scorer = FactorisedScorer(word_dim, [vis_dim], hidden)
        self.visual_emb = _mlp(vis_dim, word_dim)
        if not subject_only:
            self.loc_scale = nn.Parameter(torch.tensor(float(scale_init)))
            self.loc_fc = nn.Linear(5, loc_dim)
            region = vis_dim + loc_dim
            self.pair_scorer = FactorisedScorer(3 * word_dim,
                                                [region, region], hidden)
            self.pair_emb = _mlp(2 * region, word_dim)

    # ----------------------------------------------------------- features
    def encode(self, feats: torch.Tensor, loc5: torch.Tensor) -> Dict:
        """Visual ``v`` (B, N, Dv) and region ``[v; l]`` (B, N, Dv + Dl)."""
        v = self.vis_scale * feats
        out = dict(v=v)
        if not self.subject_only:
            loc = self.loc_fc(self.loc_scale * F.normalize(loc5, dim=-1))
            out['vl'] = torch.cat([v, loc], dim=-1)
        return out

    def scores(self, enc: Dict, img_idx: torch.Tensor,
               q: Dict[str, torch.Tensor],
               valid: Optional[torch.Tensor] = None
               ) -> Dict[str, torch.Tensor]:
        """Score maps of E expressions on their images.

        Args:
            enc: :meth:`encode` output for B images (padded to N).
            img_idx: (E,) image index of each expression.
            q: ``sub`` (E, Dw) subject query, ``obj`` and ``rel`` (E, Dw).
            valid: optional (B, N) mask of real candidates: the pair MLP
                then runs on the real pairs only (padded ones score 0).

        Returns:
            dict: ``sub`` (E, N), and unless subject-only ``obj`` (E, N),
            ``pair`` (E, N, N) (rows: subject i, columns: object j).
        """
        sc = self.subject_scorer
        vis = sc.feats[0](enc['v'])[img_idx]  # (E, N, H), once per image
        out = dict(sub=sc.score(sc.query(q['sub'])[:, None] + vis))
        if self.subject_only:
            return out
        out['obj'] = sc.score(sc.query(q['obj'])[:, None] + vis)
        ps = self.pair_scorer
        a = ps.feats[0](enc['vl'])[img_idx]  # subject part (E, N, H)
        b = ps.feats[1](enc['vl'])[img_idx]  # object part (E, N, H)
        qp = ps.query(torch.cat([q['sub'], q['obj'], q['rel']], dim=-1))
        if valid is None:
            # (E, N, N, H): every ordered pair of every expression at once
            out['pair'] = ps.score(qp[:, None, None] + a[:, :, None] +
                                   b[:, None, :])
            return out
        # only the real pairs of a padded batch, still in one computation
        m = valid[img_idx]
        e, i, j = (m[:, :, None] & m[:, None, :]).nonzero(as_tuple=True)
        pair = qp.new_zeros(m.shape[0], m.shape[1], m.shape[1])
        pair[e, i, j] = ps.score(qp[e] + a[e, i] + b[e, j])
        out['pair'] = pair
        return out

    # ------------------------------------------------------------- losses
    def _weights(self, s: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Pooling weights over the valid part of a score map."""
        if self.attn_norm == 'softmax':
            flat = s.masked_fill(~valid, float('-inf')).flatten(1)
            return flat.softmax(-1).view_as(s)
        return s * valid

    def loss(self, enc: Dict, valid: torch.Tensor, img_idx: torch.Tensor,
             q: Dict, targets: Dict) -> Dict[str, torch.Tensor]:
        """The reconstruction losses (eqs. 9-11).

        Args:
            valid: (B, N) mask of real candidates.
            targets: frozen ``category``, ``obj``, ``rel`` vectors (E, Dw).
        """
        s = self.scores(enc, img_idx, q, valid)
        m = valid[img_idx]  # (E, N)
        n = m.sum(1, keepdim=True).float()
        v = enc['v'][img_idx]
        w_sub = self._weights(s['sub'], m)
        if self.attn_norm == 'raw':
            w_sub = w_sub * n  # s_sub(i, j) summed over the j of the grid
        f_sub = torch.einsum('en,end->ed', w_sub, v)
        losses = dict(loss_sub=self.loss_weights[0] * F.mse_loss(
            self.visual_emb(f_sub), targets['category']))
        if self.subject_only:
            return losses
        w_obj = self._weights(s['obj'], m)
        if self.attn_norm == 'raw':
            w_obj = w_obj * n
        f_obj = torch.einsum('en,end->ed', w_obj, v)
        pair_valid = m[:, :, None] & m[:, None, :]
        w_pair = self._weights(s['pair'], pair_valid)
        vl = enc['vl'][img_idx]
        # sum_ij w_ij [vl_i; vl_j] = [sum_i (sum_j w_ij) vl_i; sum_j (...)]
        f_pair = torch.cat([
            torch.einsum('en,end->ed', w_pair.sum(2), vl),
            torch.einsum('en,end->ed', w_pair.sum(1), vl)
        ], dim=-1)
        losses['loss_obj'] = self.loss_weights[1] * F.mse_loss(
            self.visual_emb(f_obj), targets['obj'])
        losses['loss_rel'] = self.loss_weights[2] * F.mse_loss(
            self.pair_emb(f_pair), targets['rel'])
        return losses

    # --------------------------------------------------------- prediction
    def grounding_scores(self, enc: Dict, valid: torch.Tensor,
                         img_idx: torch.Tensor, q: Dict) -> torch.Tensor:
        """``S`` (E, N, N) (subject-only: ``s_sub`` broadcast over j);
        invalid pairs are ``-inf``."""
        s = self.scores(enc, img_idx, q, valid)
        m = valid[img_idx]
        ws, wo, wp = self.inference_weights
        if self.subject_only:
            total = s['sub'][:, :, None].expand(-1, -1, m.shape[1])
        else:
            total = ws * s['sub'][:, :, None] + wo * s['obj'][:, None, :] + \
                wp * s['pair']
        pair_valid = m[:, :, None] & m[:, None, :]
        return total.masked_fill(~pair_valid, float('-inf'))

    def predict(self, enc: Dict, valid: torch.Tensor, img_idx: torch.Tensor,
                q: Dict, boxes: torch.Tensor, data_samples: list) -> list:
        """Write ``pred_instances`` (``bboxes`` (E_b, 4) of ``i*``,
        ``scores`` = ``max S``, ``indices`` i*, ``object_indices`` j*) into
        each image's data sample (expressions in metainfo order)."""
        total = self.grounding_scores(enc, valid, img_idx, q)
        n = total.shape[1]
        best, flat = total.flatten(1).max(1)
        sub_i, obj_j = flat // n, flat % n
        pred_boxes = boxes[img_idx, sub_i]
        for b, sample in enumerate(data_samples):
            sel = img_idx == b
            sample.pred_instances = InstanceData(
                bboxes=pred_boxes[sel], scores=best[sel],
                indices=sub_i[sel], object_indices=obj_j[sel])
        return data_samples
