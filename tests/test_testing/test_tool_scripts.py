# Copyright (c) mmweak contributors.
import pytest

from mmweak.testing import load_tool_script
from mmweak.testing.tool_scripts import load_tool_script as direct


def test_load_tool_script_imports_without_running_main(repo_root):
    module = load_tool_script(repo_root,
                              'tools/model_converters/deit_to_sat.py')
    assert module.__name__ == 'deit_to_sat'
    assert callable(module.main) and callable(module.convert_deit)
    assert direct is load_tool_script  # exported from mmweak.testing


def test_load_tool_script_names_a_missing_file(repo_root):
    with pytest.raises(FileNotFoundError, match='no_such_tool.py'):
        load_tool_script(repo_root, 'tools/no_such_tool.py')
