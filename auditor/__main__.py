"""`python -m auditor`."""

from auditor.cli import entry

# Guarded: a process started with the spawn method (a Dask worker of `--cluster local:N`)
# runs this module again as `__mp_main__`.
if __name__ == "__main__":
    entry()
