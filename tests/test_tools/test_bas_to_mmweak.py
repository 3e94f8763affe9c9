# Copyright (c) mmweak contributors.
"""tools/model_converters/bas_to_mmweak.py: checkpoints of the BAS reference
code (wpy1999/BAS, wpy1999/BAS-Extension) to mmweak BAS models.

The released weights cannot be downloaded here, so every checkpoint is
synthetic: random values under the reference key names. Where the reference
reuses torchvision's layout (ResNet-50, InceptionV3) the names come from
torchvision's modules; VGG16 names its convolutions ``conv<s>_<j>`` and
MobileNetV1 keeps its layers in ``model.<i>.<j>``. The heads are
``classifier_cls`` (3x3, ReLU, 3x3, ReLU, 1x1) and ``classifier_loc``
(3x3 + Sigmoid). The parity tests run the same weights through
independently built trunks (torchvision modules modified as the reference
and shared/specs/bas.md section 2 describe) and through the converted mmweak
model, and compare X_mid, the generator maps and the logits.
"""
import os
import os.path as osp
import subprocess
import types
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from mmweak.registry import MODELS
from mmweak.testing import load_tool_script

ARCHS = ('vgg16', 'resnet50', 'inceptionv3', 'mobilenetv1')
K = 6  # classes of the synthetic checkpoints
VGG16_NAMES = [
    f'conv{s}_{j}' for s, n in enumerate((2, 2, 3, 3, 3), 1)
    for j in range(1, n + 1)
]
# (in, out, stride) of the 13 depthwise-separable layers of the reference
# MobileNetV1: the 256 -> 512 layer runs at stride 1
MOBILENET_DW = ((32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2),
                (256, 256, 1), (256, 512, 1), (512, 512, 1), (512, 512, 1),
                (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 1024, 2),
                (1024, 1024, 1))


@pytest.fixture(scope='module')
def tool(repo_root):
    return load_tool_script(repo_root,
                            'tools/model_converters/bas_to_mmweak.py')


