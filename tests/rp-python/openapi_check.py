"""Checks recorded device-API exchanges against docs/device-api.yaml.

    openapi_check.py SPEC.yaml EXCHANGES.json

EXCHANGES.json is a list of {"method", "path", "status", "content_type",
"body"} (body: parsed JSON, or null). For each, the path must match a path
of the spec (templates such as /challenges/{id}/decision), the method must be
documented there, the status must be one of its responses (or "default"),
and a JSON body must be valid against the response's schema (JSON Schema
2020-12, which OpenAPI 3.1 uses, with the spec's own $refs). Prints one JSON
line {"checked": N, "problems": [...]} and exits 1 if there is any problem.
"""

import json
import re
import sys

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE = "urn:sesame-device-api"


def pointer(*parts):
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def unescape(part):
    return part.replace("~1", "/").replace("~0", "~")


def follow(spec, parts):
    """The response object at `parts`, following its local $refs: (parts, node)."""
    node = spec
    for part in parts:
        node = node[part]
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        parts = [unescape(p) for p in ref[2:].split("/")]
        node = spec
        for part in parts:
            node = node[part]
    return parts, node


def main():
    spec = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
    exchanges = json.load(open(sys.argv[2], encoding="utf-8"))
    registry = Registry().with_resource(
        BASE, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    prefix = spec.get("servers", [{}])[0].get("url", "")
    prefix = re.sub(r"^[a-z]+://[^/]+", "", prefix)
    templates = []
    for template in spec["paths"]:
        regex = "^" + re.sub(r"\\{[^/]+\\}", "[^/]+", re.escape(prefix + template)) + "$"
        templates.append((re.compile(regex), template))
    problems = []
    for n, ex in enumerate(exchanges):
        what = f"{ex['method']} {ex['path']} → {ex['status']}"
        path = ex["path"].split("?")[0]
        matches = [t for regex, t in templates if regex.match(path)]
        # A literal path wins over a template (/devices vs /devices/{id}).
        matches.sort(key=lambda t: t.count("{"))
        if not matches:
            problems.append(f"{what}: path not in the spec")
            continue
        template = matches[0]
        operation = spec["paths"][template].get(ex["method"].lower())
        if operation is None:
            problems.append(f"{what}: method not documented for {template}")
            continue
        responses = operation.get("responses", {})
        key = str(ex["status"])
        if key not in responses:
            key = "default" if "default" in responses else None
        if key is None:
            problems.append(f"{what}: status not documented ({sorted(responses)})")
            continue
        parts, response = follow(spec, ["paths", template, ex["method"].lower(), "responses", key])
        content = response.get("content", {})
        media = (ex.get("content_type") or "").split(";")[0].strip()
        if not content:
            if ex.get("body") not in (None, ""):
                problems.append(f"{what}: a body, but the spec documents none")
            continue
        if media not in content:
            problems.append(f"{what}: content type {media!r} not in {sorted(content)}")
            continue
        if media != "application/json":
            continue
        schema_at = content[media].get("schema")
        if schema_at is None:
            continue
        # Validate through a $ref into the spec, so the schema's own $refs
        # resolve against the whole document.
        location = BASE + pointer(*parts, "content", media, "schema")
        validator = Draft202012Validator({"$ref": location}, registry=registry)
        for error in validator.iter_errors(ex.get("body")):
            where = "/".join(str(p) for p in error.absolute_path) or "(body)"
            problems.append(f"{what}: {where}: {error.message}")
    print(json.dumps({"checked": len(exchanges), "problems": problems}, ensure_ascii=False))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
