"""Datasets: image folders and memory-mapped arrays, split and normalized by one protocol.

`python -m {{ cookiecutter.package_name }}.data split data/<name>`
writes a dataset's split (and, the first time, its config in `configs/data/`); the
datamodules read the data lazily, one sample at a time.
"""
