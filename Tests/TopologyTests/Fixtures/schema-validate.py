#!/usr/bin/python3
# schema-validate.py SCHEMA INPUT: validates YAML documents against a JSON Schema (draft-07) with
# Python's jsonschema (Debian python3-jsonschema), reading YAML as editors do: YAML 1.2's core
# schema (PyYAML alone is YAML 1.1, where `no` is false, `1_000` is 1000 and `1:20` is 80).
#
# INPUT is a JSON array; each item is {"name": ..., "path": FILE} or {"name": ..., "yaml": TEXT}.
# Prints one JSON array on stdout, one item per input: {"name": ..., "errors": ["path: message", ...]}
# (errors empty when the document is valid). Exit status 0 unless the schema or input is unusable.
import json
import re
import sys

try:
    import jsonschema
    import yaml
except ImportError as e:
    sys.exit("schema-validate.py: %s: install the Debian packages python3-jsonschema and python3-yaml "
             "(scripts/lib/packages lists them)" % e)


# libyaml's parser when PyYAML has it (Debian's does): seven times faster than the pure-Python one.
class Core12Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """SafeLoader with YAML 1.2 core-schema resolution of plain scalars."""


Core12Loader.yaml_implicit_resolvers = {}
for tag, pattern, first in [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", list("~nN") + [""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     list("-+.0123456789")),
]:
    Core12Loader.add_implicit_resolver(tag, re.compile(pattern), first)


def construct_int(loader, node):
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text)


Core12Loader.add_constructor("tag:yaml.org,2002:int", construct_int)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: schema-validate.py SCHEMA INPUT.json")
    with open(sys.argv[1]) as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    with open(sys.argv[2]) as f:
        items = json.load(f)
    out = []
    for item in items:
        text = item["yaml"] if "yaml" in item else open(item["path"]).read()
        try:
            doc = yaml.load(text, Loader=Core12Loader)
        except yaml.YAMLError as e:
            out.append({"name": item["name"], "errors": ["(yaml) %s" % str(e).replace("\n", " ")]})
            continue
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        out.append({"name": item["name"],
                    "errors": ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(root)", e.message[:300])
                               for e in errors]})
    json.dump(out, sys.stdout)


main()
