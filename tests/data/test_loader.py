"""netscale.data.loader: epoch order, rank shards, resume, evaluation shards."""

import pytest
import torch

from netscale.data import epoch_order, eval_indices, steps_per_epoch, train_batches


def test_epoch_order_is_pure():
    a = epoch_order(100, seed=1, epoch=2)
    assert torch.equal(a, epoch_order(100, seed=1, epoch=2))
    assert torch.equal(a.sort().values, torch.arange(100)) and a.dtype == torch.int64
    assert not torch.equal(a, epoch_order(100, seed=1, epoch=3))
    assert not torch.equal(a, epoch_order(100, seed=2, epoch=2))


def test_ranks_disjoint_equal_length_and_union_is_global_batch():
    n, batch, world = 103, 8, 3
    steps = steps_per_epoch(n, batch, world)
    assert steps == 4
    per_rank = [
        list(train_batches(n, batch, seed=0, epoch=1, rank=r, world_size=world)) for r in range(3)
    ]
    assert [len(b) for b in per_rank] == [steps] * world
    seen = torch.cat([torch.cat(b) for b in per_rank])
    assert len(seen) == len(set(seen.tolist())) == steps * batch * world
    single = list(train_batches(n, batch * world, seed=0, epoch=1))
    for step in range(steps):
        assert torch.equal(single[step], torch.cat([b[step] for b in per_rank]))


def test_start_step_skips_exactly():
    full = list(train_batches(50, 4, seed=7, epoch=0, rank=1, world_size=2))
    resumed = list(train_batches(50, 4, seed=7, epoch=0, rank=1, world_size=2, start_step=3))
    assert len(resumed) == len(full) - 3
    assert all(torch.equal(a, b) for a, b in zip(full[3:], resumed, strict=True))
    assert list(train_batches(50, 4, seed=7, epoch=0, start_step=12)) == []


@pytest.mark.parametrize("n,world", [(10, 3), (7, 4), (2, 3), (9, 1)])
def test_eval_indices_cover_once(n, world):
    shards = [eval_indices(n, rank=r, world_size=world) for r in range(world)]
    assert sorted(torch.cat(shards).tolist()) == list(range(n))


def test_loader_errors():
    with pytest.raises(ValueError, match="no full global batch"):
        steps_per_epoch(10, 8, 2)
    with pytest.raises(ValueError, match="rank"):
        next(train_batches(10, 2, seed=0, epoch=0, rank=2, world_size=2))
    with pytest.raises(ValueError, match="start_step"):
        next(train_batches(10, 2, seed=0, epoch=0, start_step=6))


def test_pseudo_batches_are_pure_and_cycle_through_every_image():
    from itertools import islice

    from netscale.data.loader import pseudo_batches

    def take(steps, **kw):
        return list(islice(pseudo_batches(10, 4, seed=3, epoch=1, **kw), steps))

    a = take(5)
    assert all(torch.equal(x, y) for x, y in zip(a, take(5), strict=True))
    flat = torch.cat(a).tolist()  # 20 positions: two cycles of 10, each a permutation
    assert sorted(flat[:10]) == sorted(flat[10:]) == list(range(10))
    assert flat[:10] != flat[10:]  # each cycle draws its own order
    other = torch.cat(list(islice(pseudo_batches(10, 4, seed=3, epoch=2), 5))).tolist()
    assert other != flat  # another epoch, another order
    assert flat[:10] != epoch_order(10, seed=3, epoch=1).tolist()  # not the labeled order
    ranks = [take(5, rank=r, world_size=2) for r in (0, 1)]
    single = list(islice(pseudo_batches(10, 8, seed=3, epoch=1), 5))
    for step in range(5):  # the ranks' slices make up the single process's batch
        assert torch.equal(single[step], torch.cat([ranks[0][step], ranks[1][step]]))
    with pytest.raises(ValueError, match="at least one"):
        next(pseudo_batches(0, 4, seed=0, epoch=0))
