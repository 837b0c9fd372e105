import pytest

from sem_core.stats import wilson_interval


def test_wilson_matches_hand_computed_values():
    # 8 of 10 at 95 %: the textbook Wilson interval is (0.4902, 0.9433).
    result = wilson_interval(8, 10)
    assert result.rate == 0.8
    assert result.low == pytest.approx(0.4902, abs=1e-4)
    assert result.high == pytest.approx(0.9433, abs=1e-4)


def test_wilson_edges_stay_inside_unit_interval():
    zero = wilson_interval(0, 50)
    assert zero.low == 0.0 and 0.0 < zero.high < 0.1
    full = wilson_interval(50, 50)
    assert full.high == 1.0 and 0.9 < full.low < 1.0
    empty = wilson_interval(0, 0)
    assert (empty.rate, empty.low, empty.high) == (0.0, 0.0, 1.0)


def test_wilson_rejects_impossible_counts():
    with pytest.raises(ValueError, match="successes=5, total=3"):
        wilson_interval(5, 3)
