"""Experiment entry points of rtl_jax (``python -m experiments.<name>``); shared CLI in :mod:`experiments.cli`."""
