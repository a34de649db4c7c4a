"""Variable importance in H2O's form: (variable, relative, scaled, percentage).

Rows are sorted by decreasing relative importance (ties keep the input order), scaled is
v / max(v) and percentage is v / sum(v), as ``model.varimp()`` returns them.
"""
import math

import pandas as pd

from daskml_h2o.models.tables import H2OTwoDimTable

VARIMP_COLUMNS = ["variable", "relative_importance", "scaled_importance", "percentage"]


def varimp_list(names, relative_importances):
    """List of tuples ``(variable, relative_importance, scaled_importance, percentage)``."""
    names = [str(n) for n in names]
    values = [float(v) for v in relative_importances]
    if len(names) != len(values):
        raise ValueError("varimp needs one importance per variable: %d names, %d importances"
                         % (len(names), len(values)))
    if any(math.isnan(v) for v in values):
        raise ValueError("variable importances must not be NaN")
    order = sorted(range(len(values)), key=lambda i: -values[i])  # sorted() is stable
    top = max(values) if values else 0.0
    total = sum(values)
    nan = float("nan")
    return [(names[i], values[i], values[i] / top if top != 0 else nan,
             values[i] / total if total != 0 else nan) for i in order]


def varimp_frame(names, relative_importances):
    """The same rows as a pandas DataFrame (``varimp(use_pandas=True)``)."""
    return pd.DataFrame(varimp_list(names, relative_importances), columns=VARIMP_COLUMNS)


def varimp_table(names, relative_importances):
    """The same rows as an H2OTwoDimTable titled "Variable Importances"."""
    rows = [list(r) for r in varimp_list(names, relative_importances)]
    return H2OTwoDimTable(table_header="Variable Importances", col_header=list(VARIMP_COLUMNS), cell_values=rows)


def varimp(names, relative_importances, use_pandas=False):
    """What ``model.varimp(use_pandas)`` returns."""
    if use_pandas:
        return varimp_frame(names, relative_importances)
    return varimp_list(names, relative_importances)
