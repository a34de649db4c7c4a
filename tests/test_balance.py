"""balance_classes: H2O's sampling ratios (float32 arithmetic, the max_after_balance_size cap),
row counts equal to real H2O's, balanced proportions, partition independence, and the
probability correction at prediction time."""
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from daskml_h2o.data.balance import balance_frame, correct_probabilities, fit_balance, sampling_ratios


def _frame(df, nparts, types):
    from daskml_h2o.frame import H2OFrame
    return H2OFrame._from_dask(dd.from_pandas(df, npartitions=nparts, sort=False), types)


def _imbalanced(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(["a", "b", "c"], n, p=[0.7, 0.2, 0.1]).astype(object)
    y[rng.random(n) < 0.02] = None
    return pd.DataFrame({"x": np.arange(n, dtype=float), "y": pd.Categorical(y, categories=["a", "b", "c"])})


def test_sampling_ratios_balance_and_cap():
    # majority class keeps ratio 1, minorities are oversampled to its size
    assert np.allclose(sampling_ratios([90.0, 10.0], 100), [1.0, 9.0])
    # expected 180 rows > 1.5 * 100: every ratio is scaled by 150/180 in float32
    capped = sampling_ratios([90.0, 10.0], 100, max_after_balance_size=1.5)
    assert capped.dtype == np.float32
    assert np.allclose(capped, np.array([1.0, 9.0]) * 150 / 180, rtol=1e-6)
    assert np.allclose(sampling_ratios([90.0, 10.0], 100, class_sampling_factors=[0.5, 2.0]), [0.5, 2.0])
    with pytest.raises(ValueError, match="no rows"):
        sampling_ratios([90.0, 0.0], 100)
    with pytest.raises(ValueError, match="class_sampling_factors needs 2"):
        sampling_ratios([90.0, 10.0], 100, class_sampling_factors=[1.0])


def test_row_counts_match_h2o_on_prostate(h2o_session):
    # training nobs of H2O 3.46 GBMs with balance_classes on prostate (the same per-row PCG draws)
    fr = h2o_session.import_file(h2o_session.datasets.path("prostate"))
    for col in ("CAPSULE", "RACE"):
        fr[col] = fr[col].asfactor()
    for y, seed, cap, factors, nobs in [("CAPSULE", 1234, 5.0, None, 467), ("CAPSULE", 7, 1.1, None, 434),
                                        ("CAPSULE", 99, 5.0, [1.0, 3.0], 686), ("RACE", 3, 5.0, None, 1028)]:
        balance = fit_balance(fr, y, seed=seed, max_after_balance_size=cap, class_sampling_factors=factors)
        assert balance.nrows == nobs
        assert balance_frame(fr, balance).nrow == nobs


def test_balanced_proportions_and_partition_independence(h2o_session):
    df = _imbalanced()
    types = {"x": "real", "y": "enum"}
    frames = {}
    for nparts in (1, 3):
        fr = _frame(df, nparts, types)
        balance = fit_balance(fr, "y", seed=42)
        frames[nparts] = balance_frame(fr, balance)._ddf.compute().reset_index(drop=True)
        counts = frames[nparts]["y"].value_counts()
        majority = int((df["y"] == "a").sum())
        assert counts["a"] == majority  # ratio 1.0: every majority row once
        assert abs(counts["b"] - majority) < 0.1 * majority and abs(counts["c"] - majority) < 0.1 * majority
        assert frames[nparts]["y"].notna().all()  # rows without a label are dropped
        assert np.allclose(balance.prior, df["y"].value_counts(normalize=True).reindex(["a", "b", "c"]))
        assert np.allclose(balance.model_dist, counts.reindex(["a", "b", "c"]) / counts.sum())
        assert np.array_equal(balance.class_counts, counts.reindex(["a", "b", "c"]).to_numpy())
    pd.testing.assert_frame_equal(frames[1], frames[3])
    # copies of a row are the row itself
    assert set(frames[1]["x"]) <= set(df["x"])


def test_max_after_balance_size_caps_rows(h2o_session):
    df = _imbalanced()
    fr = _frame(df, 2, {"x": "real", "y": "enum"})
    balance = fit_balance(fr, "y", seed=1, max_after_balance_size=1.2)
    out = balance_frame(fr, balance)
    assert abs(out.nrow - 1.2 * len(df)) < 0.05 * len(df)
    assert out.nrow == balance.nrows
    # the majority class is now undersampled
    assert balance.ratios[0] < 1.0


def test_weights_enter_the_class_distribution(h2o_session):
    df = _imbalanced()
    df["w"] = np.where(df["y"] == "a", 0.5, 1.0)
    fr = _frame(df, 2, {"x": "real", "y": "enum", "w": "real"})
    balance = fit_balance(fr, "y", weights_column="w", seed=5)
    wsum = df.groupby("y", observed=False)["w"].sum()
    assert np.allclose(balance.prior, wsum / wsum.sum())
    assert np.allclose(balance.ratios, sampling_ratios(wsum.to_numpy(), len(df)))


def test_balance_frame_checks_partitioning(h2o_session):
    df = _imbalanced()
    balance = fit_balance(_frame(df, 1, {"x": "real", "y": "enum"}), "y", seed=1)
    with pytest.raises(ValueError, match="partitions"):
        balance_frame(_frame(df, 3, {"x": "real", "y": "enum"}), balance)
    with pytest.raises(ValueError, match="categorical response"):
        fit_balance(_frame(df, 1, {"x": "real", "y": "enum"}), "x")


def test_correct_probabilities():
    probs = np.array([[0.5, 0.5], [0.2, 0.8], [0.0, 0.0]])
    prior, model = np.array([0.8, 0.2]), np.array([0.5, 0.5])
    out = correct_probabilities(probs, prior, model)
    raw = probs * (prior / model)
    assert np.allclose(out[:2], raw[:2] / raw[:2].sum(axis=1, keepdims=True))
    assert np.allclose(out[0], [0.8, 0.2])
    assert np.array_equal(out[2], [0.0, 0.0])  # nothing to renormalise
    # a class with prior or model share 0 is left unscaled
    three = correct_probabilities([[0.2, 0.3, 0.5]], [0.5, 0.5, 0.0], [0.25, 0.25, 0.5])
    assert np.allclose(three, np.array([[0.4, 0.6, 0.5]]) / 1.5)
    assert np.array_equal(probs, [[0.5, 0.5], [0.2, 0.8], [0.0, 0.0]])  # input untouched
