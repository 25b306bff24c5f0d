"""The machinery under every suite: a grid of runs planned over seeds, sent to an executor (local
processes or SLURM through submitit), collected from the run folders, and rendered as tables and figures.
It builds on `harness` and never the reverse."""
