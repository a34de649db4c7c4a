"""H2O-style result tables: ``H2OTwoDimTable`` and the binomial ``ConfusionMatrix``.

Both behave like the objects of the ``h2o`` client: a table has a header (its title),
column names and row-major cell values, prints as a plain text grid, converts to pandas
with ``as_data_frame()`` and indexes by column name or position.
"""
import copy
import math

import numpy as np
import pandas as pd


def _cell_text(value):
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "nan"
        return "%g" % value  # the h2o client prints tables with tabulate's default "g" format
    return str(value)


def format_grid(col_header, rows):
    """Left-aligned text grid with a dashed rule under the header, as the h2o client prints."""
    cells = [[_cell_text(v) for v in row] for row in rows]
    header = ["" if h is None else str(h) for h in col_header]
    widths = [max([len(header[j])] + [len(r[j]) for r in cells]) for j in range(len(header))]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()
    out = [line(header), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells)
    return "\n".join(out)


class H2OTwoDimTable:
    """A titled table: ``table_header`` (name), ``col_header`` (column names), ``cell_values`` (rows)."""

    def __init__(self, table_header=None, table_description=None, col_header=None, col_types=None,
                 cell_values=None):
        cell_values = [list(r) for r in (cell_values or [])]
        col_header = list(col_header or [])
        for i, row in enumerate(cell_values):
            if len(row) != len(col_header):
                raise ValueError("H2OTwoDimTable row %d has %d cells but there are %d column names"
                                 % (i, len(row), len(col_header)))
        self._table_header = table_header
        self._table_description = table_description
        self._col_header = col_header
        self._col_types = list(col_types) if col_types is not None else None
        self._cell_values = cell_values

    @classmethod
    def from_data_frame(cls, df, table_header=None, table_description=None):
        """Build a table from a pandas DataFrame (column names become the header)."""
        rows = [[_plain(v) for v in row] for row in df.itertuples(index=False, name=None)]
        return cls(table_header=table_header, table_description=table_description,
                   col_header=[str(c) for c in df.columns], cell_values=rows)

    @property
    def cell_values(self):
        return self._cell_values

    @property
    def col_header(self):
        return self._col_header

    @property
    def col_types(self):
        return self._col_types

    @property
    def nrows(self):
        return len(self._cell_values)

    def as_data_frame(self):
        return pd.DataFrame(self._cell_values, columns=self._col_header)

    def __len__(self):
        return len(self._cell_values)

    def __getitem__(self, item):
        if isinstance(item, slice):
            table = copy.deepcopy(self)
            table._cell_values = self._cell_values[item]
            return table
        if isinstance(item, (list, tuple)):
            return [self[i] for i in item]
        if isinstance(item, (int, np.integer)):
            index = int(item) + (len(self._col_header) if item < 0 else 0)
            if not 0 <= index < len(self._col_header):
                raise IndexError("column index %d is out of range for a table of %d columns"
                                 % (item, len(self._col_header)))
        elif isinstance(item, str):
            if item not in self._col_header:
                raise KeyError("Column `%s` does not exist in the table; columns are %s"
                               % (item, self._col_header))
            index = self._col_header.index(item)
        else:
            raise TypeError("a table is indexed by a column name, a position, a list of them or a slice, "
                            "not %r" % type(item).__name__)
        return [row[index] for row in self._cell_values]

    def __setitem__(self, key, values):
        values = list(values)
        if len(values) != len(self._cell_values):
            raise ValueError("a new column needs %d values, got %d" % (len(self._cell_values), len(values)))
        if key in self._col_header:
            j = self._col_header.index(key)
            for row, v in zip(self._cell_values, values):
                row[j] = v
        else:
            self._col_header.append(key)
            for row, v in zip(self._cell_values, values):
                row.append(v)

    def _caption(self):
        if self._table_header is None:
            return None
        if self._table_description is None:
            return self._table_header
        return "%s: %s" % (self._table_header, self._table_description)

    def to_str(self, rows=20):
        shown = self._cell_values if rows is None or len(self._cell_values) <= rows else self._cell_values[:rows]
        text = format_grid(self._col_header, shown)
        if len(shown) < len(self._cell_values):
            text += "\n[%d rows x %d columns]" % (len(self._cell_values), len(self._col_header))
        caption = self._caption()
        return text if caption is None else caption + "\n" + text

    def show(self, header=True, rows=20):
        print(self.to_str(rows=rows) if header else format_grid(self._col_header, self._cell_values[:rows]))

    def __str__(self):
        return self.to_str()

    __repr__ = __str__

    def __eq__(self, other):
        return (isinstance(other, H2OTwoDimTable) and self._col_header == other._col_header
                and self._cell_values == other._cell_values)

    __hash__ = None


def _plain(v):
    """numpy scalars -> Python scalars so tables print and compare like H2O's."""
    if isinstance(v, np.generic):
        return v.item()
    return v


class ConfusionMatrix:
    """H2O's binomial/multinomial confusion matrix: rows actual, columns predicted, then Error and Rate.

    ``cm`` is a square list (or array) indexed ``cm[actual][predicted]``; the table adds a
    per-class error, a rate string ``" (errors/total)"`` and a Total row, as the h2o client does.
    """

    ROUND = 4

    def __init__(self, cm, domains=None, table_header=None):
        cm = [[_plain(v) for v in row] for row in np.asarray(cm).tolist()]
        k = len(cm)
        if any(len(row) != k for row in cm):
            raise ValueError("a confusion matrix must be square, got %d rows of lengths %s"
                             % (k, [len(r) for r in cm]))
        labels = [str(d) for d in domains] if domains is not None else [str(i) for i in range(k)]
        if len(labels) != k:
            raise ValueError("confusion matrix has %d classes but the domain has %d labels" % (k, len(labels)))
        rows = []
        total_err = 0
        for i in range(k):
            row_total = sum(cm[i])
            err = row_total - cm[i][i]
            total_err += err
            rate = float("nan") if row_total == 0 else round(err / row_total, self.ROUND)
            rows.append([labels[i]] + cm[i] + [str(rate), " (%s/%s)" % (err, row_total)])
        col_totals = [sum(cm[i][j] for i in range(k)) for j in range(k)]
        grand = sum(col_totals)
        rate = float("nan") if grand == 0 else round(total_err / grand, self.ROUND)
        rows.append(["Total"] + col_totals + [str(rate), " (%s/%s)" % (total_err, grand)])
        self._cm = cm
        self.table = H2OTwoDimTable(table_header=table_header or "Confusion Matrix (Act/Pred)",
                                    col_header=[""] + labels + ["Error", "Rate"], cell_values=rows)

    def to_list(self):
        """The counts as ``[[tn, fp], [fn, tp]]`` (integers), as the h2o client returns them."""
        return [[int(round(v)) for v in row] for row in self._cm]

    def as_data_frame(self):
        return self.table.as_data_frame()

    def show(self):
        print(self.table.to_str(rows=None))

    def __str__(self):
        return self.table.to_str(rows=None)

    __repr__ = __str__
