"""`AuditConfig`: what to check and how strictly; and where it comes from.

Sources, lowest precedence first: the defaults, the nearest configuration file (searched
upwards from the working directory: `.keras-audit.toml`, whose keys are top-level, or
`pyproject.toml` with a `[tool.keras-audit]` table; or the file given with `--config`),
then the command line. Keys are kebab-case in files (`fail-on`) and snake_case in Python
(`fail_on`). Unknown keys and bad values are usage errors naming the key and what was
expected.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from auditor.errors import UsageError
from auditor.limits import Limits
from auditor.results.findings import FailOn, Severity

__all__ = [
    "CONFIG_FILES",
    "AuditConfig",
    "ConfigFile",
    "Suppress",
    "find_config",
    "load_config",
]

CONFIG_FILES = (".keras-audit.toml", "pyproject.toml")


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class Suppress(BaseModel):
    """One suppression: findings of `code` in models matching `path` and layers matching
    `layer` do not count, for `reason`, until `expires`.

    Attributes:
        code: str, a rule code, prefix (`REG`) or slug.
        path: str, a glob matched against the model path from the right
            (`models/mobilenet*.keras`).
        layer: str, a glob matched against the layer path (`*/conv_dw_*`; `""` is the
            model itself).
        reason: str, why (required: a suppression without one is a usage error).
        expires: date | None, after which the suppression no longer applies.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=_kebab)

    code: str = Field(min_length=1)
    path: str = "*"
    layer: str = "*"
    reason: str = Field(min_length=1)
    expires: dt.date | None = None

    def expired(self, today: dt.date | None = None) -> bool:
        return self.expires is not None and self.expires < (today or dt.date.today())

    def matches_path(self, path: str) -> bool:
        return self.path in ("*", "**") or PurePath(path.replace("\\", "/")).match(self.path)

    def matches_layer(self, layer_path: str) -> bool:
        return fnmatch.fnmatchcase(layer_path, self.layer)


