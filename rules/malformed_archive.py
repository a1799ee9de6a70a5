"""SEC004 malformed-archive."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.model import IssueKind, ModelGraph
from auditor.results.findings import Finding, Severity
from auditor.rules._security import issue_findings
from auditor.rules.base import Rule, RuleContext

_KINDS = frozenset({IssueKind.UNSAFE_ARCHIVE, IssueKind.MALFORMED, IssueKind.OVER_LIMIT})


class MalformedArchive(Rule):
    """## What it does
    Reports a file built to attack the reader rather than to hold a model: zip member
    names with `..`, absolute or backslash paths, duplicate or encrypted members,
    compression ratios or declared sizes over the caps (zip bombs), JSON nested beyond
    the depth cap or holding more values than the values cap, HDF5 datasets declaring far
    more data than they store (shape bombs) or kept in compressed chunks over the chunk
    cap, more HDF5 objects than the object cap, a file that is both a zip archive and an
    HDF5 file (which half Keras loads depends on its name), and layer names that lead out
    of a folder (`../x`, `/x`). The offending part is never extracted or read.

    ## Why is this bad?
    Keras extracts archives and allocates declared shapes before checking them: a member
    named `../../.bashrc` writes outside the target folder, a 1 kB member that inflates
    to 100 GB fills the disk, a dataset declaring a petabyte exhausts memory, and a layer
    named `../../x` makes Keras write that layer's assets outside the folder it extracts
    them to. Duplicate members and polyglot files make different tools, and different
    Keras versions, see different models in the same file.

    ## Example
    ```python
    zipfile.ZipFile("model.keras", "a").writestr("../../evil.py", payload)
    ```

    Use instead:
    ```python
    model.save("model.keras")
    ```

    ## Options
    None. The caps are `limits` in the configuration (`[tool.keras-audit.limits]`:
    `max-file-bytes`, `max-json-bytes`, `max-json-depth`, `max-members`,
    `max-json-values`, `max-compression-ratio`, `max-inflated-bytes`, `max-tensor-bytes`,
    `max-sparse-ratio`, `max-chunk-bytes`, `max-h5-objects`).

    ## References
    - CVE-2026-0897 (HDF5 shape bomb in model loading)
    - CVE-2026-12479 (path traversal through names in `.keras` asset extraction,
      `DiskIOStore`)
    """

    code: ClassVar[str] = "SEC004"
    name: ClassVar[str] = "malformed-archive"
    severity: ClassVar[Severity] = Severity.ERROR
    judges_unreadable: ClassVar[bool] = True

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        yield from issue_findings(
            self,
            ctx,
            model,
            _KINDS,
            "The file is malformed in a way that attacks readers: {issue}.",
            "Do not load this file; re-save the model with `model.save()` from a trusted "
            "environment.",
        )
        for layer in model.layers():
            if _leaves_its_folder(layer.name):
                yield self.finding(
                    ctx,
                    f"Layer name {layer.name!r} is a path out of a folder: Keras stores and "
                    "extracts a layer's assets under its name, so an absolute name or one with "
                    f"a `..` part reaches outside the folder it extracts to. Received: "
                    f"name={layer.name!r}",
                    layer=layer,
                    config_key=f"{layer.config_key}.config.name" if layer.config_key else None,
                    fix="Do not load this file; layer names Keras writes never hold a path.",
                    details={"name": layer.name},
                )


def _leaves_its_folder(name: str) -> bool:
    """True for a name that, joined to a folder, leads out of it: absolute (`/x`, `\\x`,
    `C:x`) or with a `..` part (`../x`, `a\\..\\..\\x`)."""
    name = _ESCAPED_SURROGATE.sub("", name)  # `\udc80` is how auditor.text shows one
    absolute = name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":")
    return absolute or ".." in re.split(r"[/\\]", name)


_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
