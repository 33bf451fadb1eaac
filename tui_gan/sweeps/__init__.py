"""Sweeps: a grid of training runs over options and seeds, run K at a time by one coordinator
job, each cell an ordinary run folder inside the sweep folder.

grid.py     `tui-gan sweep`'s options -> the cells (each a `tui-gan train` command line)
state.py    sweep.json: the grid and each cell's state, written atomically
cell.py     one cell as submitit runs it: `tui-gan train` in a child process, signals passed on
runner.py   the coordinator: K cells at a time per GPU (or on the CPU), stop, resume
results.py  results.csv / results.json and the leaderboard table"""
