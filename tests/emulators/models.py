"""Holds every request to the service's official API model, as AWS's front ends do before an
operation runs: botocore's `service-2.json` (the same models the AWS SDKs are generated from)
gives each operation's input shape, with its required members, types, enums, lengths, ranges and
patterns. A request that breaks one is answered as the service answers: a 400 with its
validation error, never passed on to the emulated operation.

Decoding follows each protocol's serialization rules (botocore's `serialize.py` is the reference):
`json` bodies, `rest-json` and `rest-xml` URI labels, query strings and headers (plus the JSON
body), `query` and `ec2` form parameters, `smithy-rpc-v2-cbor` bodies (CloudWatch's first protocol,
the one the Rust SDK speaks: https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html).
A rest-xml body is not decoded: S3's payloads are documents the tool does not send beyond objects.
"""

import base64
import datetime
import json
import re
import urllib.parse

import cbor2
import regex
from botocore.loaders import Loader

# SigV4 signing names that differ from the model's directory.
SIGNING = {"elasticloadbalancing": "elbv2", "monitoring": "cloudwatch"}

_MODELS = {}


def model(service):
    name = SIGNING.get(service, service)
    if name not in _MODELS:
        try:
            _MODELS[name] = Loader().load_service_model(name, "service-2")
        except Exception:
            _MODELS[name] = None
    return _MODELS[name]


class Opaque:
    """A payload present but not decoded (a rest-xml document, a blob): not checked further."""


def _pattern(text):
    # AWS front ends match the whole value (IAM refuses "my role" against `[\w+=,.@-]+`);
    # `regex` knows the \p{...} classes some models use.
    try:
        return regex.compile(text)
    except Exception:
        return None


