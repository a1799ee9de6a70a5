"""What the pickles of an `.npz` weights member would import, found without unpickling.

Keras 3 can store a `.keras` archive's weights as `model.weights.npz` (`np.savez` of one
dict per layer): each `.npy` member of object dtype holds a pickle, and any NumPy that
loads it with `allow_pickle=True` runs whatever the pickle's globals name. Here each
member's header is parsed as NumPy's own format reader parses it (no `eval`), and the
pickles are walked opcode by opcode with the standard library's `pickletools` (never
`pickle.load`), the way fickling and picklescan do: `GLOBAL` and `INST` name their
module and attribute inline; `STACK_GLOBAL` takes them from the two items below it,
which a model of the unpickler's stack and memo (each opcode's declared effect,
strings kept) recovers. A global whose name cannot be recovered is reported as such.

See https://docs.python.org/3/library/pickletools.html and
https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html.
"""

from __future__ import annotations

import pickletools
import zipfile
from typing import BinaryIO

import numpy as np

from auditor.graph.source import PickleGlobal
from auditor.limits import Limits

__all__ = ["pickle_globals"]

_STRINGS = frozenset(
    {
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
        "UNICODE",
        "BINUNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE8",
    }
)
_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_GETS = frozenset({"GET", "BINGET", "LONG_BINGET"})
#: The most opcodes walked in one member (a weights pickle has a few per array).
_MAX_OPCODES = 5_000_000


def pickle_globals(file: BinaryIO, where: str, limits: Limits) -> tuple[list[PickleGlobal], str]:
    """The globals every pickled member of an npz archive (an open, seekable file)
    imports, and a note on what could not be walked ("" when everything was). Members
    are streamed: memory holds one opcode's argument at a time.

    Never raises for hostile bytes: what cannot be walked is said in the note.
    """
    found: list[PickleGlobal] = []
    notes: list[str] = []
    try:
        archive = zipfile.ZipFile(file)
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        return [], f"{where} is not a readable npz archive ({exc})"
    if len(members) > limits.max_members:
        return [], f"{where} holds {len(members):,} members, over the {limits.max_members:,} cap"
    for info in members:
        try:
            with archive.open(info) as member:
                if _holds_objects(member):
                    found.extend(_walk(member, info.filename))
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            notes.append(f"{info.filename} in {where} could not be walked ({exc})")
    return found, "; ".join(notes)


def _holds_objects(member: BinaryIO) -> bool:
    """Read a `.npy` header; True when the data after it is a pickle (object dtype)."""
    major, _ = np.lib.format.read_magic(member)
    if major == 1:
        _, _, dtype = np.lib.format.read_array_header_1_0(member)
    else:
        _, _, dtype = np.lib.format.read_array_header_2_0(member)
    return bool(dtype.hasobject)


_MARK = object()


def _walk(payload: BinaryIO, member: str) -> list[PickleGlobal]:
    """Model the unpickler's stack from each opcode's declared effect (`stack_before`,
    `stack_after`), keeping only strings (whatever else is None), and its memo."""
    stack: list[object] = []
    memo: dict[int, object] = {}
    found: list[PickleGlobal] = []
    for count, (opcode, arg, _) in enumerate(pickletools.genops(payload)):
        if count > _MAX_OPCODES:
            raise ValueError(f"over {_MAX_OPCODES:,} opcodes")
        name = opcode.name
        if name in _PUTS or name == "MEMOIZE":
            memo[len(memo) if name == "MEMOIZE" else int(arg)] = stack[-1] if stack else None
            continue
        popped = _pop(stack, opcode.stack_before)
        if name in ("GLOBAL", "INST"):
            module, _, attr = str(arg).partition(" ")
            found.append(PickleGlobal(member, module, attr))
        elif name == "STACK_GLOBAL":
            module, attr = [*popped, None, None][:2]
            found.append(
                PickleGlobal(
                    member,
                    module if isinstance(module, str) else "?",
                    attr if isinstance(attr, str) else "?",
                )
            )
        for item in opcode.stack_after:
            if item is pickletools.markobject:
                stack.append(_MARK)
            elif name in _STRINGS:
                stack.append(arg if isinstance(arg, str) else None)
            elif name in _GETS:
                stack.append(memo.get(int(arg)))
            else:
                stack.append(None)
        if name == "STOP":
            break
    return found


def _pop(stack: list[object], before: list[object]) -> list[object]:
    """Pop what an opcode consumes; return the items above any mark, bottom first."""
    if pickletools.markobject in before:
        items: list[object] = []
        while stack and (item := stack.pop()) is not _MARK:
            items.append(item)
        for _ in range(before.index(pickletools.markobject)):
            if stack:
                stack.pop()
        return items[::-1]
    count = len(before)
    taken = stack[-count:] if count else []
    del stack[len(stack) - len(taken) :]
    return taken
