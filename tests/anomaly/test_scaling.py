"""The detector's feature scaler: robust statistics against closed forms, fallbacks, constant features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aekit.anomaly.scaling import FeatureScaler
from aekit.anomaly.series import read_table
from aekit.errors import AekitError


def test_robust_is_median_and_iqr_over_1_349_capped_at_the_std() -> None:
    ramp = np.arange(1.0, 102.0)  # 1..101: median 51, IQR 50, std 29.15 < 50 / 1.349 (a flat feature)
    tailed = np.linspace(-1.0, 1.0, 101)
    tailed[[0, 100]] = [-40.0, 40.0]  # IQR 1, std 5.6: heavy tails
    X = np.column_stack([ramp, ramp[::-1] * 3, tailed])
    scaler = FeatureScaler("robust").fit(X)
    np.testing.assert_allclose(scaler.offset_, [51.0, 153.0, np.median(X[:, 2])])
    q25, q75 = np.percentile(X[:, 2], [25, 75])
    assert (q75 - q25) / 1.3489795 < np.std(X[:, 2])  # the tailed column keeps its IQR unit
    np.testing.assert_allclose(scaler.scale_, [np.std(ramp), 3 * np.std(ramp), (q75 - q25) / 1.3489795])
    np.testing.assert_allclose(scaler.transform(X)[50], [0.0, 0.0, (X[50, 2] - np.median(X[:, 2])) / scaler.scale_[2]],
                               atol=1e-6)


def test_robust_falls_back_to_the_std_where_the_iqr_is_zero() -> None:
    x = np.zeros(100)
    x[:5] = 10.0  # a sparse feature: IQR 0
    scaler = FeatureScaler("robust").fit(x[:, None])
    assert scaler.scale_[0] == pytest.approx(np.std(x))
    assert not scaler.constant_[0]


def test_constant_features_are_flagged_and_map_to_zero() -> None:
    X = np.column_stack([np.full(10, 7.5), np.arange(10.0)])
    for kind in ("robust", "standard", "minmax"):
        scaler = FeatureScaler(kind).fit(X)
        np.testing.assert_array_equal(scaler.constant_, [True, False])
        assert np.all(scaler.transform(X)[:, 0] == 0.0)


def test_global_scaling_for_images_and_round_trip() -> None:
    X = np.random.default_rng(0).random((20, 16))
    scaler = FeatureScaler("minmax", per_feature=False).fit(X)
    assert scaler.offset_.shape == () and not scaler.constant_.any()
    again = FeatureScaler.from_dict(scaler.to_dict())
    np.testing.assert_array_equal(again.transform(X), scaler.transform(X))


def test_unknown_kind() -> None:
    with pytest.raises(AekitError, match="must be one of robust, standard, minmax, none. Got 'robus'.*'robust'"):
        FeatureScaler("robus")


def test_read_table_turns_the_time_column_into_the_index(tmp_path) -> None:
    path = tmp_path / "s.csv"
    pd.DataFrame({"timestamp": ["2024-01-01 00:00", "2024-01-01 00:05"], "value": [1.0, 2.0]}).to_csv(path, index=False)
    frame = read_table(path)
    assert list(frame.columns) == ["value"] and isinstance(frame.index, pd.DatetimeIndex)


def test_read_table_names_a_bad_time_column(tmp_path) -> None:
    path = tmp_path / "s.csv"
    pd.DataFrame({"time": ["yesterday", "today"], "value": [1.0, 2.0]}).to_csv(path, index=False)
    with pytest.raises(AekitError, match="Column 'time' .* looks like a time column but does not parse as dates"):
        read_table(path)
