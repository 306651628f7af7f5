"""Generate editors/vscode/src/protocol.ts (interfaces, method tables) from history.model.json.

Run `python protocol/generate_typescript.py` after editing the model; a test fails while the
committed file differs from what this prints (`--check`), as for the Python types.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

MODEL_PATH = Path(__file__).with_name("history.model.json")
OUTPUT_PATH = Path(__file__).parent.parent / "editors" / "vscode" / "src" / "protocol.ts"
BASE_TYPES = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean", "json": "unknown"}


def ts_type(type_: dict[str, Any]) -> str:
    kind = type_["kind"]
    if kind == "base":
        return BASE_TYPES[type_["name"]]
    if kind == "reference":
        return str(type_["name"])
    if kind == "array":
        element = ts_type(type_["element"])
        return f"{element}[]" if element.isidentifier() else f"Array<{element}>"
    if kind == "map":
        return f"Record<string, {ts_type(type_['value'])}>"
    raise ValueError(f"unknown type kind {kind!r}")


def comment(text: str, indent: str = "") -> list[str]:
    if not text:
        return []
    lines = text.replace("*/", "* /").splitlines()
    if len(lines) == 1:
        return [f"{indent}/** {lines[0]} */"]
    return [f"{indent}/** {lines[0]}"] + [f"{indent} * {line}" for line in lines[1:]] + [f"{indent} */"]


def generate(model: dict[str, Any]) -> str:
    out = [
        "// Generated from protocol/history.model.json by protocol/generate_typescript.py. Do not edit.",
        "/* eslint-disable */",
        "",
    ]
    for enum in model["enumerations"]:
        out += comment(enum.get("documentation", ""))
        out.append(f"export type {enum['name']} = {' | '.join(json.dumps(v) for v in enum['values'])};")
        out.append("")
    for structure in model["structures"]:
        out += comment(structure.get("documentation", ""))
        extends = structure.get("extends", [])
        out.append(
            f"export interface {structure['name']}" + (f" extends {', '.join(extends)}" if extends else "") + " {"
        )
        for prop in structure["properties"]:
            out += comment(prop.get("documentation", ""), "  ")
            optional = "?" if prop.get("optional") else ""
            nullable = " | null" if prop.get("optional") else ""
            out.append(f"  {prop['name']}{optional}: {ts_type(prop['type'])}{nullable};")
        out.append("}")
        out.append("")
    out.append("/** Every request: method -> [params, result]. */")
    out.append("export interface Requests {")
    for request in model["requests"]:
        params = request.get("params") or "null"
        out.append(f"  {json.dumps(request['method'])}: [{params}, {request['result']}];")
    out.append("}")
    out.append("")
    out.append("/** Every notification from the sidecar: method -> params. */")
    out.append("export interface Notifications {")
    for notification in model["notifications"]:
        out.append(f"  {json.dumps(notification['method'])}: {notification['params']};")
    out.append("}")
    out.append("")
    out.append("/** The contract's error codes by name. */")
    out.append("export const ErrorCodes = {")
    for error in model["errors"]:
        out.append(f"  {error['name']}: {error['code']},")
    out.append("} as const;")
    out.append("")
    return "\n".join(out)


def main() -> None:
    text = generate(json.loads(MODEL_PATH.read_text()))
    if "--check" in sys.argv:
        sys.exit(0 if OUTPUT_PATH.exists() and OUTPUT_PATH.read_text() == text else 1)
    OUTPUT_PATH.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT_PATH.write_text(text)


if __name__ == "__main__":
    main()
