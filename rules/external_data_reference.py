"""SEC003 external-data-reference."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from auditor.graph.model import IssueKind, ModelGraph
from auditor.graph.source import is_keras_hub_object
from auditor.results.findings import Finding, Severity
from auditor.rules._references import keras_class
from auditor.rules._security import issue_findings, located_objects, where
from auditor.rules.base import Rule, RuleContext

_LOOKUPS = frozenset({"StringLookup", "IntegerLookup", "TextVectorization"})
#: What keras_hub tokenizers open as a file when given a string (WordPiece and BytePair
#: vocabularies and merges, a SentencePiece model): a preset stores them as assets and
#: leaves these null.
_HUB_FILES = ("vocabulary", "merges", "proto")


class ExternalDataReference(Rule):
    """## What it does
    Reports content that points outside the model file: HDF5 soft and external links,
    datasets with external storage, virtual datasets, lookup layers whose vocabulary is a
    file path, and keras_hub tokenizers (in a preset's `tokenizer.json`,
    `preprocessor.json` or `task.json`) whose vocabulary, merges or SentencePiece proto is
    a path or URL. None of them is followed or read.

    ## Why is this bad?
    h5py follows an external-storage dataset to any file on the machine, so reading the
    "weights" reads `/etc/passwd` or an SSH key instead, and a lookup layer loads its
    vocabulary from a path chosen by the file's author. Either way the model exfiltrates
    or depends on data it does not contain.

    ## Example
    ```python
    f.create_dataset("weights", shape=(64,), external=[("/home/user/.ssh/id_rsa", 0, 64)])
    ```

    Use instead:
    ```python
    model.save("model.keras")  # every tensor stored inside the file
    ```

    ## Options
    None.

    ## References
    - CVE-2026-1669 (HDF5 external storage read through model loading)
    - CVE-2025-12058 (file paths in preprocessing-layer configs; keras_hub tokenizers
      open a string vocabulary the same way)
    """

    code: ClassVar[str] = "SEC003"
    name: ClassVar[str] = "external-data-reference"
    severity: ClassVar[Severity] = Severity.ERROR
    judges_unreadable: ClassVar[bool] = True

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        yield from issue_findings(
            self,
            ctx,
            model,
            frozenset({IssueKind.EXTERNAL_REFERENCE}),
            "The file points outside itself: {issue}. It was not followed.",
            "Re-save the model with `model.save()` so every tensor is stored inside the file; "
            "do not load this one.",
        )
        for document, path, value, layer_path, layer_class in located_objects(model):
            config = value.get("config")
            if not isinstance(config, Mapping):
                continue
            if is_keras_hub_object(value):
                yield from self._hub_files(ctx, document, path, value, config)
                continue
            if keras_class(value, _LOOKUPS) is None:
                continue
            vocabulary = config.get("vocabulary")
            if isinstance(vocabulary, str):
                yield self.finding(
                    ctx,
                    f"Lookup layer `{layer_path}` reads its vocabulary from the file path "
                    f"{vocabulary!r} when loaded. Received: vocabulary={vocabulary!r}",
                    layer_path=layer_path,
                    layer_class=layer_class,
                    config_key=where(document, f"{path}.config.vocabulary"),
                    fix="Store the vocabulary in the model (pass a list, or adapt() the layer) "
                    "instead of a path.",
                    details={"path": vocabulary},
                )

    def _hub_files(
        self,
        ctx: RuleContext,
        document: str,
        path: str,
        value: Mapping[str, Any],
        config: Mapping[str, Any],
    ) -> Iterator[Finding]:
        for key in _HUB_FILES:
            target = config.get(key)
            if not isinstance(target, str):
                continue
            name = value.get("class_name")
            yield self.finding(
                ctx,
                f"keras_hub `{name}` opens the file {target!r} as its `{key}` when loaded: "
                "a path or URL chosen by the preset's author. Received: "
                f"{key}={target!r}",
                layer_path="",
                layer_class=name if isinstance(name, str) else None,
                config_key=where(document, f"{path}.config.{key}" if path else f"config.{key}"),
                fix="Use a preset that stores its vocabulary as an asset (`save_to_preset` "
                f"leaves `{key}` null), or pass the vocabulary yourself.",
                details={"path": target, "key": key},
            )
