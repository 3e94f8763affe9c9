# Copyright (c) mmweak contributors.
"""Vision transformer with a Spatial-Aware Token (SAT).

Wu et al., "Spatial-Aware Token for Weakly Supervised Object Localization",
ICCV 2023 (arXiv 2303.10438), Section 3.2.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import ModuleList
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones.vision_transformer import (
    TransformerEncoderLayer, VisionTransformer)
from mmpretrain.models.utils import resize_pos_embed

from mmweak.registry import MODELS

ATTN_IMPLS = ('sdpa', 'explicit')


class SATTransformerEncoderLayer(TransformerEncoderLayer):
    """A DeiT encoder layer that also computes the spatial-query map.

    The parameters and their names are those of mmpretrain's
    :class:`TransformerEncoderLayer`, so DeiT checkpoints load unchanged.
    With the spatial (loc) token as the last token, attention logits
    ``A = q k^T / sqrt(d_h)`` and the foreground probability of every key
    ``m = sigmoid(mean_heads(A[:, :, -1, :]))`` (SAT, Eq. 2), a *gated*
    layer attends with ``P = softmax(A) * m`` along the key axis, not
    renormalised (Eq. 3).

    Two exact implementations are offered:

    - ``'sdpa'``: the loc row is computed alone as ``q_loc k^T`` (O(N d)) and,
      as gating the key axis of ``softmax(A)`` equals scaling the value rows,
      ``softmax(A) diag(m) V = SDPA(q, k, m * v)``; ungated layers run plain
      fused SDPA.
    - ``'explicit'``: the full logits and probabilities are formed, as in the
      paper. Used as the reference in tests.

    Args: see :class:`TransformerEncoderLayer`.
    """

    def attention_probs(self, x: torch.Tensor,
                        gated: bool) -> Tuple[torch.Tensor, torch.Tensor]:
        """Explicit attention probabilities of the (normalised) input.

        Args:
            x (Tensor): Input of the attention, ``(B, N, D)`` (after ln1).
            gated (bool): Whether to multiply the probabilities by the map.

        Returns:
            tuple[Tensor, Tensor]: probabilities ``(B, h, N, N)`` (gated if
            requested) and the map ``m`` ``(B, N)``.
        """
        q, k, _ = self._qkv(x)
        logits = q @ k.transpose(-2, -1) * self.attn.head_dims**-0.5
        fg = logits[:, :, -1].float().mean(dim=1).sigmoid()
        probs = logits.softmax(dim=-1)
        if gated:
            probs = probs * fg[:, None, None, :].to(probs.dtype)
        return probs, fg

    def _qkv(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Queries, keys and values ``(B, h, N, d_h)``."""
        B, N, _ = x.shape
        attn = self.attn
        qkv = attn.qkv(x).reshape(B, N, 3, attn.num_heads, attn.head_dims)
        return qkv.permute(2, 0, 3, 1, 4).unbind(0)

    def _attention(self, x: torch.Tensor, gated: bool, need_map: bool,
                   impl: str) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Attention branch (before the residual) and the map ``m``."""
        attn = self.attn
        B, N, D = x.shape
        drop = attn.attn_drop if self.training else 0.
        scale = attn.head_dims**-0.5
        q, k, v = self._qkv(x)
        fg = None
        if impl == 'explicit':
            logits = q @ k.transpose(-2, -1) * scale  # (B, h, N, N)
            probs = logits.softmax(dim=-1)
            if gated or need_map:
                fg = logits[:, :, -1].float().mean(dim=1).sigmoid()
            if gated:
                probs = probs * fg[:, None, None, :].to(probs.dtype)
            probs = F.dropout(probs, p=drop, training=self.training)
            out = probs @ v
        else:
            if gated or need_map:
                # logits of the loc query only: (B, h, 1, d) x (B, h, d, N)
                loc_logits = (q[:, :, -1:] @ k.transpose(-2, -1)) * scale
                fg = loc_logits[:, :, 0].float().mean(dim=1).sigmoid()
            if gated:
                # softmax(A) diag(m) V == softmax(A) (m * V); dropout on the
                # probabilities commutes with the key-axis scaling as well.
                v = v * fg[:, None, :, None].to(v.dtype)
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        out = out.transpose(1, 2).reshape(B, N, D)
        out = attn.out_drop(attn.gamma1(attn.proj_drop(attn.proj(out))))
        return out, fg

    def forward(self,
                x: torch.Tensor,
                gated: bool = False,
                need_map: bool = False,
                impl: str = 'sdpa'
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Run the layer.

        Args:
            x (Tensor): Tokens ``(B, N, D)``, the loc token last.
            gated (bool): Gate the attention with the map. Defaults to False.
            need_map (bool): Return the map even if not gated.
                Defaults to False.
            impl (str): ``'sdpa'`` or ``'explicit'``. Defaults to ``'sdpa'``.

        Returns:
            tuple[Tensor, Tensor | None]: The output tokens and the map
            ``m`` ``(B, N)`` over all keys (None if neither gated nor
            requested).
        """
        out, fg = self._attention(self.ln1(x), gated, need_map, impl)
        x = x + out
        x = self.ffn(self.ln2(x), identity=x)
        return x, fg


