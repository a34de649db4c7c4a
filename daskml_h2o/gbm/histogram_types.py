"""How a GBM bins its features: one strategy object per ``histogram_type``.

The boosting loop (``gbm/training.py``) only talks to this interface, so H2O's per-node
histogram types and our global bins plug into the same driver:

- driver, once: ``fit(used, keep_idx, stats, sample_X)`` chooses what every chunk needs;
- worker: ``prepare_chunk(raw_chunk, keep_idx)`` turns a raw chunk (``X`` float64) into the
  training chunk (its ``"features"`` entry is what the level steps read);
- driver, per tree: ``new_builder(grow_params, rng, tree_cols)``;
- worker, per level: ``level_step(tree_chunk, node_ids, plan)``; ``combine(*results)`` adds
  the chunks' results in their fixed order;
- driver, per level: ``decide(builder, combined)`` returns the next plan or None;
- worker: ``tree_scores(chunk, tree)`` adds one tree's leaf values for the chunk's rows.
"""
from __future__ import annotations

import numpy as np

from daskml_h2o.data import binning
from daskml_h2o.gbm import adaptive
from daskml_h2o.gbm.global_grower import GlobalTreeBuilder
from daskml_h2o.gbm.grower import chunk_level_step
from daskml_h2o.gbm.histogram import combine_node_sums, sum_histograms
from daskml_h2o.gbm.tree import predict_binned

__all__ = ["GlobalBins", "make_strategy", "STRATEGIES"]

# Global quantile bins of the AUTO histogram type: 255 bins + the NA bin fit a uint8 code.
AUTO_MAX_BINS = 255


class GlobalBins:
    """``histogram_type="AUTO"``: every numeric feature is binned once
    with weighted-quantile edges from a row sample (up to ``AUTO_MAX_BINS`` bins, one bin per
    distinct value when there are fewer), categoricals get one bin per level up to
    ``nbins_cats``. The histograms are then identical however the data is partitioned, and the
    binned codes (uint8/uint16) are all the level passes read. H2O's default instead re-bins
    every node on its own range (``UniformAdaptive``); see docs/gbm.md for the accuracy check."""

    name = "AUTO"
    uses_sample = True  # fit reads a row sample of the numeric columns (quantile edges)

    def __init__(self, params: dict):
        self.nbins_cats = int(params["nbins_cats"])
        self.max_bins = AUTO_MAX_BINS
        self.bin_spec = None

    def fit(self, used, keep_idx, stats, sample_X) -> None:
        is_cat = np.array([used.types[col] == "enum" for col in used.columns], dtype=bool)
        n_levels = np.array([len(used.domains[col]) if cat else 0 for col, cat in zip(used.columns, is_cat)],
                            dtype=np.int32)
        numeric = [j for pos, j in enumerate(keep_idx) if not is_cat[pos]]
        numeric_edges = iter(binning.quantile_edges_columns(sample_X, numeric, self.max_bins))
        edges = [np.empty(0) if cat else next(numeric_edges) for cat in is_cat]
        self.bin_spec = binning.make_bin_spec(edges, is_cat, n_levels, self.nbins_cats)

    @property
    def n_features(self) -> int:
        return self.bin_spec.n_features

    def prepare_chunk(self, chunk, keep_idx) -> dict:
        # row-major codes: the level pass reads every feature of a row at once
        features = binning.bin_columns(chunk["X"], self.bin_spec, cols=keep_idx, order="C")
        return {"features": features, "y": chunk["y"], "w": chunk["w"], "offset": chunk["offset"], "n": chunk["n"]}

    def new_builder(self, grow_params, rng, tree_cols):
        return GlobalTreeBuilder(self.bin_spec, grow_params, rng, tree_cols)

    def level_step(self, tree_chunk, node_ids, plan):
        return chunk_level_step(tree_chunk, node_ids, plan, self.bin_spec.na_bin)

    @staticmethod
    def combine(*results):
        hist = sum_histograms(r[1] for r in results)
        sums = results[0][2]
        for r in results[1:]:
            sums = combine_node_sums(sums, r[2])
        return None, hist, sums

    @staticmethod
    def decide(builder, combined):
        _, hist, sums = combined
        return builder.decide(hist, sums)

    def tree_scores(self, chunk, tree) -> np.ndarray:
        return predict_binned([tree], chunk["features"], self.bin_spec.na_bin)


STRATEGIES = {"AUTO": GlobalBins, **{c.name: c for c in (adaptive.UniformAdaptive, adaptive.UniformRobust,
                                                         adaptive.Random, adaptive.QuantilesGlobal,
                                                         adaptive.RoundRobin)}}


def make_strategy(histogram_type: str, params: dict):
    """The strategy object for a ``histogram_type`` (H2O's name, after enum matching)."""
    try:
        return STRATEGIES[histogram_type](params)
    except KeyError:
        raise ValueError(f"histogram_type={histogram_type!r} is not supported yet; use 'AUTO' (global quantile "
                         f"bins) or one of {sorted(STRATEGIES)}") from None
