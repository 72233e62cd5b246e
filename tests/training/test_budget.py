"""Training to a time budget: durations, the conversion to steps, the fitted schedule, the
record, exact resume with the recorded steps. No wall-clock duration is asserted: the
measurement is replaced by fixed numbers wherever a test compares runs."""

import json
import math

import pytest

import netscale
from netscale.training import budget
from netscale.training.budget import steps_within
from netscale.training.duration import format_duration, parse_duration
from netscale.training.recipe import Recipe, load_recipe
from netscale.training.schedule import (
    check_steps,
    ema_decay_for,
    epoch_steps,
    fit_to_steps,
    learning_rate,
    progressive_stages,
)
from netscale.training.step_time import Measurement

from .conftest import tiny_spec, without_timing

# digits: 1,438 training images, batches of 128 (quick) -> 11 steps per epoch. With these
# numbers 3.0 s are left for training: 2 epochs (2 x 0.5 s) and 16 steps of 0.125 s.
PER_EPOCH = 11
FIXED = Measurement(step_s=0.125, eval_s=0.375, save_s=0.125, overhead_s=1.0)
BUDGET, STEPS = "4s", 16
KW = dict(precision="fp32", ema_decay=0.9)


class _Stop(Exception):
    pass


@pytest.fixture
def fixed(monkeypatch):
    """The measurement replaced by FIXED: every run gets the same steps."""
    monkeypatch.setattr(budget, "measure", lambda run, started: FIXED)


def _json(path):
    return json.loads(path.read_text())


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("1.5h", 5400),
     ("2m5s", 125), (" 1H ", 3600), (90, 90), (0.5, 0.5)],
)  # fmt: skip
def test_durations(text, seconds):
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("bad", ["", "90", "15x", "1m1h", "1h 30m", "0s", "-5m", "h", True,
                                 None, 0, -1.0, float("inf"), float("nan"), [90]])  # fmt: skip
def test_bad_durations_name_the_allowed_forms(bad):
    with pytest.raises(ValueError, match=r"budget=.* is invalid: a duration > 0 with units"):
        parse_duration(bad)


def test_format_duration():
    assert [format_duration(s) for s in (5400, 90, 900, 3605, 0.5)] == [
        "1h30m", "1m30s", "15m", "1h5s", "0.5s"
    ]  # fmt: skip


def test_steps_within_fits_evaluations_and_a_partial_last_epoch():
    # 3.0 s at 0.125 s a step and 0.5 s an epoch, 11 steps an epoch: 2 epochs, 16 steps
    assert steps_within(3.0, 0.125, 0.5, PER_EPOCH) == STEPS
    cost = STEPS * 0.125 + math.ceil(STEPS / PER_EPOCH) * 0.5
    assert cost <= 3.0 < cost + 0.125  # one step more would not fit
    assert steps_within(100.0, 0.5, 0.0, 10) == 200  # no fixed cost: all whole steps
    assert steps_within(6.0, 0.5, 0.5, 10) == 10  # 11 steps would need a 2nd evaluation
    assert steps_within(0.6, 0.5, 0.5, 10) == 0  # not one step and its evaluation
    assert steps_within(-3.0, 0.5, 0.5, 10) == 0
    for available in (7.3, 19.9, 123.4):  # the closed form is the brute-force maximum
        fits = [s for s in range(1, 500) if s * 0.25 + math.ceil(s / 7) * 1.5 <= available]
        assert steps_within(available, 0.25, 1.5, 7) == max(fits)


def test_fit_to_steps_keeps_each_share_of_the_run():
    recipe = Recipe(epochs=350, warmup_epochs=5.0, decay_epochs=2.4, ema_decay=0.9999)
    fitted = fit_to_steps(recipe, 1000, 100)  # 10 of the recipe's 35,000 steps
    scale = 1000 / 35000
    assert (fitted.epochs, fitted.steps) == (10, 1000)
    assert fitted.warmup_epochs == pytest.approx(5.0 * scale)  # 5/350 of the budget
    assert fitted.decay_epochs == pytest.approx(2.4 * scale)
    assert fitted.ema_decay == pytest.approx(1 - 0.0001 / scale)  # same horizon share
    assert fit_to_steps(recipe, 1050, 100).epochs == 11  # the last epoch partial
    assert ema_decay_for(0.0, 0.1) == 0.0  # no EMA stays off
    assert ema_decay_for(0.9, 0.01) == 0.5 and ema_decay_for(0.3, 0.01) == 0.3  # floor
    assert ema_decay_for(0.9999, 1e12) < 1.0


