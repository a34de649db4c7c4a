"""Grid search (H2O's ``h2o.grid``): ``from daskml_h2o.grid import H2OGridSearch``."""
from daskml_h2o.grid.grid_search import H2OGridSearch

__all__ = ["H2OGridSearch"]