# --------------------------------------------------------------------------
# independent reference trunks
def _randomise(module: nn.Module) -> None:
    """He-initialised convolutions (activations of order 1 through the
    trunk) and random batch-norm parameters and statistics."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
            if m.bias is not None:
                m.bias.data.normal_(0, 0.1)
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.num_batches_tracked.fill_(int(torch.randint(1, 999, ())))


def _resnet50():
    """torchvision ResNet-50 with layer3 and layer4 at stride 1."""
    net = torchvision.models.resnet50()
    for layer in (net.layer3, net.layer4):
        layer[0].conv2.stride = (1, 1)
        layer[0].downsample[0].stride = (1, 1)

    def mid(x):
        x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        return net.layer3(net.layer2(net.layer1(x)))

    def tail(x):
        return net.layer4(F.max_pool2d(x, kernel_size=2))

    state = OrderedDict(
        (k, v) for k, v in net.state_dict().items() if not k.startswith('fc.'))
    return net, mid, tail, state, 1024, 2048, 64


def _vgg16():
    """torchvision VGG16 features: conv4_3 + ReLU is X_mid, pool4 and the
    conv5 block the tail (no pool5)."""
    features = torchvision.models.vgg.make_layers(
        torchvision.models.vgg.cfgs['D'])
    convs = [m for m in features if isinstance(m, nn.Conv2d)]
    state = OrderedDict()
    for name, conv in zip(VGG16_NAMES, convs):
        state[f'{name}.weight'] = conv.weight.data
        state[f'{name}.bias'] = conv.bias.data
    return (features, features[:23], features[23:30], state, 512, 512, 32)


def _inception_b_stride1(self, x):
    """Mixed_6a as in BAS: the reduction block at stride 1."""
    branch3x3 = self.branch3x3(x)
    dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
    pool = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
    return torch.cat([branch3x3, dbl, pool], 1)


def _inception_d_padded(self, x):
    """Mixed_7a as in BAS: stride-2 reduction with padding 1."""
    branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
    b7 = self.branch7x7x3_1(x)
    b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(b7)))
    pool = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
    return torch.cat([branch3x3, b7, pool], 1)


def _inceptionv3():
    """torchvision InceptionV3 with the BAS modifications (spec section 2):
    Conv2d_1a padding 1, padded ceil-mode stem pools, Mixed_6a at stride 1,
    Mixed_7a padded."""
    net = torchvision.models.inception_v3(
        weights=None, aux_logits=False, init_weights=False)
    net.Conv2d_1a_3x3.conv.padding = (1, 1)
    for name in ('branch3x3', 'branch3x3dbl_3'):
        conv = getattr(net.Mixed_6a, name).conv
        conv.stride, conv.padding = (1, 1), (1, 1)
    for name in ('branch3x3_2', 'branch7x7x3_4'):
        getattr(net.Mixed_7a, name).conv.padding = (1, 1)
    net.Mixed_6a.forward = types.MethodType(_inception_b_stride1,
                                            net.Mixed_6a)
    net.Mixed_7a.forward = types.MethodType(_inception_d_padded,
                                            net.Mixed_7a)

    def pool(x):
        return F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True)

    def mid(x):
        x = net.Conv2d_2b_3x3(net.Conv2d_2a_3x3(net.Conv2d_1a_3x3(x)))
        x = pool(net.Conv2d_4a_3x3(net.Conv2d_3b_1x1(pool(x))))
        x = net.Mixed_5d(net.Mixed_5c(net.Mixed_5b(x)))
        x = net.Mixed_6a(x)
        return net.Mixed_6e(net.Mixed_6d(net.Mixed_6c(net.Mixed_6b(x))))

    def tail(x):
        return net.Mixed_7c(net.Mixed_7b(net.Mixed_7a(x)))

    state = OrderedDict(
        (k, v) for k, v in net.state_dict().items() if not k.startswith('fc.'))
    return net, mid, tail, state, 768, 2048, 64


def _mobilenetv1():
    """The ReLU MobileNetV1 of BAS: conv-BN-ReLU, then 13 depthwise /
    pointwise pairs; X_mid is the output of all but the last two layers."""
    layers = [
        nn.Sequential(
            nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32),
            nn.ReLU(inplace=True))
    ]
    for cin, cout, stride in MOBILENET_DW:
        layers.append(
            nn.Sequential(
                nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
                nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
                nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True)))
    trunk = nn.Sequential(*layers)
    state = OrderedDict(
        (f'model.{k}', v) for k, v in trunk.state_dict().items())
    return trunk, trunk[:-2], trunk[-2:], state, 512, 1024, 32


BUILDERS = dict(
    resnet50=_resnet50,
    vgg16=_vgg16,
    inceptionv3=_inceptionv3,
    mobilenetv1=_mobilenetv1)


def build_reference(arch, num_classes=K):
    torch.manual_seed(ARCHS.index(arch))
    trunk, mid, tail, state, c_mid, c_last, size = BUILDERS[arch]()
    _randomise(trunk)
    cls = nn.Sequential(
        nn.Conv2d(c_last, 1024, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(1024, 1024, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(1024, num_classes, 1))
    loc = nn.Sequential(nn.Conv2d(c_mid, num_classes, 3, padding=1),
                        nn.Sigmoid())
    for m in (*cls, *loc):
        if isinstance(m, nn.Conv2d):
            m.bias.data.normal_(0, 0.1)
    state = OrderedDict(state)
    state.update((f'classifier_cls.{k}', v)
                 for k, v in cls.state_dict().items())
    state.update((f'classifier_loc.{k}', v)
                 for k, v in loc.state_dict().items())
    for module in (trunk, cls, loc):
        module.eval()
    return types.SimpleNamespace(
        mid=mid, tail=tail, cls=cls, loc=loc, state=state, size=size)


@pytest.fixture(scope='module')
def reference():
    cache = {}

    def get(arch):
        if arch not in cache:
            cache[arch] = build_reference(arch)
        return cache[arch]

    yield get
    cache.clear()


def build_mmweak(repo_root, arch, num_classes=K, variant='cub'):
    cfg = Config.fromfile(
        osp.join(repo_root, 'configs', 'bas', f'bas_{arch}_{variant}.py'))
    cfg.model.backbone.init_cfg = None
    cfg.model.head.num_classes = num_classes
    cfg.model.data_preprocessor.num_classes = num_classes
    return MODELS.build(cfg.model).eval()


@pytest.fixture(scope='module')
def mmweak_model(repo_root):
    cache = {}

    def get(arch):
        if arch not in cache:
            cache[arch] = build_mmweak(repo_root, arch)
        return cache[arch]

    yield get
    cache.clear()


def expected_source_key(arch, key, vgg_convs):
    """Reference name of an mmweak key, written out for the test."""
    if key.startswith('head.'):
        return key[len('head.'):]
    name = key[len('backbone.'):]
    if arch in ('resnet50', 'inceptionv3'):
        return name
    if arch == 'mobilenetv1':
        return 'model.' + name[len('layers.'):]
    module, param = name.rsplit('.', 1)
    return f'{vgg_convs[module]}.{param}'


@pytest.fixture
def one_thread():
    """Single-threaded CPU kernels: the small forwards are several times
    faster than with contended OpenMP threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --------------------------------------------------------------------------
