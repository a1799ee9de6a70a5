"""`audit fix MODEL -o OUT`: rewrite the regularizers in a saved model's config, then audit
the output. Every weight byte is copied unchanged, and nothing imports tensorflow."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from auditor.cli.common import EXIT_USAGE, Parser, codes, usage, use_color, write
from auditor.results.findings import FAIL_ON
from auditor.text import display_path, is_url

__all__ = ["fix_command"]


def _parser() -> Parser:
    from auditor.fix.plan import CATEGORIES, DEFAULT_EXCLUDE

    parser = Parser(
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
        type=codes,
        action="extend",
        metavar="CATEGORIES",
        help=f"weight categories to leave alone, comma-separated, from {', '.join(CATEGORIES)} "
        f"(default: {','.join(DEFAULT_EXCLUDE)}; with --remove: none)",
    )
    parser.add_argument("--fail-on", choices=FAIL_ON, default="warning")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    return parser


def fix_command(argv: Sequence[str]) -> int:
    """`audit fix MODEL -o OUT`: rewrite the regularizers of a saved model's config."""
    from auditor.engine.config import AuditConfig
    from auditor.engine.runner import run
    from auditor.errors import FixError
    from auditor.fix.plan import DEFAULT_EXCLUDE, target_regularizer
    from auditor.fix.rewrite import fix_file
    from auditor.loaders.safe_hdf5 import disable_hdf5_plugins
    from auditor.reports import RENDERERS, RenderOptions

    args = _parser().parse_args(argv)
    for given in (args.model, args.output):
        if given is not None and is_url(given):
            usage(
                "audit fix reads and writes local files only (it rewrites the file's bytes): "
                f"copy the model here first. Received: {display_path(given)!r}"
            )
    source = Path(args.model)
    if not source.is_file():
        usage(f"no such model file. Received: {args.model!r}")
    if args.in_place == (args.output is not None):
        usage("give exactly one of -o OUT and --in-place")
    output = source if args.in_place else Path(args.output)
    if not args.in_place and output.exists() and output.resolve() == source.resolve():
        usage(f"refusing to overwrite the input; use --in-place. Received: -o {args.output!r}")
    if args.remove == bool(args.l1 or args.l2):
        usage(
            "give --l2 and/or --l1 to set regularizers, or --remove to remove them. "
            f"Received: --l2 {args.l2} --l1 {args.l1}{' --remove' if args.remove else ''}"
        )
    exclude = args.exclude if args.exclude is not None else ([] if args.remove else DEFAULT_EXCLUDE)
    disable_hdf5_plugins()
    try:
        target = None if args.remove else target_regularizer(args.l2, args.l1)
        result = fix_file(source, output, target, exclude)
    except ValueError as exc:
        usage(str(exc))
    except FixError as exc:
        sys.stderr.write(f"audit fix: error: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:
        usage(f"cannot write the fixed model. Received: {output} ({exc.strerror})")
    write(f"{display_path(source)} -> {display_path(output)}: {result.summary()}\n\n", None)
    report = run([output], AuditConfig(fail_on=args.fail_on))
    options = RenderOptions(color=use_color(args.color, sys.stdout))
    write(RENDERERS["text"](report, options=options), None)
    return report.exit_code(args.fail_on)
