"""`audit [check] PATH...`: audit model files and write every output, model by model.

Results go to stdout or `-o` files, progress to stderr (on a terminal only), and notes on
unused suppressions and stale baseline entries to stderr. Nothing of a model is kept once
its parts are written (`auditor.cli.spools`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from auditor import __version__
from auditor.cli.common import (
    EXIT_CLEAN,
    Parser,
    codes,
    rule_infos,
    usage,
    use_color,
    write,
)
from auditor.cli.startup import end_of_startup
from auditor.reports import FORMATS, RenderOptions, needs
from auditor.results.findings import FAIL_ON
from auditor.text import is_url

if TYPE_CHECKING:
    from auditor.cli.spools import Spools
    from auditor.engine.config import AuditConfig
    from auditor.results.findings import ModelReport, Report

__all__ = ["check_command", "show_progress"]


def _parser(prog: str) -> Parser:
    parser = Parser(
        prog=prog,
        description="Audit saved Keras models (.keras, .h5) for regularization and "
        "weight-decay mistakes, without executing anything in them.",
        epilog="other commands: audit fix MODEL -o OUT | audit compare A B | "
        "audit history HISTORY.json | audit rules | audit rule CODE | audit schema "
        "(each takes --help)",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="model files or folders")
    parser.add_argument("--format", choices=list(FORMATS), default="text", help="output format")
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
        type=codes,
        action="extend",
        metavar="CODES",
        help="rules to run: codes, prefixes (REG) or slugs, comma-separated",
    )
    parser.add_argument(
        "--ignore", type=codes, action="extend", metavar="CODES", help="rules not to run"
    )
    parser.add_argument(
        "--extend-select",
        type=codes,
        action="extend",
        metavar="CODES",
        help="rules to add to the selection",
    )
    parser.add_argument(
        "--fail-on",
        choices=FAIL_ON,
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
        "--cluster",
        metavar="ADDRESS",
        help="audit each file as a task on a Dask cluster: a scheduler's address "
        "(tcp://scheduler:8786) or local:N for N worker processes here (the cluster extra)",
    )
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
        "--no-weights",
        action="store_true",
        default=None,
        help="read no tensor (the weight rules do not run): a configuration audit that "
        "fetches kilobytes of a remote model",
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
        "-v",
        "--verbose",
        action="store_true",
        help="print fixes and config keys with each finding, and list every per-layer "
        "finding that text, Markdown and GitHub output fold into one line",
    )
    parser.add_argument("--debug", action="store_true", help="re-raise rule crashes")
    parser.add_argument("--version", action="version", version=f"keras-audit {__version__}")
    return parser


def check_command(argv: Sequence[str]) -> int:
    """`audit [check] PATH...`: audit model files, write every output, return the exit code."""
    from auditor.cli.spools import Spools
    from auditor.engine.config import load_config, resolve
    from auditor.engine.discovery import discover, is_glob
    from auditor.engine.gate import BaselineBuilder, write_baseline
    from auditor.engine.registry import load_registry
    from auditor.engine.runner import run
    from auditor.errors import UsageError
    from auditor.loaders.safe_hdf5 import disable_hdf5_plugins

    args = _parser("audit").parse_args(argv)
    overrides = {
        key: value
        for key, value in (
            ("select", args.select),
            ("ignore", args.ignore),
            ("extend_select", args.extend_select),
            ("fail_on", args.fail_on),
            ("expect_pretrained", args.expect_pretrained),
            ("no_weights", args.no_weights),
            ("baseline", args.baseline),
            ("jobs", args.jobs),
            ("timeout", args.timeout),
        )
        if value is not None
    }
    try:
        config, sources = resolve(load_config(args.config), overrides)
    except UsageError as exc:
        usage(str(exc))
    if args.show_settings:
        write(_settings_text(config, sources), None)
        return EXIT_CLEAN
    if args.cluster is not None and args.jobs is not None and args.jobs > 1:
        usage(
            f"--jobs and --cluster are two ways to audit files side by side: give one. "
            f"Received: --jobs {args.jobs} --cluster {args.cluster!r}"
        )
    if not args.paths:
        usage("give at least one model file or folder (or --show-settings)")
    for path in args.paths:
        if is_url(path):
            continue  # opened (or reported as AUD001) like any model
        if not Path(path).exists() and not Path(path).is_symlink() and not is_glob(path):
            usage(f"no such file or folder. Received: {path!r}")
    if (
        args.reference is not None
        and not is_url(args.reference)
        and not Path(args.reference).is_file()
    ):
        usage(f"no such reference model file. Received: --reference {args.reference!r}")
    try:
        files = discover(
            args.paths, max_entries=config.limits.max_discovered_entries, seconds=config.timeout
        )
    except UsageError as exc:
        usage(str(exc))
    if not files:
        usage(f"no model file (*.keras, *.h5, *.hdf5) found in {', '.join(args.paths)}")
    disable_hdf5_plugins()
    outputs = _outputs(args.output, args.format)
    shown = {fmt for fmt, _ in outputs}
    # GitHub's job summary is written in Markdown, model by model like every output.
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY") if "github" in shown else None
    needed = needs(shown | ({"markdown"} if summary_file else set()))
    config = config.model_copy(
        update={key: False for key in ("inventory", "digest") if key not in needed}
    )
    machine = any(fmt != "text" for fmt, target in outputs if target is None)
    registry = load_registry()  # once: it scans the installed distributions for plugins
    end_of_startup()  # every module a check needs is imported by now
    rules = rule_infos(registry) if "rules" in needed else {}
    options = [
        RenderOptions(
            color=target is None and fmt == "text" and use_color(args.color, sys.stdout),
            verbose=args.verbose,
            rules=rules,
        )
        for fmt, target in outputs
    ]
    # Every output is written model by model, and so are the job summary (after the
    # outputs' spools) and the baseline: the run keeps nothing of a model.
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
        usage(str(exc))
    builder = BaselineBuilder() if args.write_baseline else None

    def on_model(model: ModelReport) -> None:
        if builder is not None:
            builder.add(model)
        spools.hook(model)

    with spools, _progress(files, quiet=args.quiet or machine) as progress:
        try:
            with _cluster(args.cluster) as client:
                report = run(
                    files,
                    config,
                    registry=registry,
                    debug=args.debug,
                    reference=args.reference,
                    progress=progress,
                    on_model=on_model,
                    client=client,
                )
        except UsageError as exc:
            usage(str(exc))
        _write_outputs(report, outputs, spools, quiet=args.quiet)
        if summary_file:
            _job_summary(spools[len(outputs)].document(report), summary_file)
    _gate_notes(report)
    if builder is not None:
        try:
            baseline = builder.baseline()
            write_baseline(baseline, args.write_baseline)
        except UsageError as exc:
            usage(str(exc))
        sys.stderr.write(
            f"audit: wrote {args.write_baseline} ({len(baseline.entries)} entries, "
            f"{sum(e.count for e in baseline.entries)} findings)\n"
        )
        return EXIT_CLEAN
    return EXIT_CLEAN if args.exit_zero else report.exit_code(config.fail_on)


@contextmanager
def _cluster(spec: str | None) -> Iterator[object | None]:
    """The Dask client for `--cluster SPEC`, or None without one."""
    if spec is None:
        yield None
        return
    from auditor.engine.cluster import connect

    with connect(spec) as client:
        yield client


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
            write(summary_line(report) + "\n", target)
        else:
            write(spools[index].document(report), target)


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
        if sep and fmt in FORMATS and path:
            outputs.append((fmt, None if path == "-" else path))
        elif sep and fmt.isalpha() and len(fmt) > 1 and fmt not in FORMATS:
            usage(
                f"unknown output format {fmt!r}; expected one of {', '.join(FORMATS)}. "
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
