# Copyright (c) mmweak contributors.
"""MARSEncoderDecoder (MARS Step 4, Eqs. 6-7) on a tiny mmseg
EncoderDecoder: complemented labels and certainty on a constructed case,
gradients only in the student, teacher predictions, plain checkpoints."""
import copy

import numpy as np
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.runner import load_checkpoint
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmweak.models.segmentors import MARSEncoderDecoder, complement_labels
from mmweak.registry import MODELS

C = 4  # background + 3 classes
SIZE = 32
NORM = dict(type='BN', requires_grad=True)
MEAN, STD = [100., 110., 120.], [50., 60., 70.]


def _head(in_channels, in_index, weight=1.0):
    return dict(
        type='mmseg.FCNHead',
        in_channels=in_channels,
        in_index=in_index,
        channels=8,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.,
        num_classes=C,
        norm_cfg=NORM,
        align_corners=False,
        loss_decode=dict(
            type='mmseg.CrossEntropyLoss', use_sigmoid=False,
            loss_weight=weight))


SEGMENTOR = dict(
    type='mmseg.EncoderDecoder',
    data_preprocessor=dict(
        type='mmseg.SegDataPreProcessor',
        mean=MEAN,
        std=STD,
        bgr_to_rgb=True,
        size=(SIZE, SIZE),
        pad_val=0,
        seg_pad_val=255),
    backbone=dict(
        type='mmseg.ResNetV1c',
        depth=18,
        stem_channels=8,
        base_channels=8,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=NORM,
        contract_dilation=True),
    decode_head=_head(64, 3),
    auxiliary_head=_head(32, 2, weight=0.4),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))


def _model(**kwargs) -> MARSEncoderDecoder:
    torch.manual_seed(0)
    model = MODELS.build(
        dict(type='MARSEncoderDecoder', segmentor=SEGMENTOR, **kwargs))
    model.init_weights()
    return model


def _labels() -> torch.Tensor:
    """Image 0 (tags {1}): left half background, right half 254 on top and
    class 1 below, row 0 ignored. Image 1 (tags {2, 3}): all 254 but
    column 0 (255)."""
    labels = torch.zeros(2, SIZE, SIZE, dtype=torch.long)
    labels[0, :, 16:] = 1
    labels[0, :16, 16:] = 254
    labels[0, 0] = 255
    labels[1] = 254
    labels[1, :, 0] = 255
    return labels


TAGS = ([1], [2, 3])


def _probs() -> torch.Tensor:
    """Teacher softmax: image 0 everywhere (.1, .2, .3, .4); image 1
    (.5, .1, .15, .25) on the top half, (.05, .05, .6, .3) below."""
    probs = torch.empty(2, C, SIZE, SIZE)
    probs[0] = torch.tensor([.1, .2, .3, .4])[:, None, None]
    probs[1, :, :16] = torch.tensor([.5, .1, .15, .25])[:, None, None]
    probs[1, :, 16:] = torch.tensor([.05, .05, .6, .3])[:, None, None]
    return probs


def _expected():
    """Y^co and W of the constructed case, by hand."""
    labels = _labels()
    co = labels.clone()
    weight = torch.ones(2, SIZE, SIZE)
    # image 0: teacher argmax over {0, 1}: 1 (.2 > .1), W = P(1) = .2
    co[0, :16, 16:] = 1
    weight[0, :16, 16:] = .2
    co[0, 0] = 255
    weight[0, 0] = 1.
    # image 1, top: argmax over {0, 2, 3} = 0 (.5); W = max(.15, .25)
    co[1, :16] = 0
    weight[1, :16] = .25
    # image 1, bottom: class 2 (.6); W = max(.6, .3)
    co[1, 16:] = 2
    weight[1, 16:] = .6
    co[1, :, 0] = 255
    weight[1, :, 0] = 1.
    return co, weight