def test_learning_rate_ends_at_the_last_step():
    recipe = fit_to_steps(Recipe(epochs=15, warmup_epochs=1.0, lr=0.1), STEPS, PER_EPOCH)
    lrs = [learning_rate(recipe, s, PER_EPOCH) for s in range(STEPS)]
    assert lrs[-1] == 0.0 and lrs[-2] > 0.0  # cosine reaches its floor at step S exactly
    assert max(lrs) == pytest.approx(0.1, rel=0.02)  # the peak after the short warmup
    steps = fit_to_steps(Recipe(epochs=9, schedule="step", decay_rate=0.1), 45, 10)
    lrs = [learning_rate(steps, s, 10) for s in range(45)]
    # milestones at 1/3, 2/3 and 8/9 of the 45 steps (steps 15, 30 and 40)
    assert [i for i in range(1, 45) if lrs[i] < lrs[i - 1]] == [15, 30, 40]
    assert [epoch_steps(steps, 10, e) for e in range(5)] == [10, 10, 10, 10, 5]
    assert epoch_steps(Recipe(epochs=3), 10, 2) == 10


def test_progressive_stages_split_the_budgeted_epochs():
    recipe = Recipe(epochs=350, progressive="paper", progressive_stages=4, min_resolution=16)
    fitted = fit_to_steps(recipe, 75, 10)  # 8 epochs, the last of 5 steps
    stages = progressive_stages(fitted, 32, 0.3)
    assert [s.start for s in stages] == [0, 2, 4, 6]
    assert [s.resolution for s in stages] == [16, 16, 24, 32]


def test_steps_must_end_in_the_last_epoch():
    check_steps(Recipe(epochs=2, steps=16), PER_EPOCH)
    with pytest.raises(ValueError, match=r"steps=16 at 11 steps per epoch takes epochs=2"):
        check_steps(Recipe(epochs=3, steps=16), PER_EPOCH)
    with pytest.raises(ValueError, match="steps=0 is invalid"):
        Recipe(steps=0)
    with pytest.raises(ValueError, match=r"epochs=2 .* but the recipe has epochs=3"):
        netscale.train(tiny_spec(), "digits", Recipe(epochs=3, steps=16), None)


def test_budgeted_run_records_its_steps_and_ends_there(tmp_path, fixed):
    result = netscale.train(tiny_spec(), "digits", "quick", tmp_path, budget=BUDGET, **KW)
    record = _json(tmp_path / "budget.json")
    assert (record["steps"], record["epochs"], record["steps_per_epoch"]) == (STEPS, 2, 11)
    assert record["budget_s"] == 4.0 and record["budget"] == "4s"
    assert record["step_s"] == 0.125 and record["eval_s"] == 0.375
    assert record["recipe_steps"] == 15 * PER_EPOCH and record["device"] == "cpu"
    recipe = _json(tmp_path / "recipe.json")  # what ran: the fitted recipe
    assert (recipe["epochs"], recipe["steps"]) == (2, STEPS)
    assert recipe["warmup_epochs"] == pytest.approx(STEPS / 165)
    assert recipe["ema_decay"] == ema_decay_for(0.9, STEPS / 165)
    fitted = load_recipe("quick", epochs=2, steps=STEPS, warmup_epochs=STEPS / 165, **KW)
    assert [m["step"] for m in result.metrics] == [11, STEPS]
    assert result.metrics[0]["lr"] == learning_rate(fitted, 10, PER_EPOCH)
    assert result.metrics[-1]["lr"] == 0.0  # the cosine's end, at step S
    assert set(result.metrics[0]) == set(result.metrics[-1])  # every line keeps its fields
    assert (result.steps, result.epochs, result.budget_s, result.step_s) == (16, 2, 4.0, 0.125)
    saved = _json(tmp_path / "result.json")
    assert (saved["steps"], saved["budget_s"], saved["step_s"]) == (16, 4.0, 0.125)


