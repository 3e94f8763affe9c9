# Copyright (c) mmweak contributors.
"""The cores are divided among the lanes still running."""
import os

import pytest

from mmweak.utils.cpu_share import LANES_ENV, active_lanes, cpu_share, lane


def test_share_follows_the_active_lanes(tmp_path, monkeypatch):
    d = str(tmp_path / 'lanes')
    monkeypatch.delenv(LANES_ENV, raising=False)
    assert active_lanes() == 1  # no lanes folder: a job alone
    with lane(d, 'wsss') as mark_a:
        assert os.path.isfile(mark_a)
        with lane(d, 'wsol-dtmr'):
            assert active_lanes(d) == 2
            assert cpu_share(d, cores=2) == 1
            assert cpu_share(d, cores=8) == 4
            monkeypatch.setenv(LANES_ENV, d)
            assert cpu_share(cores=2) == 1  # folder taken from the env
        # the other lane ended: this one gets the whole machine
        assert cpu_share(d, cores=2) == 2
    assert active_lanes(d) == 1 and os.listdir(d) == []


def test_mark_removed_when_the_lane_fails(tmp_path):
    d = str(tmp_path / 'lanes')
    with pytest.raises(RuntimeError):
        with lane(d, 'wsss'):
            raise RuntimeError('task failed')
    assert os.listdir(d) == []


def test_share_is_at_least_one_thread(tmp_path):
    d = str(tmp_path)
    for name in 'abc':
        open(os.path.join(d, f'{name}.lane'), 'w').close()
    assert cpu_share(d, cores=2) == 1