def _batch(tags=TAGS, tag_field='metainfo'):
    """A data batch as a loader yields it (uint8 BGR images, packed
    samples)."""
    rng = np.random.default_rng(0)
    labels = _labels()
    inputs, samples = [], []
    for i in range(2):
        inputs.append(
            torch.from_numpy(
                rng.integers(0, 255, (3, SIZE, SIZE), dtype=np.uint8)))
        meta = dict(
            img_path=f'img{i}.jpg',
            ori_shape=(SIZE, SIZE),
            img_shape=(SIZE, SIZE))
        if tags is not None and tag_field == 'metainfo':
            meta['gt_tags'] = np.asarray(tags[i], np.int64)
        sample = SegDataSample(metainfo=meta)
        sample.gt_sem_seg = PixelData(data=labels[i:i + 1].clone())
        if tags is not None and tag_field == 'field':
            sample.gt_tags = torch.tensor(tags[i])
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _preprocessed(model, **kwargs):
    data = model.data_preprocessor(_batch(**kwargs), training=True)
    return data['inputs'], data['data_samples']


class _Spy:
    """Records the arguments of ``model.loss_wce``."""

    def __init__(self, model, monkeypatch):
        self.calls = []
        original = model.loss_wce.forward

        def forward(*args, **kwargs):
            self.calls.append((args, kwargs))
            return original(*args, **kwargs)

        monkeypatch.setattr(model.loss_wce, 'forward', forward)


# ---------------------------------------------------------------- Step 4
def test_complement_labels_by_hand():
    fg = torch.zeros(2, C, dtype=torch.bool)
    fg[0, 1] = fg[1, 2] = fg[1, 3] = True
    allowed = fg.clone()
    allowed[:, 0] = True
    probs = _probs()
    teacher = probs.masked_fill(~allowed[:, :, None, None], -1).argmax(1)
    co, weight = complement_labels(_labels(), teacher, probs, fg)
    exp_co, exp_w = _expected()
    assert torch.equal(co, exp_co)
    torch.testing.assert_close(weight, exp_w)


def test_loss_complements_254_with_the_restricted_teacher(monkeypatch):
    model = _model()
    inputs, samples = _preprocessed(model)
    monkeypatch.setattr(model, 'teacher_probs', lambda x, size: _probs())
    spy = _Spy(model, monkeypatch)
    losses = model.loss(inputs, samples)

    (logits, co), kwargs = spy.calls[0]
    exp_co, exp_w = _expected()
    assert torch.equal(co, exp_co)
    torch.testing.assert_close(kwargs['weight'], exp_w)
    assert kwargs['ignore_index'] == 255
    # the student's logits at the label size
    assert logits.shape == (2, C, SIZE, SIZE)

    # L_WCE by hand from the student's logits
    logp = logits.detach().log_softmax(1)
    valid = exp_co != 255
    picked = logp.gather(1, exp_co.clamp(max=C - 1)[:, None])[:, 0]
    wce = -(exp_w * picked)[valid].sum() / valid.sum()
    torch.testing.assert_close(losses['decode.loss_wce'], wce)

    # logged statistics: 254 share among non-255 pixels and mean W
    labels = _labels()
    n254 = (labels == 254).sum()
    share = n254 / (labels != 255).sum()
    torch.testing.assert_close(losses['mars.share_254'], share.float())
    torch.testing.assert_close(losses['mars.mean_w'],
                               exp_w[valid].mean())
    torch.testing.assert_close(losses['mars.mean_w_254'],
                               exp_w[labels == 254].mean())

    # the auxiliary head trains on Y^co; the statistics are logged only
    assert {'decode.loss_wce', 'decode.acc_seg', 'aux.loss_ce'} <= set(
        losses)
    total, log_vars = model.parse_losses(losses)
    torch.testing.assert_close(
        total, losses['decode.loss_wce'] + losses['aux.loss_ce'])
    assert 'mars.share_254' in log_vars and 'mars.mean_w' in log_vars


def test_aux_head_gets_the_complemented_label(monkeypatch):
    model = _model()
    inputs, samples = _preprocessed(model)
    monkeypatch.setattr(model, 'teacher_probs', lambda x, size: _probs())
    seen = []
    original = model.student.auxiliary_head.loss

    def aux_loss(feats, data_samples, train_cfg):
        seen.extend(s.gt_sem_seg.data[0] for s in data_samples)
        return original(feats, data_samples, train_cfg)

    monkeypatch.setattr(model.student.auxiliary_head, 'loss', aux_loss)
    model.loss(inputs, samples)
    exp_co, _ = _expected()
    assert torch.equal(torch.stack(seen), exp_co)
    # the input samples keep their 254 labels
    assert (samples[1].gt_sem_seg.data == 254).any()


