# Copyright (c) mmweak contributors.
"""Import the scripts under ``tools/`` (not a package) as modules."""
import importlib.util
import os.path as osp
from types import ModuleType


def load_tool_script(repo_root: str, rel_path: str) -> ModuleType:
    """Import ``<repo_root>/<rel_path>`` (e.g. ``tools/analysis_tools/
    vis_cam.py``) as a module named after the file, without running its
    ``__main__`` block.

    Args:
        repo_root (str): Root of the mmweak checkout.
        rel_path (str): Path of the script relative to ``repo_root``.

    Returns:
        ModuleType: The imported module.
    """
    path = osp.join(repo_root, rel_path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'no tool script at {path}')
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
