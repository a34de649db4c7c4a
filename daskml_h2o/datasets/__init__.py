"""Small real data sets that ship with the package (prostate, iris, a 5,000-row MNIST sample)."""
from __future__ import annotations

import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_FILES = {
    "prostate": "prostate.csv",
    "iris": "iris.csv",
    "mnist_5k": "mnist_5k.csv.gz",
}


def path(name: str) -> str:
    """Absolute path of a shipped data set: ``path("prostate")``, ``path("iris")``, ``path("mnist_5k")``."""
    try:
        return os.path.join(_HERE, _FILES[name])
    except KeyError:
        raise ValueError(f"no shipped data set named {name!r}; choose one of {sorted(_FILES)}") from None