@pytest.mark.parametrize('arch', ARCHS)
def test_converted_weights_reproduce_the_reference(arch, tool, reference,
                                                   mmweak_model, one_thread):
    ref = reference(arch)
    model = mmweak_model(arch)
    out = tool.convert(ref.state, arch, target=model.state_dict())
    model.load_state_dict(out['state_dict'], strict=True)
    assert out['meta']['num_classes'] == K
    assert out['meta']['dropped_keys'] == []

    # every tensor is the source tensor of the expected reference name
    conv_modules = [
        k[len('backbone.'):-len('.weight')]
        for k in model.state_dict()
        if k.startswith('backbone.features.') and k.endswith('.conv.weight')
    ]
    vgg_convs = dict(zip(conv_modules, VGG16_NAMES))
    used = set()
    for key, value in model.state_dict().items():
        name = expected_source_key(arch, key, vgg_convs)
        assert torch.equal(value, ref.state[name]), (key, name)
        used.add(name)
    assert used == set(ref.state)

    # same outputs as the independently built reference network
    torch.manual_seed(1)
    x = torch.randn(2, 3, ref.size, ref.size)
    with torch.no_grad():
        ref_mid = ref.mid(x)
        ref_logits = ref.cls(ref.tail(ref_mid)).mean(dim=(2, 3))
        ref_maps = ref.loc(ref_mid)
        x_mid, _ = model.extract_feat(x)
        logits = model(x, mode='tensor')
        maps = model.head.classifier_loc(x_mid)
    pairs = ((x_mid, ref_mid), (logits, ref_logits), (maps, ref_maps))
    for got, want in pairs:
        assert torch.isfinite(want).all() and want.std() > 1e-3
        assert got.shape == want.shape
        scale = want.abs().max().item()
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6 * scale)


# the persistent erase-branch copies of the CVPR ILSVRC models
def _with_ilsvrc_copies(arch, state):
    copies = OrderedDict()
    for key, value in state.items():
        if key.startswith('classifier_cls.'):
            copies['classifier_cls_copy.' + key[15:]] = value.clone()
        if arch == 'resnet50' and key.startswith('layer4.'):
            copies['layer4_copy.' + key[7:]] = value.clone()
        if arch == 'vgg16' and key.startswith('conv5_'):
            copies['conv_copy_5_' + key[6:]] = value.clone()
        if arch == 'inceptionv3' and key.startswith('Mixed_7'):
            copies[key[:8] + '_copy' + key[8:]] = value.clone()
        if arch == 'mobilenetv1' and key.startswith(('model.12.',
                                                     'model.13.')):
            layer, rest = key[6:].split('.', 1)
            copies[f'erase_branch.{int(layer) - 12}.{rest}'] = value.clone()
    out = OrderedDict(state)
    out.update(copies)
    return out, list(copies)


@pytest.mark.parametrize('arch', ARCHS)
def test_cvpr_ilsvrc_layout_drops_the_copies(arch, tool, reference,
                                             mmweak_model):
    """DataParallel ``module.`` prefix and ``*_copy`` modules."""
    ref = reference(arch)
    model = mmweak_model(arch)
    state, copies = _with_ilsvrc_copies(arch, ref.state)
    assert copies
    src = OrderedDict(('module.' + k, v) for k, v in state.items())
    out = tool.convert(src, arch, target=model.state_dict())
    plain = tool.convert(ref.state, arch, target=model.state_dict())
    assert sorted(out['meta']['dropped_keys']) == sorted(copies)
    assert out['meta']['source_module_prefix'] is True
    assert list(out['state_dict']) == list(plain['state_dict'])
    for key, value in plain['state_dict'].items():
        assert torch.equal(out['state_dict'][key], value), key


