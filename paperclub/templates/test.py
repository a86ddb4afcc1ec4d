"""Tests of minimal_impls/{module}.py (scaffolded: replace with the paper's checks)."""
import pytest
from conftest import claim

from minimal_impls import {module}


def test_claim_recovers_the_slope():
    c = claim("{slug}", "slope_error")
    result = {module}.run()
    assert c.holds(result["slope_error"])            # the claim's own threshold, from the front matter
    assert not c.holds(result["naive_slope_error"])  # and its control fails it


def test_mistake_no_intercept():
    """Fitting through the origin on data away from it: the claim's check fails, the real fit passes."""
    c = claim("{slug}", "slope_error")
    x, y = {module}.make_data()
    x, y = x + 1.0, y + 3.0  # y = 2x + 2: an offset the through-origin fit cannot absorb
    through_origin = float((x * y).sum() / (x * x).sum())
    assert not c.holds(abs(through_origin - 2))
    assert c.holds(abs({module}.fit(x, y)[0] - 2))


def test_too_few_points_is_a_clear_error():
    with pytest.raises(ValueError, match="n: expected an integer >= 2, got 1"):
        {module}.make_data(1)
