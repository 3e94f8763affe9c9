# Copyright (c) mmweak contributors.
import os
import os.path as osp
import socket
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def pytest_collection_modifyitems(config, items):
    """Run the ``heavy`` tests (whole pipelines, minutes each) first, so that
    with ``pytest -n 2`` (``make test``) they start at once on separate
    workers instead of ending the run on one of them."""
    items.sort(key=lambda item: item.get_closest_marker('heavy') is None)


@pytest.fixture(autouse=True, scope='session')
def _mmweak_scope():
    """Register mmweak modules and make ``mmweak`` the default scope."""
    from mmweak.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    yield


@pytest.fixture(autouse=True)
def _default_scope(request):
    """Each test starts in its module's ``DEFAULT_SCOPE`` (``mmweak`` unless
    the module says otherwise: the 3D tests set ``'mmdet3d'``, the scope of
    mmdet3d configs) and leaves ``mmweak`` behind for the next test on the
    same pytest-xdist worker, whatever its module-scoped fixtures did."""
    from mmengine.registry import DefaultScope, init_default_scope
    scope = getattr(request.module, 'DEFAULT_SCOPE', 'mmweak')
    current = DefaultScope.get_current_instance()
    if current is None or current.scope_name != scope:
        init_default_scope(scope)
    yield
    current = DefaultScope.get_current_instance()
    if current is None or current.scope_name != 'mmweak':
        init_default_scope('mmweak')


@pytest.fixture(autouse=True)
def _seed_every_test():
    """Seed ``random``, numpy and torch before each test, so a test that
    draws random crops or weights does not depend on the tests run before
    it."""
    from mmengine.runner import set_random_seed
    set_random_seed(0)
    yield


@pytest.fixture(scope='session')
def repo_root() -> str:
    return ROOT


@pytest.fixture(scope='session')
def tool_env() -> dict:
    """Environment for running the repository's tools in a subprocess."""
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env.setdefault('OMP_NUM_THREADS', '1')
    # shell tools (dist_train.sh) call `python`: use this interpreter
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env['PATH']
    env['PYTHON'] = sys.executable
    return env


@pytest.fixture(scope='session')
def python() -> str:
    return sys.executable


@pytest.fixture
def free_port() -> str:
    """A TCP port on 127.0.0.1 that the OS reports unused right now, for
    tests that start torchrun with an explicit ``--master_port`` (fixed
    numbers collide with a previous launch's socket still in TIME_WAIT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return str(sock.getsockname()[1])
