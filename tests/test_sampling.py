"""Sampling: option checks, filters (temperature, top-k, top-p), seeded reproducibility, masking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from wordrnn.errors import ConfigError
from wordrnn.predict.sampling import Sampler, check_k, check_options, filtered, greedy, mask, top_ids

P = np.array([0.05, 0.4, 0.1, 0.3, 0.15])


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"temperature": 0}, "^temperature must be"),
        ({"temperature": -1.0}, "^temperature must be"),
        ({"temperature": float("nan")}, "^temperature must be"),
        ({"temperature": float("inf")}, "^temperature must be"),
        ({"top_k": 0}, "^top_k must be"),
        ({"top_k": -2}, "^top_k must be"),
        ({"top_p": 0.0}, "^top_p must be"),
        ({"top_p": 1.5}, "^top_p must be"),
        ({"top_p": -0.1}, "^top_p must be"),
        ({"seed": -1}, "^seed must be"),
    ],
)
def test_bad_options_raise_config_error(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        check_options(**kwargs)
    with pytest.raises(ConfigError):
        Sampler(**kwargs)


def test_good_options_pass():
    check_options(0.5, 3, 1.0, 0)
    check_options(2, None, 0.01, None)
    assert check_k(1) == 1
    for bad in (0, -1, 1.5, True, "3"):
        with pytest.raises(ConfigError):
            check_k(bad)


def test_top_ids_orders_by_score_then_index():
    scores = np.array([0.1, 0.5, 0.5, 0.2, 0.0])
    assert top_ids(scores, 3).tolist() == [1, 2, 3]
    assert top_ids(scores, 10).tolist() == [1, 2, 3, 0, 4]
    assert top_ids(scores, 1).tolist() == [1]


def test_filters():
    assert np.allclose(filtered(P), P)
    top2 = filtered(P, top_k=2)
    assert np.flatnonzero(top2).tolist() == [1, 3] and np.isclose(top2.sum(), 1)
    assert np.allclose(top2[[1, 3]], np.array([0.4, 0.3]) / 0.7)
    # Nucleus: the smallest most-probable set holding >= 0.6 is {0.4, 0.3}.
    assert np.flatnonzero(filtered(P, top_p=0.6)).tolist() == [1, 3]
    assert np.flatnonzero(filtered(P, top_p=0.7)).tolist() == [1, 3]
    assert np.flatnonzero(filtered(P, top_p=0.71)).tolist() == [1, 3, 4]
    assert np.flatnonzero(filtered(P, top_p=0.01)).tolist() == [1]
    assert np.allclose(filtered(P, top_p=1.0), P)
    cold, hot = filtered(P, temperature=0.5), filtered(P, temperature=2.0)
    assert cold[1] > P[1] > hot[1] and cold[0] < P[0] < hot[0]
    assert np.allclose(cold, P**2 / (P**2).sum())
    assert filtered(P, temperature=1e-4)[1] == pytest.approx(1.0)


def test_zero_mass_falls_back_to_the_best_word():
    assert filtered(np.zeros(4)).tolist() == [1.0, 0.0, 0.0, 0.0]


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.integers(2, 40), elements=st.floats(0, 1)),
    st.floats(0.05, 5.0),
    st.one_of(st.none(), st.integers(1, 50)),
    st.one_of(st.none(), st.floats(0.01, 1.0)),
)
def test_filtered_is_a_distribution_over_the_support(p, temperature, top_k, top_p):
    q = filtered(p, temperature, top_k, top_p)
    assert np.isclose(q.sum(), 1.0) and (q >= 0).all()
    if p.sum() > 0:
        assert (q[p == 0] == 0).all() or np.count_nonzero(q) == 1
    if top_k is not None:
        assert np.count_nonzero(q) <= top_k or np.count_nonzero(q) == 1


def test_same_seed_same_samples_and_different_seed_differs():
    p = np.full(50, 1 / 50)
    first = [Sampler(seed=7)(p) for _ in range(1)]
    a, b, c = Sampler(seed=7), Sampler(seed=7), Sampler(seed=8)
    draws_a = [a(p) for _ in range(30)]
    assert draws_a == [b(p) for _ in range(30)]
    assert draws_a != [c(p) for _ in range(30)]
    assert first[0] == draws_a[0]


def test_samples_follow_the_distribution():
    sampler = Sampler(seed=0)
    counts = np.bincount([sampler(P) for _ in range(20000)], minlength=len(P)) / 20000
    assert np.allclose(counts, P, atol=0.015)


def test_banned_and_zero_probability_ids_are_never_sampled():
    p = np.array([[0.0, 0.9, 0.05, 0.05, 0.0]])  # a (1, V) vector, as runners return
    sampler = Sampler(seed=1, banned=[1])
    drawn = {sampler(p) for _ in range(2000)}
    assert drawn == {2, 3}
    assert Sampler(top_k=1, banned=[1])(p) in (2, 3)
    assert greedy(p, banned=[1]) == 2 and greedy(p) == 1
    assert mask(p, [1]).tolist() == [0.0, 0.0, 0.05, 0.05, 0.0]


def test_greedy_uses_no_randomness():
    sampler = Sampler(top_k=1, seed=None)
    assert sampler.greedy
    assert {sampler(P) for _ in range(20)} == {1}


def test_all_mass_on_banned_words_still_returns_an_allowed_word():
    p = np.array([0.0, 1.0, 0.0])
    assert Sampler(seed=0, banned=[1])(p) != 1
    assert Sampler(seed=0, temperature=0.5, banned=[1])(p) != 1