@pytest.mark.parametrize('wrapper', ['plain', 'state_dict', 'module',
                                     'model+module', 'state_dict+module'])
def test_wrapped_checkpoints_convert(wrapper, tool, reference, mmweak_model):
    ref = reference('mobilenetv1')
    model = mmweak_model('mobilenetv1')
    state = ref.state
    if 'module' in wrapper:
        state = OrderedDict(('module.' + k, v) for k, v in state.items())
    if wrapper.startswith('state_dict'):
        src = {'state_dict': state, 'meta': {'epoch': 99}}
    elif wrapper.startswith('model'):
        src = {'model': state, 'best_thr': 0.1, 'epoch': 120}
    else:
        src = state
    out = tool.convert(src, 'mobilenetv1', target=model.state_dict())
    model.load_state_dict(out['state_dict'], strict=True)
    assert torch.equal(model.state_dict()['backbone.layers.13.4.running_var'],
                       ref.state['model.13.4.running_var'])
    meta = out['meta']
    assert meta['source_module_prefix'] is ('module' in wrapper)
    if wrapper.startswith('model'):
        assert meta['source_wrapper'] == 'model'
        assert meta['source_extra'] == {'best_thr': 0.1, 'epoch': 120}


def test_inception_cub_head_named_classifier(tool, reference, mmweak_model):
    """The CVPR CUB InceptionV3 calls its head ``classifier``."""
    ref = reference('inceptionv3')
    model = mmweak_model('inceptionv3')
    src = OrderedDict(
        (('classifier.' + k[len('classifier_cls.'):]) if k.startswith(
            'classifier_cls.') else k, v) for k, v in ref.state.items())
    out = tool.convert(src, 'inceptionv3', target=model.state_dict())
    assert out['meta']['source_head'] == 'classifier'
    assert torch.equal(out['state_dict']['head.classifier_cls.4.weight'],
                       ref.state['classifier_cls.4.weight'])
    src['classifier_cls.4.bias'] = ref.state['classifier_cls.4.bias']
    with pytest.raises(ValueError, match='classifier_cls.4.bias'):
        tool.convert(src, 'inceptionv3', target=model.state_dict())


# --------------------------------------------------------------------------
@pytest.mark.parametrize('key', ['model.3.1.running_var', 'model.0.0.weight',
                                 'classifier_cls.2.bias',
                                 'classifier_cls.4.weight'])
def test_missing_key_is_named(key, tool, reference, mmweak_model):
    src = OrderedDict(reference('mobilenetv1').state)
    del src[key]
    with pytest.raises(ValueError, match=rf'missing source keys: .*{key}'):
        tool.convert(src, 'mobilenetv1',
                     target=mmweak_model('mobilenetv1').state_dict())


def test_missing_generator_is_named(tool, reference):
    src = OrderedDict(reference('mobilenetv1').state)
    del src['classifier_loc.0.weight']
    with pytest.raises(ValueError, match='classifier_loc.0.weight'):
        tool.convert(src, 'mobilenetv1')


@pytest.mark.parametrize('key', ['fc.weight', 'model.14.0.weight',
                                 'classifier_cls.6.weight',
                                 'classifier.0.weight'])
def test_unexpected_key_is_named(key, tool, reference, mmweak_model):
    src = OrderedDict(reference('mobilenetv1').state)
    src[key] = torch.zeros(3)
    with pytest.raises(ValueError, match=rf'unexpected source keys: .*{key}'):
        tool.convert(src, 'mobilenetv1',
                     target=mmweak_model('mobilenetv1').state_dict())


def test_shape_mismatch_is_named(tool, reference, mmweak_model):
    src = OrderedDict(reference('resnet50').state)
    src['layer2.1.conv2.weight'] = torch.zeros(128, 128, 1, 1)
    with pytest.raises(ValueError, match=r'shape mismatches: layer2\.1\.'
                       r'conv2\.weight \(128, 128, 1, 1\)'):
        tool.convert(src, 'resnet50',
                     target=mmweak_model('resnet50').state_dict())