class AuditConfig(BaseModel):
    """Rule selection, severities, options, suppressions, baseline and limits.

    Attributes:
        select: rule codes, prefixes or slugs to run (default: every rule).
        ignore: rules not to run (applied after `select` and `extend_select`).
        extend_select: rules to add to `select`.
        fail_on: the lowest severity that makes the exit code 1.
        severity: per-rule severity overrides, keyed by code or slug.
        rules: per-rule options, keyed by code or slug, validated against the rule's
            `Options` model.
        suppress: suppressions by model path, layer path and code.
        baseline: str | None, a baseline file: findings recorded there do not count.
        expect_pretrained: the fine-tuning gate: weights at initialization are errors.
        jobs: int, worker processes for many files.
        timeout: float | None, seconds one file may take before it is reported as
            unreadable (AUD001); None for no limit.
        limits: caps applied when reading files.
        inventory: bool, keep each model's per-weight inventory (statistics, histograms,
            initialization fits) in the report. The CLI turns it off when no requested
            format shows it (all but JSON and HTML); for those two it writes each model's
            part as the model finishes and keeps the model without it, so a run over many
            files holds only findings either way.
        digest: bool, hash each file with SHA-256 (JSON, SARIF and HTML show the hash).
            The CLI turns it off when no requested format shows it: on a multi-gigabyte
            file the hash costs more CPU than reading every tensor.
        no_weights: bool, read no tensor at all (`--no-weights`): the rules that judge
            the weights are not applicable. Without it, tensors are read only when a
            selected rule or a requested format needs them.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=_kebab, populate_by_name=True
    )

    select: list[str] = Field(default_factory=lambda: ["ALL"])
    ignore: list[str] = Field(default_factory=list)
    extend_select: list[str] = Field(default_factory=list)
    fail_on: FailOn = "warning"
    severity: dict[str, Severity] = Field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = Field(default_factory=dict)
    suppress: list[Suppress] = Field(default_factory=list)
    baseline: str | None = None
    expect_pretrained: bool = False
    jobs: int = Field(default=1, ge=1, le=256)
    timeout: float | None = Field(default=300.0, gt=0)
    limits: Limits = Field(default_factory=Limits)
    inventory: bool = True
    digest: bool = True
    no_weights: bool = False


class ConfigFile(BaseModel):
    """A configuration file found (or given) and the settings it holds."""

    model_config = ConfigDict(frozen=True)

    path: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)


def find_config(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The nearest `.keras-audit.toml`, or `pyproject.toml` with a `[tool.keras-audit]`
    table, in `start` (default: the working directory) or one of its parents."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        dedicated = folder / CONFIG_FILES[0]
        if dedicated.is_file():
            return dedicated
        pyproject = folder / CONFIG_FILES[1]
        if pyproject.is_file() and "keras-audit" in _read_toml(pyproject).get("tool", {}):
            return pyproject
    return None


def load_config(path: str | os.PathLike[str] | None = None) -> ConfigFile:
    """The settings of a configuration file (`path`, or the nearest one; none: empty).

    Raises:
        UsageError: for a missing or unparsable file, or a pyproject.toml without a
            `[tool.keras-audit]` table when one was given explicitly.
    """
    if path is None:
        found = find_config()
        if found is None:
            return ConfigFile()
        path = found
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"no such configuration file. Received: --config {os.fspath(path)!r}")
    data = _read_toml(file)
    if file.name == "pyproject.toml":
        table = data.get("tool", {}).get("keras-audit")
        if table is None:
            raise UsageError(f"{file} has no [tool.keras-audit] table")
        data = table
    if not isinstance(data, Mapping):
        raise UsageError(f"{file}: expected a table of settings")
    _check_spelling(data, str(file))
    _validate(dict(data), str(file))
    return ConfigFile(path=str(file), settings=dict(data))


def _check_spelling(data: Mapping[str, Any], where: str) -> None:
    """Files spell settings in kebab-case (`fail-on`); `fail_on` there is an unknown key."""
    tables = [("", data)]
    tables += [(f"suppress[{i}].", entry) for i, entry in enumerate(data.get("suppress") or [])]
    if isinstance(data.get("limits"), Mapping):
        tables.append(("limits.", data["limits"]))
    for prefix, table in tables:
        if not isinstance(table, Mapping):
            continue
        for key in table:
            if "_" in str(key):
                raise UsageError(
                    f"invalid configuration in {where}: {prefix}{key}: unknown key (did you "
                    f"mean {str(key).replace('_', '-')!r}?). Received: {table[key]!r}"
                )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path} ({exc.strerror})") from None


def _validate(settings: dict[str, Any], where: str) -> AuditConfig:
    try:
        return AuditConfig.model_validate(settings)
    except ValidationError as exc:
        raise UsageError(f"invalid configuration in {where}: {describe(exc)}") from None


def describe(exc: ValidationError) -> str:
    """Pydantic errors as `key: problem. Received: value`, joined (a validator's own
    message that names what it received is kept as it is)."""
    parts = []
    for error in exc.errors():
        key = ".".join(str(p) for p in error["loc"]) or "<root>"
        problem = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        received = "" if "Received:" in problem else f". Received: {error.get('input')!r}"
        parts.append(f"{key}: {problem}{received}")
    return "; ".join(parts)


def resolve(file: ConfigFile, overrides: Mapping[str, Any]) -> tuple[AuditConfig, dict[str, str]]:
    """The configuration from a file and command-line overrides, and where each setting
    came from (`default`, the file's path, or `command line`).

    Raises:
        UsageError: when the combination fails validation.
    """
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, value in file.settings.items():
        name = key.replace("-", "_")
        merged[name] = value
        sources[name] = file.path or "file"
    for key, value in overrides.items():
        merged[key] = value
        sources[key] = "command line"
    config = _validate(merged, "the command line" if overrides else file.path or "settings")
    for name in AuditConfig.model_fields:
        sources.setdefault(name, "default")
    return config, sources
