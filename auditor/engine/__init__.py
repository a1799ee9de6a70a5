"""The run: rule selection, the per-model audit, isolation of hostile files, the CI gate.

`runner` audits files (or a live model) into one Report; `judge` runs the selected rules
over one model graph with its tensor statistics; `file_audit` opens one file as hostile
input under the time limit; `isolation` runs files in killable child processes; `gate`
applies suppressions and the baseline; `config` and `registry` say what to run and how.
Nothing here prints or exits.
"""
