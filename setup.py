# Copyright (c) mmweak contributors.
"""Shim for legacy ``setup.py develop`` installs; metadata is in
pyproject.toml."""
from setuptools import setup

setup()
