"""Learning-rate schedules and the progressive-learning presets."""

import itertools

import pytest

from netscale.training.recipe import load_recipe
from netscale.training.schedule import learning_rate, progressive_stages, stage_at


def test_warmup_then_cosine():
    r = load_recipe("quick", epochs=10, warmup_epochs=1.0, lr=0.1, batch_size=128)
    lrs = [learning_rate(r, s, 10) for s in range(100)]
    assert lrs[0] == pytest.approx(0.01) and lrs[9] == pytest.approx(0.1)
    assert max(lrs) == pytest.approx(0.1) and lrs[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in itertools.pairwise(lrs[9:]))


def test_exponential_decay_every_2_4_epochs():
    r = load_recipe("efficientnet", warmup_epochs=0.0, batch_size=256)
    assert learning_rate(r, 0, 100) == pytest.approx(0.016)
    assert learning_rate(r, 240, 100) == pytest.approx(0.016 * 0.97)  # epoch 2.41
    assert learning_rate(r, 480, 100) == pytest.approx(0.016 * 0.97**2)


def test_progressive_paper_and_code_presets():
    # EfficientNetV2-S: sizes 128 -> 300, RandAugment 5 -> 15, dropout 0.1 -> 0.3 (Table 6)
    paper = progressive_stages(load_recipe("efficientnet_v2", epochs=8), 300, 0.3)
    assert [s.resolution for s in paper] == [128, 184, 240, 300]  # 185.3, 242.7 rounded to 8
    assert [s.randaug_magnitude for s in paper] == pytest.approx([5, 25 / 3, 35 / 3, 15])
    assert [s.dropout_rate for s in paper] == pytest.approx([0.1, 0.1667, 0.2333, 0.3], abs=1e-4)
    assert [s.start for s in paper] == [0, 2, 4, 6]
    code = progressive_stages(
        load_recipe("efficientnet_v2", progressive="code", epochs=8), 300, 0.3
    )
    # released code: int(128 + 172 * (i + 1) / 4) = 171, 214, 257, 300 (here to multiples of 8)
    assert [s.resolution for s in code] == [168, 208, 256, 300]
    assert [s.dropout_rate for s in code] == [0.3] * 4  # the code keeps dropout fixed
    assert stage_at(code, 5).resolution == 256


def test_no_progressive_is_one_stage():
    stages = progressive_stages(load_recipe("quick"), 32, 0.2)
    assert len(stages) == 1 and stages[0].resolution == 32 and stages[0].dropout_rate == 0.2


def test_step_schedule_decays_at_the_milestones():
    from netscale.training.recipe import Recipe, RecipeError

    r = Recipe(schedule="step", epochs=90, lr=0.1, lr_batch=128, batch_size=128, decay_rate=0.1)
    lrs = {e: learning_rate(r, e * 10 - 1, 10) for e in (1, 30, 31, 60, 61, 80, 81, 90)}
    # during epochs 1-30 the peak, then x0.1 from the 31st, 61st and 81st (ResNet's 30/60/80)
    expected = {1: 0.1, 30: 0.1, 31: 0.01, 60: 0.01, 61: 1e-3, 80: 1e-3, 81: 1e-4, 90: 1e-4}
    assert lrs == pytest.approx(expected)
    with pytest.raises(RecipeError, match=r"decay_milestones=\[0.5, 0.2\] is invalid"):
        Recipe(decay_milestones=(0.5, 0.2))
    with pytest.raises(RecipeError, match=r"decay_milestones=\[1.5\] is invalid"):
        Recipe(decay_milestones=[1.5])


def test_linear_schedule_with_a_warmup_from_a_share_of_the_peak():
    """airbench's triangle: 0.2 of the peak at the start, the peak after 23% of the run,
    then linearly down to 0.07 of it at the end."""
    r = load_recipe(
        "quick",
        epochs=10,
        lr=1.0,
        batch_size=128,
        schedule="linear",
        warmup_epochs=2.3,
        warmup_start_ratio=0.2,
        min_lr_ratio=0.07,
    )
    lrs = [learning_rate(r, s, 10) for s in range(100)]
    assert lrs[0] == pytest.approx(0.2 + 0.8 * 0.1 / 2.3)  # during step 0: epoch 0.1
    assert max(lrs) == pytest.approx(1.0, abs=0.04) and lrs[-1] == pytest.approx(0.07)
    assert all(a < b for a, b in itertools.pairwise(lrs[:22]))
    decay = lrs[23:]
    steps = [a - b for a, b in itertools.pairwise(decay)]
    assert all(s == pytest.approx(steps[0]) for s in steps)  # a straight line
    halfway = learning_rate(r, 10 * (2.3 + 7.7 / 2) - 1, 10)
    assert halfway == pytest.approx(0.07 + 0.93 / 2)
