"""H2O's Deep Learning on Dask: network layout, numba kernels and per-chunk training.

Kept free of heavy imports; import the submodules (network, kernels, local_train) directly.
"""
