"""Turn CustomResourceDefinitions into the strict JSON schemas vendored next to this file.

    python deploy/k8s/crd-schemas/crd2jsonschema.py CRD.yaml [CRD.yaml ...]

For every served version of every CustomResourceDefinition in the given files, writes
``<group>/<kind>_<version>.json`` (lower-case kind, the layout kubeconform and the datreeio CRD
catalog use) beside this script. The conversion is the one kubeconform's openapi2jsonschema does
in strict mode, so unknown fields fail as they do with ``kubectl apply`` (field validation Strict):

* every object schema that lists ``properties`` gets ``additionalProperties: false``, unless it
  has ``x-kubernetes-preserve-unknown-fields: true`` or its own ``additionalProperties``;
* ``nullable: true`` becomes a ``"null"`` member of ``type``;
* descriptions are dropped (they are most of a CRD's size and validate nothing);
* a pattern that starts with ``^(?i)`` (Go RE2 allows inline flags anywhere) is written
  ``(?i)^`` so that Python's ``re`` accepts it.

CEL rules (``x-kubernetes-validations``) are kept but not evaluated by a JSON-schema validator.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SUBSCHEMA_LISTS = ("anyOf", "allOf", "oneOf")


def strict(schema: Any) -> Any:
    """The strict JSON-schema form of one openAPIV3Schema node (recursively)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("description", "example"):
            continue
        if key == "properties":
            out[key] = {name: strict(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = strict(value)
        elif key in SUBSCHEMA_LISTS:
            out[key] = [strict(sub) for sub in value]
        elif key == "pattern" and value.startswith("^(?i)"):
            out[key] = "(?i)^" + value[len("^(?i)") :]
        else:
            out[key] = value
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def dump(schema: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")


def convert(crd: dict[str, Any]) -> list[Path]:
    group = crd["spec"]["group"]
    kind = crd["spec"]["names"]["kind"].lower()
    written = []
    for version in crd["spec"]["versions"]:
        if not version.get("served", True):
            continue
        path = HERE / group / f"{kind}_{version['name']}.json"
        dump(strict(version["schema"]["openAPIV3Schema"]), path)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write(__doc__ or "")
        return 2
    for name in argv:
        for doc in yaml.safe_load_all(Path(name).read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                for path in convert(doc):
                    sys.stdout.write(f"{path.relative_to(HERE)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
