# Copyright (c) mmweak contributors.
"""Seeds: background plane + argmax over the tagged-class CAMs."""
import pytest
import torch

from mmweak.wsss import bg_boundaries, bg_plane, cams_to_label


def stacked_argmax(cams, keys, **bg):
    """The contract's definition: argmax over [bg_plane, cams] -> ids."""
    index = torch.cat([bg_plane(cams, **bg), cams]).argmax(0)
    return torch.cat(
        [torch.zeros(1, dtype=torch.long),
         torch.as_tensor(keys) + 1])[index]


def random_cams(num_keys=3, size=(9, 11), seed=0, levels=10):
    gen = torch.Generator().manual_seed(seed)
    cams = torch.rand(num_keys, *size, generator=gen)
    return (cams * levels).round() / levels  # many ties on purpose


def test_bg_plane_threshold_and_power():
    cams = random_cams()
    plane = bg_plane(cams, bg_threshold=0.3)
    assert plane.shape == (1, 9, 11) and plane.dtype == cams.dtype
    assert torch.all(plane == torch.tensor(0.3))
    power = bg_plane(cams, bg_power=2.5)
    expect = (1 - cams.amax(0, keepdim=True).double()).pow(2.5).float()
    assert torch.equal(power, expect)
    # no tagged class: the power background is 1 everywhere
    assert torch.equal(bg_plane(torch.zeros(0, 4, 5), bg_power=3.),
                       torch.ones(1, 4, 5))
    assert bg_plane(cams[None].repeat(2, 1, 1, 1),
                    bg_threshold=0.1).shape == (2, 1, 9, 11)


@pytest.mark.parametrize(
    'bg',
    [dict(), dict(bg_threshold=0.2, bg_power=2.),
     dict(bg_power=-1.)])
def test_bg_mode_must_be_one_valid_form(bg):
    with pytest.raises(ValueError, match='bg_'):
        bg_plane(random_cams(), **bg)


def test_hand_example_background_wins_ties():
    cams = torch.tensor([[[0.9, 0.3], [0.5, 0.1]], [[0.2, 0.3], [0.7, 0.4]]])
    keys = torch.tensor([3, 7])
    # t = 0.3: (0,1) ties bg = cam = 0.3 -> bg; (1,1) 0.4 > 0.3 -> key 7
    assert cams_to_label(cams, keys, bg_threshold=0.3).tolist() == \
        [[4, 0], [8, 8]]
    # a tie between classes goes to the first key
    tie = torch.tensor([[[0.6]], [[0.6]]])
    assert cams_to_label(tie, keys, bg_threshold=0.5).item() == 4
    # power 1: bg = 1 - m, so m = 0.5 is background, 0.9 foreground
    half = torch.tensor([[[0.5, 0.9]]])
    assert cams_to_label(half, [0], bg_power=1.).tolist() == [[0, 1]]


@pytest.mark.parametrize('bg', [
    dict(bg_threshold=0.3),
    dict(bg_threshold=0.5),
    dict(bg_power=1.),
    dict(bg_power=4.)
])
def test_equals_argmax_over_stacked_planes(bg):
    for seed in range(3):
        cams = random_cams(seed=seed)
        keys = [5, 0, 19]
        assert torch.equal(cams_to_label(cams, keys, **bg),
                           stacked_argmax(cams, keys, **bg))


def test_batch_and_list_keys_match_single_images():
    cams = torch.stack([random_cams(2, seed=s) for s in range(3)])
    keys = [torch.tensor([1, 4]), torch.tensor([0, 2]), torch.tensor([9, 3])]
    batch = cams_to_label(cams, keys, bg_threshold=0.4)
    assert batch.shape == (3, 9, 11) and batch.dtype == torch.long
    for i in range(3):
        assert torch.equal(batch[i],
                           cams_to_label(cams[i], keys[i], bg_threshold=0.4))
    assert torch.equal(cams_to_label(cams, torch.stack(keys), bg_power=2.),
                       cams_to_label(cams, keys, bg_power=2.))


def test_no_tags_is_all_background():
    labels = cams_to_label(torch.zeros(0, 3, 4), [], bg_threshold=0.1)
    assert labels.shape == (3, 4) and not labels.any()


def test_bad_keys_raise():
    with pytest.raises(ValueError, match='keys'):
        cams_to_label(random_cams(3), [1, 2], bg_threshold=0.2)
    with pytest.raises(ValueError, match='>= 0'):
        cams_to_label(random_cams(1), [-1], bg_threshold=0.2)
    with pytest.raises(ValueError, match='floating'):
        cams_to_label(torch.zeros(1, 2, 2, dtype=torch.long), [0],
                      bg_threshold=0.2)


def test_bg_boundaries():
    bounds, exact = bg_boundaries([0.05, 0.3], 'threshold')
    assert torch.equal(bounds, torch.tensor([0.05, 0.3])) and exact.all()
    alphas = [0., 1., 2., 7.5, 32.]
    bounds, exact = bg_boundaries(alphas, 'power')
    assert exact.all()
    assert bounds[0] == 1 and bounds[1] == 0.5
    root2 = (3 - 5**0.5) / 2  # m = (1 - m)^2
    assert abs(float(bounds[2]) - root2) < 1e-6
    # the boundary is the last background value under cams_to_label
    for alpha, b in zip(alphas, bounds):
        above = torch.nextafter(b, torch.tensor(2.))
        labels = cams_to_label(torch.stack([b, above]).view(1, 1, 2), [0],
                               bg_power=alpha)
        assert labels.tolist() == [[0, 1]]