@MODELS.register_module()
class SATVisionTransformer(VisionTransformer):
    """DeiT backbone with the Spatial-Aware Token of SAT.

    Wu et al., "Spatial-Aware Token for Weakly Supervised Object
    Localization", ICCV 2023 (arXiv 2303.10438). A learnable spatial token
    ``loc_token`` with its own positional embedding ``loc_embed`` is appended
    after the patch tokens (sequence ``[cls, patches, loc]``). In every layer
    its query row of the attention logits, averaged over heads and passed
    through a sigmoid, is a foreground probability of each key (Eq. 2); the
    last ``num_gated_blocks`` layers multiply their attention probabilities by
    it along the key axis (Eq. 3). Only those layers compute the map, unless
    ``return_all_maps`` asks for all of them (visualisation).

    All other parameters keep mmpretrain's :class:`VisionTransformer` names,
    so an mmpretrain DeiT checkpoint loads with only ``loc_token`` and
    ``loc_embed`` missing (see ``tools/model_converters/deit_to_sat.py`` for
    the official timm-style DeiT files).

    The forward pass returns a tuple:

    - ``(B, D, h, w)`` final-norm patch tokens as a feature map;
    - ``(B, G, h, w)`` maps of the ``G = num_gated_blocks`` gated layers,
      restricted to the patch keys (cls and loc keys dropped);
    - only with ``return_all_maps``: ``(B, L, h, w)`` maps of all ``L``
      layers.

    Args:
        arch (str | dict): ``'deit-tiny'``, ``'deit-small'``, ``'deit-base'``
            or any :class:`VisionTransformer` arch. Defaults to
            ``'deit-small'``.
        img_size (int | tuple): Input size the positional embedding is built
            for; other sizes are interpolated. Defaults to 224.
        patch_size (int): Patch size. Defaults to 16.
        num_gated_blocks (int): Number of last layers whose attention is
            gated (and whose maps are averaged into the localization map).
            Defaults to 3.
        return_all_maps (bool): Also return the maps of all layers.
            Defaults to False.
        attn_impl (str): ``'sdpa'`` (exact fast path) or ``'explicit'``
            (full attention matrix). Defaults to ``'sdpa'``.
        drop_rate (float): Dropout after the positional embedding and in the
            MLP / projection. Defaults to 0.
        drop_path_rate (float): Stochastic depth rate. Defaults to 0.1.
        qkv_bias (bool): Bias of the qkv projection. Defaults to True.
        norm_cfg (dict): Norm layer config.
            Defaults to ``dict(type='LN', eps=1e-6)``.
        interpolate_mode (str): Positional embedding interpolation.
            Defaults to ``'bicubic'``.
        layer_cfgs (dict | Sequence[dict]): Extra per-layer arguments.
            Defaults to ``dict()``.
        init_cfg (dict, optional): Initialization config, e.g.
            ``dict(type='Pretrained', checkpoint=..., prefix='backbone')``.
            Defaults to None.
        **kwargs: Other :class:`VisionTransformer` arguments (``in_channels``,
            ``frozen_stages``, ``patch_cfg``, ...). ``out_type``,
            ``out_indices``, ``final_norm`` and ``with_cls_token`` are fixed.
    """

    num_extra_tokens = 1  # leading cls token in ``pos_embed``

    def __init__(self,
                 arch: str = 'deit-small',
                 img_size: int = 224,
                 patch_size: int = 16,
                 num_gated_blocks: int = 3,
                 return_all_maps: bool = False,
                 attn_impl: str = 'sdpa',
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 qkv_bias: bool = True,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 interpolate_mode: str = 'bicubic',
                 layer_cfgs: dict = dict(),
                 init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        fixed = {'out_type', 'out_indices', 'final_norm', 'with_cls_token',
                 'pre_norm'} & set(kwargs)
        if fixed:
            raise ValueError(f'SATVisionTransformer does not accept '
                             f'{sorted(fixed)}: its outputs are fixed')
        if attn_impl not in ATTN_IMPLS:
            raise ValueError(
                f'attn_impl must be one of {ATTN_IMPLS}, got {attn_impl!r}')
        super().__init__(
            arch=arch,
            img_size=img_size,
            patch_size=patch_size,
            drop_rate=drop_rate,
            drop_path_rate=drop_path_rate,
            qkv_bias=qkv_bias,
            norm_cfg=norm_cfg,
            out_type='featmap',
            interpolate_mode=interpolate_mode,
            layer_cfgs=layer_cfgs,
            init_cfg=init_cfg,
            **kwargs)
        if not 0 <= num_gated_blocks <= self.num_layers:
            raise ValueError(f'num_gated_blocks must be in [0, '
                             f'{self.num_layers}], got {num_gated_blocks}')
        self.num_gated_blocks = num_gated_blocks
        self.return_all_maps = return_all_maps
        self.attn_impl = attn_impl

        # Rebuild the layers as SAT layers (same arguments and parameter
        # names as the parent's, which builds plain layers).
        dpr = np.linspace(0, drop_path_rate, self.num_layers)
        if isinstance(layer_cfgs, dict):
            layer_cfgs = [layer_cfgs] * self.num_layers
        self.layers = ModuleList()
        for i in range(self.num_layers):
            _layer_cfg = dict(
                embed_dims=self.embed_dims,
                num_heads=self.arch_settings['num_heads'],
                feedforward_channels=self.arch_settings[
                    'feedforward_channels'],
                layer_scale_init_value=kwargs.get('layer_scale_init_value',
                                                  0.),
                drop_rate=drop_rate,
                drop_path_rate=dpr[i],
                qkv_bias=qkv_bias,
                norm_cfg=norm_cfg)
            _layer_cfg.update(layer_cfgs[i])
            self.layers.append(SATTransformerEncoderLayer(**_layer_cfg))
        if self.frozen_stages > 0:
            self._freeze_stages()

        # the spatial-aware token and its own positional embedding
        self.loc_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        self.loc_embed = nn.Parameter(torch.zeros(1, 1, self.embed_dims))

    @property
    def gated_layer_ids(self) -> List[int]:
        """Indices of the gated layers (the last ``num_gated_blocks``)."""
        return list(
            range(self.num_layers - self.num_gated_blocks, self.num_layers))

    def init_weights(self) -> None:
        """Draw the SAT parameters from a truncated normal (std 0.02), then
        initialise as :class:`VisionTransformer` (or load the checkpoint).

        The draw comes first so that a checkpoint holding ``loc_token`` and
        ``loc_embed`` (a SAT checkpoint given through ``init_cfg``) keeps
        its values; a DeiT checkpoint has neither and leaves the draws.
        """
        trunc_normal_(self.loc_token, std=0.02)
        trunc_normal_(self.loc_embed, std=0.02)
        super().init_weights()

    def embed(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Tokens ``[cls, patches, loc]`` with positional embeddings.

        Args:
            x (Tensor): Images ``(B, C, H, W)``.

        Returns:
            tuple: tokens ``(B, 1 + h*w + 1, D)`` and the grid ``(h, w)``.
        """
        B = x.shape[0]
        x, grid = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(B, -1, -1), x], dim=1)
        # only the patch part of pos_embed is resized; cls and loc embeddings
        # are kept as they are
        x = x + resize_pos_embed(
            self.pos_embed,
            self.patch_resolution,
            grid,
            mode=self.interpolate_mode,
            num_extra_tokens=self.num_extra_tokens)
        loc = (self.loc_token + self.loc_embed).expand(B, -1, -1)
        x = torch.cat([x, loc], dim=1)
        return self.pre_norm(self.drop_after_pos(x)), grid

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Patch feature map and the maps of the gated layers (see class
        docstring)."""
        x, (h, w) = self.embed(x)
        B = x.shape[0]
        first_gated = self.num_layers - self.num_gated_blocks
        gated_maps, all_maps = [], []
        for i, layer in enumerate(self.layers):
            gated = i >= first_gated
            x, fg = layer(
                x,
                gated=gated,
                need_map=self.return_all_maps,
                impl=self.attn_impl)
            if fg is not None:
                # keep the patch keys only: drop cls (0) and loc (-1)
                fg = fg[:, 1:-1].reshape(B, h, w)
                if gated:
                    gated_maps.append(fg)
                if self.return_all_maps:
                    all_maps.append(fg)
        x = self.ln1(x)
        featmap = x[:, 1:-1].reshape(B, h, w, -1).permute(0, 3, 1, 2)
        if gated_maps:
            maps = torch.stack(gated_maps, dim=1)
        else:
            maps = x.new_zeros((B, 0, h, w))
        outs = (featmap.contiguous(), maps)
        if self.return_all_maps:
            outs = outs + (torch.stack(all_maps, dim=1), )
        return outs

    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """Layer-wise depth; the SAT token parameters belong to the stem."""
        if param_name.startswith(prefix) and param_name[len(prefix):] in (
                'loc_token', 'loc_embed'):
            return 0, self.num_layers + 2
        return super().get_layer_depth(param_name, prefix)
