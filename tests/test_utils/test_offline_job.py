# Copyright (c) mmweak contributors.
"""The offline-job building blocks: sharding, resume, atomic writes."""
import hashlib
import os

import numpy as np
import pytest
from PIL import Image

from mmweak.utils.offline_job import (atomic_path, file_sha256,
                                      init_offline_dist, pending,
                                      save_npy_atomic, save_png_atomic, shard,
                                      track)


def test_shards_are_disjoint_and_cover_the_items():
    items = list(range(11))
    parts = [shard(items, r, 3) for r in range(3)]
    assert sorted(sum(parts, [])) == items
    assert all(not set(a) & set(b) for i, a in enumerate(parts)
               for b in parts[i + 1:])


def test_pending_skips_finished_outputs(tmp_path):
    (tmp_path / 'a.npy').write_bytes(b'x')
    todo = pending(['a', 'b'], lambda i: str(tmp_path / f'{i}.npy'))
    assert todo == ['b']


def test_atomic_path_leaves_nothing_when_the_writer_fails(tmp_path):
    out = tmp_path / 'x.npy'
    with pytest.raises(RuntimeError):
        with atomic_path(str(out)) as tmp:
            assert tmp.endswith('.npy') and os.path.dirname(tmp) == str(
                tmp_path)
            np.save(tmp, np.zeros(3))
            raise RuntimeError('interrupted')
    assert os.listdir(tmp_path) == []


def test_save_npy_atomic_round_trips_an_irn_style_dict(tmp_path):
    pack = {'keys': np.array([0, 14]), 'cam': np.ones((2, 3, 4), 'float32')}
    save_npy_atomic(str(tmp_path / 'a.npy'), pack)
    back = np.load(tmp_path / 'a.npy', allow_pickle=True).item()
    assert back['keys'].tolist() == [0, 14]
    assert os.listdir(tmp_path) == ['a.npy']


def test_save_png_atomic_writes_a_palette_label_map(tmp_path):
    label = np.array([[0, 1], [254, 255]], np.uint8)
    palette = [0, 0, 0, 128, 0, 0] + [0] * (256 * 3 - 6)
    save_png_atomic(str(tmp_path / 'm.png'), label, palette)
    img = Image.open(tmp_path / 'm.png')
    assert img.mode == 'P'
    assert (np.array(img) == label).all()
    with pytest.raises(ValueError, match='uint8'):
        save_png_atomic(str(tmp_path / 'bad.png'), label.astype(np.int32))


def test_single_process_job_and_progress(capsys):
    assert init_offline_dist('none') == (0, 1)
    assert list(track([1, 2, 3], 'toy')) == [1, 2, 3]
    assert 'toy: 3 item(s)' in capsys.readouterr().out
    with pytest.raises(ValueError, match='launcher'):
        init_offline_dist('slurm')


def test_progress_in_a_log_is_one_line_per_tenth():
    """Piped output (logs, CI) gets plain lines, not a carriage-return bar;
    a terminal gets mmengine's bar."""
    import io

    class Tty(io.StringIO):

        def isatty(self):
            return True

    log = io.StringIO()
    assert list(track(range(20), 'job', stream=log)) == list(range(20))
    lines = log.getvalue().splitlines()
    assert lines[0] == 'job: 20 item(s)' and '\r' not in log.getvalue()
    assert [ln.split()[0] for ln in lines[1:]] == [
        f'{k}/20' for k in range(2, 21, 2)]
    assert 'left' in lines[-1]
    term = Tty()
    assert list(track(range(3), 'job', stream=term)) == [0, 1, 2]
    assert '3/3' in term.getvalue()


def test_remove_stale_tmp_deletes_only_leftover_temporaries(tmp_path):
    from mmweak.utils.offline_job import remove_stale_tmp
    (tmp_path / 'done.png').write_bytes(b'x')
    (tmp_path / '.done2.png.abc123.tmp.png').write_bytes(b'x')
    (tmp_path / '.a.npy.xyz.tmp.npy').write_bytes(b'x')
    assert remove_stale_tmp(str(tmp_path), '.png') == 1
    assert sorted(os.listdir(tmp_path)) == ['.a.npy.xyz.tmp.npy', 'done.png']


def test_file_sha256_reads_in_blocks(tmp_path):
    path = tmp_path / 'blob.bin'
    data = np.random.default_rng(0).bytes(3 * (1 << 20) + 17)  # 3 blocks +
    path.write_bytes(data)
    assert file_sha256(str(path)) == hashlib.sha256(data).hexdigest()
    empty = tmp_path / 'empty'
    empty.write_bytes(b'')
    assert file_sha256(str(empty)) == hashlib.sha256(b'').hexdigest()
