"""Experiment configs: ``get_config()`` of each file is a locked ml_collections ConfigDict (snnjax.config).

Shipped inside the package as ``snnjax.configs``, so ``--config configs/<name>.py`` also works from a wheel.
"""
