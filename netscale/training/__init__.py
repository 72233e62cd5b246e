"""Training: recipes as data, schedules, progressive learning, the loop, checkpoints, DDP.

`netscale.train(...)` (netscale/api.py) is the entry point; it calls `training.loop.train`.
"""