class Validator:
    def __init__(self, shapes):
        self.shapes = shapes
        self.errors = []

    def check(self, shape_name, value, path):
        if isinstance(value, Opaque):
            return
        shape = self.shapes[shape_name]
        kind = shape["type"]
        if kind == "structure":
            if not isinstance(value, dict):
                return self.fail(path, value, "Member must be a structure")
            for member in shape.get("required", []):
                if value.get(member) is None:
                    self.fail(self.join(path, member), None, "Member must not be null")
            for member, ref in shape.get("members", {}).items():
                if value.get(member) is not None:
                    self.check(ref["shape"], value[member], self.join(path, member))
        elif kind == "list":
            if not isinstance(value, list):
                return self.fail(path, value, "Member must be a list")
            self.bounds(shape, len(value), path, value, "length")
            for i, item in enumerate(value):
                self.check(shape["member"]["shape"], item, f"{path}.{i + 1}.member")
        elif kind == "map":
            if not isinstance(value, dict):
                return self.fail(path, value, "Member must be a map")
            self.bounds(shape, len(value), path, value, "length")
            for key, item in value.items():
                self.check(shape["key"]["shape"], key, f"{path}.key")
                self.check(shape["value"]["shape"], item, f"{path}.{key}.member")
        elif kind == "string":
            if not isinstance(value, str):
                return self.fail(path, value, "Member must be a string")
            self.bounds(shape, len(value), path, value, "length")
            if "enum" in shape and value not in shape["enum"]:
                self.fail(path, value, f"Member must satisfy enum value set: [{', '.join(shape['enum'])}]")
            if "pattern" in shape:
                compiled = _pattern(shape["pattern"])
                if compiled is not None and not compiled.fullmatch(value):
                    self.fail(path, value, f"Member must satisfy regular expression pattern: {shape['pattern']}")
        elif kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                return self.fail(path, value, "Member must be a number")
            self.bounds(shape, value, path, value, "value")
        elif kind in ("float", "double"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return self.fail(path, value, "Member must be a number")
            self.bounds(shape, value, path, value, "value")
        elif kind == "boolean":
            if not isinstance(value, bool):
                self.fail(path, value, "Member must be a boolean")
        # blob, timestamp: any serialized form the protocol allows.

    def bounds(self, shape, measure, path, value, what):
        if "min" in shape and measure < shape["min"]:
            word = "length greater than or equal to" if what == "length" else "value greater than or equal to"
            self.fail(path, value, f"Member must have {word} {shape['min']}")
        if "max" in shape and measure > shape["max"]:
            word = "length less than or equal to" if what == "length" else "value less than or equal to"
            self.fail(path, value, f"Member must have {word} {shape['max']}")

    def fail(self, path, value, constraint):
        shown = "null" if value is None else (value if isinstance(value, str) else json.dumps(value))
        if len(shown) > 100:
            shown = shown[:100] + "…"
        self.errors.append(f"Value '{shown}' at '{path}' failed to satisfy constraint: {constraint}")

    @staticmethod
    def join(path, member):
        # AWS names members lowerCamelCase in these messages ("at 'roleName'").
        member = member[:1].lower() + member[1:]
        return f"{path}.{member}" if path else member


# ----- decoding the request into the input shape's value -------------------------------------


def _scalar(shapes, shape_name, text):
    """A string from a URI, query string, header or form parameter, typed as the shape says."""
    kind = shapes[shape_name]["type"]
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            return text
    if kind in ("float", "double"):
        try:
            return float(text)
        except ValueError:
            return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    return text


def decode_query(shapes, shape_name, params, prefix, ec2):
    """The value at `prefix` of a `query` (or `ec2`) form, or None when nothing is there."""
    shape = shapes[shape_name]
    kind = shape["type"]
    if kind == "structure":
        value = {}
        for member, ref in shape.get("members", {}).items():
            if ec2:
                name = ref.get("queryName") or _capitalize(ref.get("locationName") or member)
            else:
                name = ref.get("locationName") or member
            decoded = decode_query(shapes, ref["shape"], params, f"{prefix}.{name}" if prefix else name, ec2)
            if decoded is not None:
                value[member] = decoded
        if not prefix or value or any(k.startswith(prefix + ".") for k in params):
            return value
        return None
    if kind == "list":
        member = shape["member"]
        if ec2 or shape.get("flattened"):
            base = prefix
        else:
            base = f"{prefix}.{member.get('locationName', 'member')}"
        items = []
        i = 1
        while True:
            item = decode_query(shapes, member["shape"], params, f"{base}.{i}", ec2)
            if item is None:
                break
            items.append(item)
            i += 1
        if not items and params.get(prefix) == "":
            return []  # an empty list is sent as `Name=`
        return items or None
    if kind == "map":
        base = prefix if shape.get("flattened") else f"{prefix}.entry"
        key_name = shape["key"].get("locationName", "key")
        value_name = shape["value"].get("locationName", "value")
        result = {}
        i = 1
        while f"{base}.{i}.{key_name}" in params:
            result[params[f"{base}.{i}.{key_name}"]] = decode_query(
                shapes, shape["value"]["shape"], params, f"{base}.{i}.{value_name}", ec2)
            i += 1
        return result or None
    if prefix in params:
        return _scalar(shapes, shape_name, params[prefix])
    return None


def from_json(shapes, shape_name, value):
    """A JSON document as members: serialized names (`locationName`) back to member names."""
    shape = shapes[shape_name]
    kind = shape["type"]
    if kind == "structure" and isinstance(value, dict):
        members = shape.get("members", {})
        by_wire = {ref.get("locationName", name): name for name, ref in members.items()}
        out = {}
        for key, item in value.items():
            name = by_wire.get(key, key)
            ref = members.get(name)
            out[name] = from_json(shapes, ref["shape"], item) if ref else item
        return out
    if kind == "list" and isinstance(value, list):
        return [from_json(shapes, shape["member"]["shape"], i) for i in value]
    if kind == "map" and isinstance(value, dict):
        return {k: from_json(shapes, shape["value"]["shape"], v) for k, v in value.items()}
    return value


def _capitalize(name):
    return name[:1].upper() + name[1:]


def _template(uri):
    """A regex for a requestUri template: `{Label}` is one segment, `{Label+}` the rest."""
    path, _, query = uri.partition("?")
    pattern = ""
    labels = []
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{"):
            name = part[1:-1]
            greedy = name.endswith("+")
            name = name.rstrip("+")
            labels.append(name)
            pattern += f"(?P<l{len(labels) - 1}>{'.+' if greedy else '[^/]+'})"
        else:
            pattern += re.escape(part)
    fixed = dict(urllib.parse.parse_qsl(query, keep_blank_values=True)) if query else {}
    return re.compile(pattern + "/?$"), labels, fixed


def _required_headers(service_model, op):
    ref = op.get("input")
    if not ref:
        return []
    shape = service_model["shapes"][ref["shape"]]
    return [(shape["members"][m]["location"], shape["members"][m].get("locationName", m))
            for m in shape.get("required", [])
            if shape["members"][m].get("location") in ("header", "querystring")]


def find_rest_operation(service_model, method, path, args, headers):
    best = None
    for name, op in service_model["operations"].items():
        http = op["http"]
        if http["method"] != method:
            continue
        compiled, labels, fixed = _template(http["requestUri"])
        match = compiled.match(path)
        if not match or any(k not in args for k in fixed):
            continue
        # Operations sharing a URI (S3's PutObject and CopyObject, DeleteObject and
        # AbortMultipartUpload) differ in required headers and query parameters.
        required = _required_headers(service_model, op)
        if any(name not in (headers if where == "header" else args) for where, name in required):
            continue
        # The most specific template wins: fewest labels, then required query keys and headers.
        rank = (-len(labels), len(fixed), len(required), len(http["requestUri"]))
        if best is None or rank > best[0]:
            best = (rank, name, {labels[i]: urllib.parse.unquote(v) for i, v in enumerate(match.groups())})
    return (best[1], best[2]) if best else (None, None)


def decode_rest(service_model, op, labels, request, body_json):
    shapes = service_model["shapes"]
    ref = op.get("input")
    if not ref:
        return None, {}
    shape = shapes[ref["shape"]]
    value = {}
    payload = shape.get("payload")
    for member, mref in shape.get("members", {}).items():
        location = mref.get("location")
        name = mref.get("locationName", member)
        if location == "uri":
            if name in labels:
                value[member] = _scalar(shapes, mref["shape"], labels[name])
        elif location == "querystring":
            target = shapes[mref["shape"]]
            if target["type"] == "list":
                items = request.args.getlist(name)
                if items:
                    value[member] = [_scalar(shapes, target["member"]["shape"], i) for i in items]
            elif target["type"] == "map":
                continue
            elif name in request.args:
                value[member] = _scalar(shapes, mref["shape"], request.args[name])
        elif location == "header":
            if name in request.headers:
                value[member] = _scalar(shapes, mref["shape"], request.headers[name])
        elif location == "headers":
            continue
        elif payload == member:
            if shapes[mref["shape"]]["type"] == "structure" and body_json is not None:
                value[member] = from_json(shapes, mref["shape"], body_json)
            elif request.content_length or request.headers.get("Transfer-Encoding"):
                value[member] = Opaque()
        elif body_json is not None and name in body_json and not payload:
            value[member] = from_json(shapes, mref["shape"], body_json[name])
    return ref["shape"], value


def violations(service, request, params):
    """The validation errors of one request (empty when it conforms or is not modeled), and the
    operation's name."""
    service_model = model(service)
    if service_model is None:
        return None, []
    protocol = service_model["metadata"]["protocol"]
    shapes = service_model["shapes"]
    if protocol == "json":
        operation = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
        op = service_model["operations"].get(operation)
        if op is None or "input" not in op:
            return operation, []
        try:
            value = json.loads(request.get_data() or b"{}")
        except ValueError:
            return operation, ["The request body is not JSON"]
        shape_name = op["input"]["shape"]
        value = from_json(shapes, shape_name, value)
    elif protocol in ("query", "ec2"):
        operation = params.get("Action", "")
        if params.get("Version") and params["Version"] != service_model["metadata"]["apiVersion"]:
            return operation, []  # another API version under the same signing name (classic ELB)
        op = service_model["operations"].get(operation)
        if op is None or "input" not in op:
            return operation, []
        shape_name = op["input"]["shape"]
        value = decode_query(shapes, shape_name, params, "", protocol == "ec2") or {}
    elif protocol in ("rest-json", "rest-xml"):
        # Labels are matched on the path as sent: an ARN label carries encoded slashes.
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
        path = raw.split("?", 1)[0]
        operation, labels = find_rest_operation(service_model, request.method, path, request.args, request.headers)
        if operation is None:
            return None, []
        op = service_model["operations"][operation]
        body_json = None
        if protocol == "rest-json":
            data = request.get_data()
            if data:
                try:
                    body_json = json.loads(data)
                except ValueError:
                    return operation, ["The request body is not JSON"]
        shape_name, value = decode_rest(service_model, op, labels, request, body_json)
        if shape_name is None:
            return operation, []
    elif protocol == CBOR:
        operation = rpc_operation(request.path)
        op = service_model["operations"].get(operation)
        if op is None or "input" not in op:
            return operation, []
        try:
            value = cbor2.loads(request.get_data()) if request.get_data() else {}
        except Exception:
            return operation, ["The request body is not CBOR"]
        shape_name = op["input"]["shape"]
    else:
        return None, []
    validator = Validator(shapes)
    validator.check(shape_name, value, "")
    return operation, validator.errors


def error_code(service):
    """The code a service answers a malformed request with."""
    service_model = model(service)
    protocol = service_model["metadata"]["protocol"]
    shapes = service_model["shapes"]
    if protocol == "ec2":
        return "InvalidParameterValue"
    # A query-compatible service (CloudWatch) answers with its query protocol's codes.
    if protocol == "query" or "awsQueryCompatible" in service_model["metadata"]:
        return "InvalidParameterValue" if service == "rds" else "ValidationError"
    for code in ("ValidationException", "BadRequestException", "InvalidParameterException"):
        if code in shapes:
            return code
    return "ValidationException"


def message(errors):
    count = len(errors)
    return f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(errors)


# ----- Smithy RPC v2 CBOR ---------------------------------------------------------------------

CBOR = "smithy-rpc-v2-cbor"
# Tag 1: epoch-seconds, the protocol's only timestamp form.
EPOCH = 1


def rpc_operation(path):
    """The operation of an RPC v2 request: POST /service/{ServiceName}/operation/{Operation}."""
    head, _, operation = path.rpartition("/operation/")
    return operation if head.startswith("/service/") else None


def cbor_to_json(value):
    """A decoded CBOR request as the awsJson document carrying the same input: timestamps as
    epoch seconds, blobs as base64 (botocore's JSON serializer's forms)."""
    if isinstance(value, dict):
        return {k: cbor_to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [cbor_to_json(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, cbor2.CBORTag) and value.tag == EPOCH:
        return value.value
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return value


def json_to_cbor(shapes, shape_name, value):
    """An awsJson answer as the RPC v2 CBOR value of the same output shape: the shape decides
    what JSON cannot say (a timestamp is tag 1, a double a float even when whole, a blob bytes)."""
    shape = shapes[shape_name]
    kind = shape["type"]
    if value is None:
        return None
    if kind == "structure" and isinstance(value, dict):
        members = shape.get("members", {})
        return {k: json_to_cbor(shapes, members[k]["shape"], v) if k in members else v
                for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [json_to_cbor(shapes, shape["member"]["shape"], v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: json_to_cbor(shapes, shape["value"]["shape"], v) for k, v in value.items()}
    if kind == "timestamp":
        if isinstance(value, str):
            value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        return cbor2.CBORTag(EPOCH, float(value))
    if kind in ("double", "float"):
        return float(value)
    if kind in ("integer", "long"):
        return int(value)
    if kind == "blob" and isinstance(value, str):
        return base64.b64decode(value)
    return value
