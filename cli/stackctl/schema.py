"""The JSON Schema of stack manifests, generated from the pydantic models, for editors and CI.

`stackctl init` writes it next to the manifest as stackctl.schema.json and points the manifest's first
line at it (`# yaml-language-server: $schema=./stackctl.schema.json`): a relative path works offline,
moves with the files, and matches the stackctl that wrote it (a path into site-packages would not
survive a new virtualenv, and there is no published URL to point at). `stackctl schema --out` refreshes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .manifest import Manifest

SCHEMA_FILE = "stackctl.schema.json"
SCHEMA_ID = "urn:stackctl-ml:schema:stack:v1"
MODELINE = f"# yaml-language-server: $schema=./{SCHEMA_FILE}"


def manifest_schema() -> dict[str, Any]:
    schema = Manifest.model_json_schema(by_alias=True)  # `with`, as written in manifests
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            **schema, "title": "stackctl stack manifest (apiVersion stackctl/v1)",
            "description": "A stack: components from the catalog (`stackctl catalog`) on a target."}


def schema_text() -> str:
    return json.dumps(manifest_schema(), indent=2) + "\n"


def write_schema(path: Path) -> Path:
    path.write_text(schema_text())
    return path
