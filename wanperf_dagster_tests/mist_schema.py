"""Validate response bodies against the official Mist OpenAPI spec (resolving `$ref`s)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema
import referencing
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).parent / "data" / "mist_openapi_subset.json"
SPEC_URI = "urn:mist-openapi"


@cache
def spec() -> dict:
    return json.loads(SPEC_PATH.read_text())


@cache
def _registry() -> referencing.Registry:
    resource = referencing.Resource(contents=spec(), specification=DRAFT202012)
    return referencing.Registry().with_resource(SPEC_URI, resource)


def response_schema(path: str, status: str = "200") -> dict:
    """The JSON schema of an operation's response, as a `$ref` into the spec."""
    response = spec()["paths"][path]["get"]["responses"][status]
    if "$ref" in response:
        name = response["$ref"].split("/")[-1]
        response = spec()["components"]["responses"][name]
    schema = response["content"]["application/json"]["schema"]
    return {"$ref": f"{SPEC_URI}#{schema['$ref'][1:]}"} if "$ref" in schema else schema


def validate(body, path: str, status: str = "200") -> None:
    validator = jsonschema.Draft202012Validator(response_schema(path, status), registry=_registry())
    validator.validate(body)
