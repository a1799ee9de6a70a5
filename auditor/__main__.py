"""`python -m auditor`."""

from auditor.cli import entry

entry()