def test_without_tag_restriction_the_teacher_may_pick_any_class(
        monkeypatch):
    model = _model(restrict_to_tags=False)
    inputs, samples = _preprocessed(model)
    monkeypatch.setattr(model, 'teacher_probs', lambda x, size: _probs())
    spy = _Spy(model, monkeypatch)
    model.loss(inputs, samples)
    (_, co), kwargs = spy.calls[0]
    assert torch.all(co[0, 1:16, 16:] == 3)  # .4 wins over all classes
    # W still comes from the foreground tags only
    assert torch.allclose(kwargs['weight'][0, 1:16, 16:], torch.tensor(.2))


def test_tags_from_a_data_field_and_missing_tags():
    model = _model()
    inputs, samples = _preprocessed(model, tag_field='field')
    losses = model.loss(inputs, samples)
    assert torch.isfinite(losses['decode.loss_wce'])
    inputs, samples = _preprocessed(model, tags=None)
    with pytest.raises(KeyError, match='gt_tags'):
        model.loss(inputs, samples)
    inputs, samples = _preprocessed(model, tags=([1], [4]))
    with pytest.raises(ValueError, match='outside'):
        model.loss(inputs, samples)


def test_teacher_probs_are_a_softmax_at_label_size():
    model = _model()
    inputs, _ = _preprocessed(model)
    probs = model.teacher_probs(inputs, (SIZE, SIZE))
    assert probs.shape == (2, C, SIZE, SIZE) and not probs.requires_grad
    torch.testing.assert_close(probs.sum(1), torch.ones(2, SIZE, SIZE))


# ------------------------------------------------------ student / teacher
def test_gradient_only_into_the_student_and_teacher_unchanged():
    model = _model()
    model.train()
    assert model.student.training and not model.teacher.training
    assert all(not p.requires_grad for p in model.teacher.parameters())
    teacher_before = copy.deepcopy(model.teacher.state_dict())
    inputs, samples = _preprocessed(model)
    total, _ = model.parse_losses(model.loss(inputs, samples))
    total.backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert all(p.grad is not None for p in model.student.parameters())
    model.zero_grad()
    # mmengine's default constructor with momentum and weight decay sees
    # the teacher's parameters, but they have no gradient: never stepped
    optim = build_optim_wrapper(
        model,
        dict(optimizer=dict(
            type='SGD', lr=0.1, momentum=0.9, weight_decay=0.1)))
    student_before = copy.deepcopy(model.student.state_dict())
    for _ in range(2):
        log_vars = model.train_step(_batch(), optim)
    assert torch.isfinite(log_vars['loss'])
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, teacher_before[key]), key
    changed = [
        key for key, value in model.student.state_dict().items()
        if not torch.equal(value, student_before[key])
    ]
    assert any('decode_head' in k for k in changed)
    assert any('backbone' in k for k in changed)


def test_teacher_starts_as_a_copy_of_the_student():
    model = _model()
    student = model.student.state_dict()
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, student[key]), key
    with torch.no_grad():
        model.teacher.decode_head.conv_seg.bias.add_(1.)
    model.init_weights()
    assert torch.equal(model.teacher.decode_head.conv_seg.bias,
                       model.student.decode_head.conv_seg.bias)


def test_predict_uses_the_teacher_by_default():
    model = _model()
    model.eval()
    with torch.no_grad():
        model.teacher.decode_head.conv_seg.bias.copy_(
            torch.tensor([0., 0., 100., 0.]))
    data = model.data_preprocessor(_batch(), training=False)
    results = model.predict(data['inputs'], data['data_samples'])
    assert all(torch.all(r.pred_sem_seg.data == 2) for r in results)
    out = model._forward(data['inputs'])
    torch.testing.assert_close(out,
                               model.teacher._forward(data['inputs']))
    assert model.decode_head is model.teacher.decode_head

    model.predict_on = 'student'
    results = model.predict(data['inputs'])
    assert not all(torch.all(r.pred_sem_seg.data == 2) for r in results)
    with pytest.raises(ValueError, match='predict_on'):
        _model(predict_on='ema')


