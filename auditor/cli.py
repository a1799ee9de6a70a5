"""Command line: `audit [check] PATH...`, `audit fix`, `audit rules`, `audit rule CODE`,
`audit schema`, `audit history` and `audit compare` (in `auditor.cli_views`).

The only module that prints or exits. Exit codes: 0 nothing at or above `--fail-on`; 1
findings at or above it (AUD001 counts); 2 usage errors or no model file matched.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from auditor import __version__
from auditor.cli_common import EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE
from auditor.cli_common import Parser as _Parser
from auditor.cli_common import usage as _usage
from auditor.cli_common import write as _write

if TYPE_CHECKING:
    from auditor.cli_stream import Spools
    from auditor.config import AuditConfig
    from auditor.findings import ModelReport, Report
    from auditor.registry import Registry
    from auditor.reports import RuleInfo

__all__ = ["entry", "main"]

_SUBCOMMANDS = ("check", "fix", "rules", "rule", "schema", "history", "compare")
_FORMATS = ("text", "json", "html", "sarif", "junit", "github", "markdown")
_FAIL_ON = ("error", "warning", "info", "never")
# What each costs to gather, and the formats that show it: the CLI gathers it only for them
# (the inventory's statistics and histograms cost CPU; the hash of a huge file costs more
# than reading its tensors). JSON and HTML write each model's inventory as it finishes.
_SHOWN_BY = {
    "inventory": frozenset({"json", "html"}),  # per-weight statistics
    "digest": frozenset({"json", "html", "sarif"}),  # each file's SHA-256
}
# The formats that describe the rules they report (GitHub: in its job summary).
_DESCRIBE_RULES = frozenset({"html", "junit", "markdown", "sarif", "github"})
# Set by `entry` (the console scripts), which starts with garbage collection off; callers
# of `main` (tests, scripts) keep their own collector settings.
_collection_deferred = False


def _end_of_startup() -> None:
    """Garbage collection back on, once a command's imports are done.

    Importing numpy, h5py, pydantic and the rules allocates objects that live until the
    process exits, and collecting during the imports would only walk them again and
    again (about 10 ms of a small model's run). Frozen, they stay out of every later
    collection. Files are read with collection on, so cyclic garbage from one model does
    not outlive it.
    """
    global _collection_deferred
    if _collection_deferred:
        _collection_deferred = False
        gc.freeze()
        gc.enable()


def _codes(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _check_parser(prog: str) -> _Parser:
    parser = _Parser(
        prog=prog,
        description="Audit saved Keras models (.keras, .h5) for regularization and "
        "weight-decay mistakes, without executing anything in them.",
        epilog="other commands: audit fix MODEL -o OUT | audit compare A B | "
        "audit history HISTORY.json | audit rules | audit rule CODE | audit schema "
        "(each takes --help)",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="model files or folders")
    parser.add_argument("--format", choices=_FORMATS, default="text", help="output format")
    parser.add_argument(
        "-o",
        "--output",
        metavar="[FORMAT:]FILE",
        action="append",
        default=[],
        help="write the report to FILE instead of stdout; FORMAT:FILE (e.g. sarif:out.sarif) "
        "writes that format, FORMAT:- to stdout; may repeat",
    )
    parser.add_argument(
        "--select",
        type=_codes,
        action="extend",
        metavar="CODES",
        help="rules to run: codes, prefixes (REG) or slugs, comma-separated",
    )
    parser.add_argument(
        "--ignore", type=_codes, action="extend", metavar="CODES", help="rules not to run"
    )
    parser.add_argument(
        "--extend-select",
        type=_codes,
        action="extend",
        metavar="CODES",
        help="rules to add to the selection",
    )
    parser.add_argument(
        "--fail-on",
        choices=_FAIL_ON,
        help="lowest severity that makes the exit code 1 (default: warning)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="configuration file (default: the nearest .keras-audit.toml, or pyproject.toml "
        "with [tool.keras-audit])",
    )
    parser.add_argument(
        "--show-settings",
        action="store_true",
        help="print the resolved configuration and where each value came from, then exit",
    )
    parser.add_argument(
        "--baseline", metavar="FILE", help="findings recorded in FILE do not fail the gate"
    )
    parser.add_argument(
        "--write-baseline",
        metavar="FILE",
        help="record the current findings in FILE (a new baseline; fixed entries are dropped)",
    )
    parser.add_argument("--jobs", type=int, metavar="N", help="worker processes for many files")
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="per-file time limit; a file over it is reported as unreadable (default: 300)",
    )
    parser.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even when findings are reported"
    )
    parser.add_argument(
        "--expect-pretrained",
        action="store_true",
        default=None,
        help="fine-tuning gate: weights at initialization are errors",
    )
    parser.add_argument(
        "--reference",
        metavar="REF",
        help="a reference model file: report layers whose weights differ from it (WGT002)",
    )
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print fixes and config keys with each finding"
    )
    parser.add_argument("--debug", action="store_true", help="re-raise rule crashes")
    parser.add_argument("--version", action="version", version=f"keras-audit {__version__}")
    return parser


def _use_color(choice: str, stream: TextIO) -> bool:
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty()


def _check(argv: Sequence[str]) -> int:
    from auditor.cli_stream import Spools
    from auditor.config import load_config, resolve
    from auditor.engine import discover, is_glob, run
    from auditor.errors import UsageError
    from auditor.gate import BaselineBuilder, write_baseline
    from auditor.loaders.guard import disable_hdf5_plugins
    from auditor.registry import load_registry
    from auditor.reports import RenderOptions

    args = _check_parser("audit").parse_args(argv)
    overrides = {
        key: value
        for key, value in (
            ("select", args.select),
            ("ignore", args.ignore),
            ("extend_select", args.extend_select),
            ("fail_on", args.fail_on),
            ("expect_pretrained", args.expect_pretrained),
            ("baseline", args.baseline),
            ("jobs", args.jobs),
            ("timeout", args.timeout),
        )
        if value is not None
    }
    try:
        config, sources = resolve(load_config(args.config), overrides)
    except UsageError as exc:
        _usage(str(exc))
    if args.show_settings:
        sys.stdout.write(_settings_text(config, sources))
        return EXIT_CLEAN
    if not args.paths:
        _usage("give at least one model file or folder (or --show-settings)")
    for path in args.paths:
        if not Path(path).exists() and not Path(path).is_symlink() and not is_glob(path):
            _usage(f"no such file or folder. Received: {path!r}")
    if args.reference is not None and not Path(args.reference).is_file():
        _usage(f"no such reference model file. Received: --reference {args.reference!r}")
    files = discover(args.paths)
    if not files:
        _usage(f"no model file (*.keras, *.h5, *.hdf5) found in {', '.join(args.paths)}")
    disable_hdf5_plugins()
    outputs = _outputs(args.output, args.format)
    shown = {fmt for fmt, _ in outputs}
    unshown = {key: False for key, formats in _SHOWN_BY.items() if not formats & shown}
    config = config.model_copy(update=unshown)
    machine = any(fmt != "text" for fmt, target in outputs if target is None)
    registry = load_registry()  # once: it scans the installed distributions for plugins
    _end_of_startup()  # every module a check needs is imported by now
    rules = _rule_infos(registry) if shown & _DESCRIBE_RULES else {}
    options = [
        RenderOptions(
            color=target is None and fmt == "text" and _use_color(args.color, sys.stdout),
            verbose=args.verbose,
            rules=rules,
        )
        for fmt, target in outputs
    ]
    # Every output is written model by model, and so are GitHub's job summary (Markdown,
    # after the outputs' spools) and the baseline: the run keeps nothing of a model.
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY") if "github" in shown else None
    # `--quiet` text is its summary line alone: it needs no parts.
    formats: list[str | None] = [
        None if args.quiet and fmt == "text" else fmt for fmt, _ in outputs
    ]
    spool_options = list(options)
    if summary_file:
        formats.append("markdown")
        spool_options.append(RenderOptions(rules=rules))
    try:
        spools = Spools(formats, spool_options)
    except UsageError as exc:
        _usage(str(exc))
    builder = BaselineBuilder() if args.write_baseline else None

    def on_model(model: ModelReport) -> None:
        if builder is not None:
            builder.add(model)
        spools.hook(model)

    with spools, _progress(files, quiet=args.quiet or machine) as progress:
        try:
            report = run(
                files,
                config,
                registry=registry,
                debug=args.debug,
                reference=args.reference,
                progress=progress,
                on_model=on_model,
            )
        except UsageError as exc:
            _usage(str(exc))
        _write_outputs(report, outputs, spools, quiet=args.quiet)
        if summary_file:
            _job_summary(spools[len(outputs)].document(report), summary_file)
    _gate_notes(report)
    if builder is not None:
        try:
            baseline = builder.baseline()
            write_baseline(baseline, args.write_baseline)
        except UsageError as exc:
            _usage(str(exc))
        sys.stderr.write(
            f"audit: wrote {args.write_baseline} ({len(baseline.entries)} entries, "
            f"{sum(e.count for e in baseline.entries)} findings)\n"
        )
        return EXIT_CLEAN
    return EXIT_CLEAN if args.exit_zero else report.exit_code(config.fail_on)


def _write_outputs(
    report: Report,
    outputs: Sequence[tuple[str, str | None]],
    spools: Spools,
    *,
    quiet: bool,
) -> None:
    """Each output, written around its spooled parts (`--quiet` text: its last line)."""
    from auditor.reports.text import summary_line

    for index, (fmt, target) in enumerate(outputs):
        if quiet and fmt == "text":
            _write(summary_line(report) + "\n", target)
        else:
            _write(spools[index].document(report), target)


def _settings_text(config: AuditConfig, sources: Mapping[str, str]) -> str:
    """`name = value  # source` for every setting, TOML-like."""
    data = config.model_dump(mode="json", by_alias=True)
    lines = []
    for name in type(config).model_fields:
        key = name.replace("_", "-")
        lines.append(f"{key} = {json.dumps(data[key])}  # {sources.get(name, 'default')}")
    return "\n".join(lines) + "\n"


def _gate_notes(report: Report) -> None:
    """Unused or expired suppressions and stale baseline entries, on stderr."""
    for item in report.unused_suppressions:
        state = "has expired" if item.expired else "matched no finding"
        sys.stderr.write(
            f"audit: warning: suppression of {item.code} (path {item.path!r}, layer "
            f"{item.layer!r}) {state}: remove it from the configuration\n"
        )
    for entry in report.stale_baseline:
        sys.stderr.write(
            f"audit: note: baseline entry {entry.code} {entry.model}:{entry.layer or '<model>'} "
            f"records {entry.recorded} finding(s), {entry.found} remain: rewrite the baseline "
            "with --write-baseline\n"
        )


@contextmanager
def _progress(files: list[str], *, quiet: bool) -> Iterator[Callable[[int, int, str], None] | None]:
    """A rich progress bar on stderr for long runs on a terminal; nothing otherwise (and
    never while a machine format goes to stdout: `quiet`)."""
    if quiet or not show_progress(files, sys.stderr):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    )
    with bar:
        task = bar.add_task("auditing", total=len(files))

        def advance(done: int, total: int, path: str) -> None:
            bar.update(task, completed=done, description=Path(path).name[:40])

        yield advance


def show_progress(files: list[str], stream: TextIO) -> bool:
    """Long work on a terminal: many files, or a lot of bytes to read."""
    if not stream.isatty():
        return False
    size = sum(Path(f).stat().st_size for f in files if Path(f).is_file())
    return len(files) >= 5 or size >= 256 * 2**20


def _outputs(values: list[str], default: str) -> list[tuple[str, str | None]]:
    """(format, file or None for stdout) for each `-o`; stdout in `default` when none."""
    if not values:
        return [(default, None)]
    outputs = []
    for value in values:
        fmt, sep, path = value.partition(":")
        if sep and fmt in _FORMATS and path:
            outputs.append((fmt, None if path == "-" else path))
        elif sep and fmt.isalpha() and len(fmt) > 1 and fmt not in _FORMATS:
            _usage(
                f"unknown output format {fmt!r}; expected one of {', '.join(_FORMATS)}. "
                f"Received: --output {value!r}"
            )
        else:
            outputs.append((default, value))
    return outputs


def _job_summary(markdown: Iterable[str], target: str) -> None:
    """Append the Markdown summary, in pieces, to GitHub's job summary file."""
    try:
        with Path(target).open("a", encoding="utf-8") as stream:
            stream.writelines(markdown)
    except OSError as exc:
        sys.stderr.write(f"audit: warning: cannot write $GITHUB_STEP_SUMMARY ({exc.strerror})\n")


def _rule_infos(registry: Registry | None = None) -> dict[str, RuleInfo]:
    """Every registered rule's metadata, for the renderers."""
    from auditor.registry import load_registry
    from auditor.reports import RuleInfo

    return {
        rule.code: RuleInfo(
            code=rule.code,
            name=rule.name,
            severity=rule.severity.value,
            summary=rule.summary(),
            docs=rule.docs(),
            mode=_mode(rule.requires),
        )
        for rule in (registry or load_registry()).rules
    }


def _fix_parser() -> _Parser:
    from auditor.fix.plan import CATEGORIES, DEFAULT_EXCLUDE

    parser = _Parser(
        prog="audit fix",
        description="Rewrite the regularizers in a saved model's config (.keras config.json "
        "or .h5 model_config); every weight byte is copied unchanged. Imports no "
        "tensorflow. The output is then audited, so you see what changed and what remains.",
    )
    parser.add_argument("model", metavar="MODEL", help="a .keras or legacy .h5 model file")
    parser.add_argument("-o", "--output", metavar="OUT", help="where to write the fixed model")
    parser.add_argument("--in-place", action="store_true", help="overwrite MODEL itself")
    parser.add_argument("--l2", type=float, default=0.0, help="L2 coefficient to set")
    parser.add_argument("--l1", type=float, default=0.0, help="L1 coefficient to set")
    parser.add_argument("--remove", action="store_true", help="remove regularizers instead")
    parser.add_argument(
        "--exclude",
        type=_codes,
        action="extend",
        metavar="CATEGORIES",
        help=f"weight categories to leave alone, comma-separated, from {', '.join(CATEGORIES)} "
        f"(default: {','.join(DEFAULT_EXCLUDE)}; with --remove: none)",
    )
    parser.add_argument("--fail-on", choices=_FAIL_ON, default="warning")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    return parser


def _fix(argv: Sequence[str]) -> int:
    from auditor.config import AuditConfig
    from auditor.engine import run
    from auditor.errors import FixError
    from auditor.fix.files import fix_file
    from auditor.fix.plan import DEFAULT_EXCLUDE, target_regularizer
    from auditor.loaders.guard import disable_hdf5_plugins
    from auditor.reports import RENDERERS, RenderOptions

    args = _fix_parser().parse_args(argv)
    source = Path(args.model)
    if not source.is_file():
        _usage(f"no such model file. Received: {args.model!r}")
    if args.in_place == (args.output is not None):
        _usage("give exactly one of -o OUT and --in-place")
    output = source if args.in_place else Path(args.output)
    if not args.in_place and output.exists() and output.resolve() == source.resolve():
        _usage(f"refusing to overwrite the input; use --in-place. Received: -o {args.output!r}")
    if args.remove == bool(args.l1 or args.l2):
        _usage(
            "give --l2 and/or --l1 to set regularizers, or --remove to remove them. "
            f"Received: --l2 {args.l2} --l1 {args.l1}{' --remove' if args.remove else ''}"
        )
    exclude = args.exclude if args.exclude is not None else ([] if args.remove else DEFAULT_EXCLUDE)
    disable_hdf5_plugins()
    try:
        target = None if args.remove else target_regularizer(args.l2, args.l1)
        result = fix_file(source, output, target, exclude)
    except ValueError as exc:
        _usage(str(exc))
    except FixError as exc:
        sys.stderr.write(f"audit fix: error: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:
        _usage(f"cannot write the fixed model. Received: {output} ({exc.strerror})")
    sys.stdout.write(f"{source} -> {output}: {result.summary()}\n\n")
    report = run([output], AuditConfig(fail_on=args.fail_on))
    options = RenderOptions(color=_use_color(args.color, sys.stdout))
    sys.stdout.write(RENDERERS["text"](report, options=options))
    return report.exit_code(args.fail_on)


def _rules(argv: Sequence[str]) -> int:
    from auditor.registry import load_registry

    parser = _Parser(prog="audit rules", description="List the rule catalog.")
    parser.add_argument(
        "--format",
        choices=("text", "json", "markdown"),
        default="text",
        help="markdown: the rules reference (docs/rules.md)",
    )
    args = parser.parse_args(argv)
    registry = load_registry()
    rows = [
        {
            "code": rule.code,
            "name": rule.name,
            "severity": rule.severity.value,
            "mode": _mode(rule.requires),
            "enabled": True,
            "summary": rule.summary(),
            "options": rule.option_defaults(),
        }
        for rule in registry.rules
    ]
    if args.format == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return EXIT_CLEAN
    if args.format == "markdown":
        from auditor.reports.docs import rules_reference

        sys.stdout.write(rules_reference(list(_rule_infos().values())))
        return EXIT_CLEAN
    for row in rows:
        sys.stdout.write(
            f"{row['code']}  {row['name']:<30} {row['severity']:<8} {row['mode']:<6} "
            f"{row['summary']}\n"
        )
    return EXIT_CLEAN


def _mode(requires: frozenset[str]) -> str:
    if "live" in requires:
        return "live"
    return "file+w" if "weights" in requires else "file"


def _rule(argv: Sequence[str]) -> int:
    from auditor.registry import load_registry

    parser = _Parser(prog="audit rule", description="Print a rule's documentation.")
    parser.add_argument("rule", metavar="CODE|SLUG")
    args = parser.parse_args(argv)
    try:
        rule = load_registry().get(args.rule)
    except ValueError as exc:
        _usage(str(exc))
    from auditor.reports import DOCS_URL, anchor

    header = f"# {rule.code} {rule.name} ({rule.severity.value})\n\n"
    link = DOCS_URL.format(anchor=anchor(rule.code, rule.name))
    sys.stdout.write(header + rule.docs() + f"\n\nOnline: {link}\n")
    return EXIT_CLEAN


def _schema(argv: Sequence[str]) -> int:
    _Parser(prog="audit schema", description="Print the report's JSON schema.").parse_args(argv)
    from auditor.reports.json import schema_text

    sys.stdout.write(schema_text())
    return EXIT_CLEAN


def _history(argv: Sequence[str]) -> int:
    from auditor.cli_views import history_command

    return history_command(argv)


def _compare(argv: Sequence[str]) -> int:
    from auditor.cli_views import compare_command

    return compare_command(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line as a function: parse `argv`, run, return the exit code (the
    console scripts call `entry`, which exits the process fast afterwards)."""
    # pydantic scans every installed distribution for plugins on first use (tens of ms in
    # a big environment); they observe validation, and the CLI's models are internal.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    # NumPy's OpenBLAS starts a thread per core at import (tens of ms of CPU); the
    # statistics are reductions and small products, which one thread does as fast.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        sys.stdout.write(f"keras-audit {__version__}\n")
        return EXIT_CLEAN
    command = args[0] if args and args[0] in _SUBCOMMANDS else "check"
    rest = args[1:] if args and args[0] in _SUBCOMMANDS else args
    handlers = {
        "check": _check,
        "fix": _fix,
        "rules": _rules,
        "rule": _rule,
        "schema": _schema,
        "history": _history,
        "compare": _compare,
    }
    if command != "check":
        _end_of_startup()  # only a check defers collection past its imports
    try:
        return handlers[command](rest)
    except KeyboardInterrupt:
        sys.stderr.write("audit: interrupted\n")
        return 130


def entry() -> NoReturn:
    """The console scripts and `python -m auditor`: `main()`, then a fast exit.

    Tearing down an interpreter that has numpy, h5py and pydantic loaded takes tens of
    milliseconds, a sizeable share of a pre-commit run. By the time `main()` returns every
    report is written, every model file closed and the isolated child joined, so the
    process flushes its streams and logging and leaves with `os._exit`. Garbage
    collection is off until the command's imports are done (`_end_of_startup`).
    """
    global _collection_deferred
    gc.disable()
    _collection_deferred = True
    code = main()
    try:
        if "logging" in sys.modules:
            sys.modules["logging"].shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # `audit ... | head`: the reader went away
        code = code or EXIT_FINDINGS
    os._exit(code)


if __name__ == "__main__":
    entry()