def test_budget_too_short_is_an_error_before_training(tmp_path, fixed):
    with pytest.raises(ValueError, match=r"budget=1s is too short: set-up and measuring took"):
        netscale.train(tiny_spec(), "digits", "quick", tmp_path, budget=1.0, **KW)
    assert not (tmp_path / "checkpoints" / "ckpt-0001").exists()


def test_resume_keeps_the_recorded_steps_exactly(tmp_path, fixed, monkeypatch):
    """Stopped after its first epoch and resumed, a budgeted run ends with the metrics of an
    uninterrupted one given the same conversion, and does not measure again."""
    reference = netscale.train(tiny_spec(), "digits", "quick", tmp_path / "ref", budget=BUDGET,
                               **KW)  # fmt: skip

    def stop_after_first(metrics):
        if metrics["epoch"] == 1:
            raise _Stop

    with pytest.raises(_Stop):
        netscale.train(tiny_spec(), "digits", "quick", tmp_path / "r", budget=BUDGET,
                       progress=stop_after_first, **KW)  # fmt: skip

    def must_not_measure(run, started):
        raise AssertionError("a resumed run must read its recorded steps")

    monkeypatch.setattr(budget, "measure", must_not_measure)
    resumed = netscale.train(tiny_spec(), "digits", "quick", tmp_path / "r", resume=True,
                             budget="0h0m4s", **KW)  # fmt: skip
    assert without_timing(resumed.metrics) == without_timing(reference.metrics)
    assert resumed.metrics[-1]["step"] == STEPS and resumed.step_s == FIXED.step_s
    assert _json(tmp_path / "r" / "budget.json") == _json(tmp_path / "ref" / "budget.json")


def test_resume_refuses_another_budget(tmp_path, fixed):
    def stop_after_first(metrics):
        raise _Stop

    with pytest.raises(_Stop):
        netscale.train(tiny_spec(), "digits", "quick", tmp_path / "b", budget=BUDGET,
                       progress=stop_after_first, **KW)  # fmt: skip
    for other, says in (("5s", "with budget=5s"), (None, "with no budget")):
        with pytest.raises(ValueError, match=f"{says}: it trains to budget=4s \\(16 steps"):
            netscale.train(tiny_spec(), "digits", "quick", tmp_path / "b", resume=True,
                           budget=other, **KW)  # fmt: skip
    with pytest.raises(ValueError, match="fitted to a recipe of 165 steps, this recipe has 220"):
        netscale.train(tiny_spec(), "digits", "quick", tmp_path / "b", resume=True,
                       budget=BUDGET, epochs=20, **KW)  # fmt: skip
    netscale.train(tiny_spec(), "digits", "quick", tmp_path / "p", epochs=1, **KW)
    with pytest.raises(ValueError, match="it was trained without a time budget"):
        netscale.train(tiny_spec(), "digits", "quick", tmp_path / "p", resume=True,
                       budget=BUDGET, epochs=1, **KW)  # fmt: skip


def test_measuring_leaves_the_run_as_it_was(tmp_path, monkeypatch):
    """The real measurement (steps, evaluation, a checkpoint write, on copies) changes
    nothing the run trains with: its metrics equal a run given the numbers without it."""
    monkeypatch.setattr(budget, "steps_within", lambda *args: STEPS)
    measured = netscale.train(tiny_spec(), "digits", "quick", tmp_path / "m", budget="1h", **KW)
    record = _json(tmp_path / "m" / "budget.json")
    assert record["steps"] == STEPS and record["precision"] == "fp32"
    assert min(record["step_s"], record["eval_s"], record["save_s"]) > 0
    assert record["overhead_s"] > 0
    names = sorted(p.name for p in (tmp_path / "m" / "checkpoints").iterdir())
    assert names == ["ckpt-0002", "latest"]  # the timed checkpoint write left nothing
    monkeypatch.setattr(budget, "measure", lambda run, started: FIXED)
    given = netscale.train(tiny_spec(), "digits", "quick", tmp_path / "g", budget="1h", **KW)
    assert without_timing(measured.metrics) == without_timing(given.metrics)