def test_plain_segmentor_checkpoint_fills_both_branches(tmp_path):
    torch.manual_seed(1)
    plain_cfg = {k: v for k, v in SEGMENTOR.items()
                 if k != 'data_preprocessor'}
    plain = MODELS.build(copy.deepcopy(plain_cfg))
    with torch.no_grad():
        for p in plain.parameters():
            p.normal_()
    state = plain.state_dict()
    path = str(tmp_path / 'plain.pth')
    torch.save(dict(state_dict=state, meta=dict()), path)

    model = _model()
    load_checkpoint(model, path, map_location='cpu', strict=True)
    for branch in (model.student, model.teacher):
        for key, value in branch.state_dict().items():
            assert torch.equal(value, state[key]), key
    # branches do not share storage
    assert model.student.decode_head.conv_seg.weight.data_ptr() != \
        model.teacher.decode_head.conv_seg.weight.data_ptr()

    # torch's own loader, strict
    model = _model()
    model.load_state_dict(state, strict=True)
    assert torch.equal(model.teacher.backbone.stem[0].weight,
                       state['backbone.stem.0.weight'])

    # a state dict with the student only fills the teacher
    model = _model()
    model.load_state_dict({f'student.{k}': v for k, v in state.items()},
                          strict=True)
    assert torch.equal(model.teacher.decode_head.conv_seg.bias,
                       state['decode_head.conv_seg.bias'])

    # a full MARS state dict loads as it is
    other = _model()
    with torch.no_grad():
        other.teacher.decode_head.conv_seg.bias.fill_(7.)
    model = _model()
    model.load_state_dict(other.state_dict(), strict=True)
    assert torch.all(model.teacher.decode_head.conv_seg.bias == 7.)
    assert not torch.all(model.student.decode_head.conv_seg.bias == 7.)


# ------------------------------------------------------------------- CRF
def test_unnormalized_images_recover_the_input():
    model = _model()
    batch = _batch()
    inputs, _ = _preprocessed(model)
    imgs = model.unnormalized_images(inputs, (SIZE, SIZE))
    assert imgs.dtype == np.uint8 and imgs.shape == (2, SIZE, SIZE, 3)
    for i in range(2):
        bgr = batch['inputs'][i].permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(imgs[i], bgr[..., ::-1])  # RGB


def test_teacher_crf_keeps_labels_in_the_tag_set(monkeypatch):
    pytest.importorskip('pydensecrf')
    model = _model(teacher_crf=True)
    assert model.crf.preset == 'deeplab'
    inputs, samples = _preprocessed(model)
    monkeypatch.setattr(model, 'teacher_probs', lambda x, size: _probs())
    spy = _Spy(model, monkeypatch)
    model.loss(inputs, samples)
    (_, co), kwargs = spy.calls[0]
    # uniform teacher probabilities: the CRF keeps the restricted argmax
    exp_co, exp_w = _expected()
    assert torch.equal(co[0], exp_co[0])
    assert set(torch.unique(co[1]).tolist()) <= {0, 2, 3, 255}
    torch.testing.assert_close(kwargs['weight'], exp_w)


def test_mean_teacher_hook_on_the_model():
    from types import SimpleNamespace

    from mmweak.engine import MeanTeacherHook
    model = _model()
    with torch.no_grad():
        model.student.decode_head.conv_seg.bias.fill_(1.)
        model.teacher.decode_head.conv_seg.bias.fill_(0.)
    MeanTeacherHook(momentum=0.25).after_train_iter(
        SimpleNamespace(model=model, iter=0), 0)
    torch.testing.assert_close(model.teacher.decode_head.conv_seg.bias,
                               torch.full((C, ), 0.25))


def test_encoder_decoder_arguments_of_init_model():
    """mmseg.apis.init_model sets ``pretrained`` and ``train_cfg`` to None
    on the model config; given values reach both branches."""
    seg = copy.deepcopy(SEGMENTOR)
    seg.pop('test_cfg')
    model = MODELS.build(
        dict(type='MARSEncoderDecoder', segmentor=seg, pretrained=None,
             train_cfg=None, test_cfg=dict(mode='slide', crop_size=(16, 16),
                                           stride=(8, 8))))
    for branch in (model.student, model.teacher):
        assert branch.test_cfg.mode == 'slide'
        assert branch.train_cfg == {}
