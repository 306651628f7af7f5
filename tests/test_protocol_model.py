"""The contract model, the generated types and the server cannot drift apart."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from sidecar import errors
from sidecar import protocol as p
from sidecar.server import OPERATIONS, HistoryServer

ROOT = Path(__file__).parent.parent
MODEL = json.loads((ROOT / "protocol" / "history.model.json").read_text())
CONTRACT = (ROOT.parent / "shared" / "design" / "protocol.md").read_text() if (ROOT.parent / "shared").exists() else ""


def test_generated_types_match_the_model() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "protocol" / "generate_python.py"), "--check"])
    assert result.returncode == 0, "sidecar/protocol.py is stale: run python protocol/generate_python.py"


def test_server_answers_exactly_the_models_requests(tmp_path: Path) -> None:
    server = HistoryServer(tmp_path / "h.db")
    registered = {name for name in server.protocol.fm.features if name.startswith("history/")}
    served = {r["method"] for r in MODEL["requests"] if not r.get("proposed")}
    assert registered == served
    assert set(OPERATIONS) | {p.SUBSCRIBE, p.SYNC} == served


def test_every_contract_error_has_a_class_or_is_a_standard_code() -> None:
    standard = {"ParseError", "InvalidRequest", "MethodNotFound", "InternalError"}
    for error in MODEL["errors"]:
        if error["name"] not in standard:
            assert issubclass(getattr(errors, error["name"]), errors.HistoryError), error["name"]


def test_every_request_error_is_declared() -> None:
    declared = {e["name"] for e in MODEL["errors"]}
    for request in MODEL["requests"]:
        assert set(request["errors"]) <= declared, request["method"]


def test_generated_fields_carry_the_models_wire_names() -> None:
    structures = {s["name"]: s for s in MODEL["structures"]}
    for name, structure in structures.items():
        names = [prop["name"] for parent in structure.get("extends", []) for prop in structures[parent]["properties"]]
        names += [prop["name"] for prop in structure["properties"]]
        cls = getattr(p, name)
        assert [f.metadata["json"] for f in attrs.fields(cls)] == names, name


needs_contract = pytest.mark.skipif(not CONTRACT, reason="needs ../shared/design/protocol.md beside the checkout")


@needs_contract
def test_every_method_and_notification_of_the_written_contract_is_in_the_model() -> None:
    written = set(re.findall(r"`(history/[a-zA-Z]+)", CONTRACT))
    methods = MODEL["requests"] + MODEL["notifications"]
    assert written <= {method["method"] for method in methods}
    # Anything more is an addition (welcome; renames are not), and says so.
    added = [method for method in methods if method["method"] not in written]
    assert all(method["documentation"].startswith("Addition:") for method in added), added


@needs_contract
def test_the_written_contracts_error_codes_match() -> None:
    for code, name in re.findall(r"\| `(-320\d\d)` \| (\w+) \|", CONTRACT):
        assert p.ERROR_CODES[name] == int(code)
