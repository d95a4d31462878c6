#!/usr/bin/env python3
"""No module imports one that imports it back: for each crate (the shared crate and every
function), the graph of its top-level modules by their `crate::<module>` references, checked
for cycles. And in every function the imports point one way: model <- plan <- apply <-
handler, the ports depend on the model (and the settings), never on a plan or a report, so
a newcomer finds the same direction everywhere. Part of `make lint`."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REF = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")


def modules(src: Path) -> dict[str, str]:
    """Top-level module name -> its source text (a `plan/` folder counts as one module)."""
    out = {}
    for path in sorted(src.glob("*.rs")):
        if path.stem not in ("lib", "main"):
            out[path.stem] = path.read_text()
    for folder in sorted(p for p in src.iterdir() if p.is_dir() and (p / "mod.rs").exists()):
        out[folder.name] = "\n".join(f.read_text() for f in sorted(folder.rglob("*.rs")))
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


# In a function crate, what each layer must not import. Modules not named here (event, lease,
# page, schedule ...) are free, cycles aside.
LAYERS = ("plan", "ports", "apply", "report", "handler")
FORBIDDEN = {
    "model": {"plan", "ports", "apply", "report", "handler", "event"},
    "config": set(LAYERS),
    "plan": {"ports", "apply", "report", "handler"},
    "ports": {"plan", "apply", "report", "handler"},
    "apply": {"handler"},
    "report": {"handler"},
}


def direction(crate: str, graph: dict[str, set[str]]) -> list[str]:
    return [
        f"modules: {crate}: {name} imports {dep} (the direction is model <- plan <- apply <- handler; ports depend on the model)"
        for name, deps in sorted(graph.items())
        for dep in sorted(deps & FORBIDDEN.get(name, set()))
    ]


def features(src: Path) -> dict[str, dict[str, set[str]]]:
    """A function's feature folders (instance-launcher's `launch/`, `mine/`), each with the graph
    of its own layers: `mod.rs` routes (the feature's handler), its files are the layers."""
    out = {}
    for folder in sorted(p for p in src.iterdir() if p.is_dir() and (p / "mod.rs").exists()):
        files = {f.stem: f.read_text() for f in folder.glob("*.rs") if f.stem != "mod"}
        if not set(files) & set(LAYERS):
            continue
        ref = re.compile(rf"\b(?:crate::{folder.name}::|super::)([a-z_][a-z0-9_]*)")
        out[folder.name] = {
            name: {m for m in ref.findall(text) if m in files and m != name}
            for name, text in files.items()
        }
    return out


def main() -> int:
    crates = [ROOT / "shared" / "src"] + sorted((ROOT / "functions").glob("*/src"))
    bad = 0
    for src in crates:
        mods = modules(src)
        graph = {
            name: {m for m in REF.findall(text) if m in mods and m != name}
            for name, text in mods.items()
        }
        crate = src.parent.name
        for cycle in cycles(graph):
            bad += 1
            print(f"modules: {crate}: {' -> '.join(cycle)}", file=sys.stderr)
        if src.parent.parent.name == "functions":
            for problem in direction(crate, graph):
                bad += 1
                print(problem, file=sys.stderr)
            for feature, layers in features(src).items():
                for cycle in cycles(layers):
                    bad += 1
                    print(f"modules: {crate}/{feature}: {' -> '.join(cycle)}", file=sys.stderr)
                for problem in direction(f"{crate}/{feature}", layers):
                    bad += 1
                    print(problem, file=sys.stderr)
    if bad:
        print(f"modules: {bad} import cycles or imports against the direction", file=sys.stderr)
        return 1
    print(f"modules: {len(crates)} crates, no module imports one that imports it back; every function's imports point one way")
    return 0


if __name__ == "__main__":
    sys.exit(main())
