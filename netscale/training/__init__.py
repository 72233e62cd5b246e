"""Training: recipes as data, schedules, progressive learning, the loop, checkpoints, DDP.

`netscale.train(...)` (netscale/api.py) is the entry point; it calls `training.loop.train`.
Modules: recipe (Recipe, shipped YAML), schedule (lr, progressive stages), state (a run's
set-up and restore), epoch (one epoch and its metrics line), loop (train), evaluate
(top-1, flip TTA), precision ("auto" fp32/bf16 by measurement), env (versions, matmul
peak), progress (hooks, ConsoleProgress), tensorboard_log, checkpoint, rundir, runs
(evaluate a run directory), distributed (torchrun, SyncBN), optim (optimizers, EMA),
budget + step_time + duration (training to a wall-time budget: measured once, recorded).
"""