def test_copy_without_original_is_rejected(tool, reference, mmweak_model):
    src = OrderedDict(reference('mobilenetv1').state)
    src['erase_branch.1.0.weight'] = torch.zeros(2, 1, 3, 3)
    with pytest.raises(ValueError, match=r'erase_branch\.1\.0\.weight'):
        tool.convert(src, 'mobilenetv1',
                     target=mmweak_model('mobilenetv1').state_dict())


def test_bad_layouts_are_rejected(tool, reference):
    state = reference('mobilenetv1').state
    mixed = OrderedDict(state)
    mixed['module.model.0.0.weight'] = mixed.pop('model.0.0.weight')
    with pytest.raises(ValueError, match='DataParallel prefix'):
        tool.convert(mixed, 'mobilenetv1')
    with pytest.raises(ValueError, match='non-tensor'):
        tool.convert({'net': state, 'epoch': 3}, 'mobilenetv1')
    with pytest.raises(ValueError, match='arch must be one of'):
        tool.convert(state, 'resnet18')


def test_missing_num_batches_tracked_are_zero_filled(tool, reference,
                                                     mmweak_model):
    src = OrderedDict((k, v) for k, v in reference('mobilenetv1').state.items()
                      if not k.endswith('num_batches_tracked'))
    model = mmweak_model('mobilenetv1')
    out = tool.convert(src, 'mobilenetv1', target=model.state_dict())
    model.load_state_dict(out['state_dict'], strict=True)
    filled = out['meta']['filled_keys']
    assert len(filled) == 27 and all(
        k.endswith('num_batches_tracked') for k in filled)
    assert out['state_dict'][filled[0]].item() == 0


# --------------------------------------------------------------------------
def test_ilsvrc_num_classes_from_the_checkpoint(tool, repo_root):
    """A 1000-class CVPR ILSVRC MobileNetV1 (copies, DataParallel), with the
    target built from the config: loads strictly into the ILSVRC config."""
    ref = build_reference('mobilenetv1', num_classes=1000)
    state, copies = _with_ilsvrc_copies('mobilenetv1', ref.state)
    src = OrderedDict(('module.' + k, v) for k, v in state.items())
    out = tool.convert(src, 'mobilenetv1')
    assert out['meta']['num_classes'] == 1000
    assert len(out['meta']['dropped_keys']) == len(copies)
    model = build_mmweak(
        repo_root, 'mobilenetv1', num_classes=1000, variant='ilsvrc_cvpr')
    model.load_state_dict(out['state_dict'], strict=True)
    assert torch.equal(model.head.classifier_loc[0].weight,
                       ref.state['classifier_loc.0.weight'])


def test_command_line(tmp_path, tool, repo_root, tool_env, python, reference,
                      mmweak_model):
    """BAS-Extension layout saved like the reference (legacy serialisation);
    the output loads with mmengine's load_checkpoint (as tools/test.py)."""
    ref = reference('mobilenetv1')
    src_path = str(tmp_path / 'epoch_120.pth.tar')
    torch.save({'model': ref.state, 'best_thr': 0, 'epoch': 120}, src_path,
               _use_new_zipfile_serialization=False)
    out_dir = tmp_path / 'out'
    dst_path = str(out_dir / 'bas_mobilenetv1_cub.pth')
    result = subprocess.run([
        python, 'tools/model_converters/bas_to_mmweak.py', src_path, dst_path,
        '--arch', 'mobilenetv1'
    ],
                            cwd=repo_root,
                            env=tool_env,
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert os.listdir(out_dir) == ['bas_mobilenetv1_cub.pth']

    saved = torch.load(dst_path, map_location='cpu', weights_only=True)
    meta = saved['meta']
    assert meta['converted_from'] == 'epoch_120.pth.tar'
    assert meta['arch'] == 'mobilenetv1' and meta['num_classes'] == K
    assert meta['source_extra'] == {'best_thr': 0, 'epoch': 120}
    assert len(meta['source_sha256']) == 64

    model = mmweak_model('mobilenetv1')
    for p in model.parameters():
        p.data.zero_()
    load_checkpoint(model, dst_path, map_location='cpu', strict=True)
    assert torch.equal(model.backbone.layers[6][3].weight,
                       ref.state['model.6.3.weight'])
