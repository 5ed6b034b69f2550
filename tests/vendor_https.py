"""Local HTTPS servers that answer as a vendor's API reference says, for the sync targets' tests.

TLS comes from a test CA made with ``cryptography`` for this session; the ``test_ca`` fixture
trusts it through REQUESTS_CA_BUNDLE, as a deployment trusts a private CA. A server records every
request and, before its normal answer, gives any answers queued with :meth:`VendorServer.fail_next`
(a 500, a 429 with Retry-After, ...). A test module imports the fixtures it uses, e.g.
``from tests.vendor_https import test_ca_files_fixture, test_ca_fixture  # noqa: F401``.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from renewals.storage.db import connect
from renewals.sync.outbox import sync
from renewals.sync.targets import Target


@dataclass(frozen=True)
class TestCA:
    bundle: Path  # the CA certificate (what REQUESTS_CA_BUNDLE names)
    server_cert: Path  # 127.0.0.1 and localhost, signed by the CA
    server_key: Path


def make_test_ca(directory: Path) -> TestCA:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "renewals test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca = TestCA(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    ca.bundle.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    ca.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ca.server_key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca


@pytest.fixture(scope="session", name="test_ca_files")
def test_ca_files_fixture(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return make_test_ca(tmp_path_factory.mktemp("test-ca"))


def use_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn: dict[str, Any]) -> None:
    """``conn`` as the Airflow connection ``conn_id`` (an AIRFLOW_CONN_ variable, as a deployment may
    set one), for the targets that read theirs through a provider's hook."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.fixture(name="test_ca")
def test_ca_fixture(test_ca_files: TestCA, monkeypatch: pytest.MonkeyPatch) -> TestCA:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(test_ca_files.bundle))
    return test_ca_files


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON, or str as is
    headers: dict[str, str] = field(default_factory=dict)


class VendorServer:
    """An HTTPS server in a thread; subclasses answer in :meth:`handle` as their vendor does."""

    def __init__(self, ca: TestCA) -> None:
        self.requests: list[Request] = []
        self._queued: list[Reply] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = Request(
                    self.command, parts.path, parse_qs(parts.query), dict(self.headers), self.rfile.read(length)
                )
                with server.lock:
                    server.requests.append(request)
                    reply = server._queued.pop(0) if server._queued else server.handle(request)
                as_json = not isinstance(reply.body, str | bytes | None)
                body = json.dumps(reply.body) if as_json else reply.body
                payload = body.encode() if isinstance(body, str) else body or b""
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json" if as_json else "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(ca.server_cert, ca.server_key)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def handle(self, request: Request) -> Reply:  # pragma: no cover - subclasses answer
        return Reply(404, [{"message": "no such resource"}])

    def fail_next(
        self,
        status: int,
        body: Any = None,
        retry_after: str | None = None,
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` and ``headers`` (before answering
        normally again)."""
        headers = (headers or {}) | ({"Retry-After": retry_after} if retry_after is not None else {})
        self._queued.extend(Reply(status, body, headers) for _ in range(times))

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def __enter__(self) -> VendorServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class WebhookReceiver(VendorServer):
    """A webhook consumer as the contract expects one: takes each POST with 200, and does what a
    receiver does with a delivery id it has seen: answers 200 and keeps the first."""

    def __init__(self, ca: TestCA) -> None:
        super().__init__(ca)
        self.accepted: dict[str, Request] = {}  # by X-Renewals-Delivery

    def handle(self, request: Request) -> Reply:
        self.accepted.setdefault(request.headers.get("X-Renewals-Delivery", ""), request)
        return Reply(200, {"ok": True})


@pytest.fixture(name="webhook_receiver")
def webhook_receiver_fixture(test_ca: TestCA) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(test_ca) as server:
        yield server


class SalesforceServer(VendorServer):
    """Salesforce's REST API as its reference describes the calls the target makes: the OAuth 2.0
    client credentials token, and upsert by External ID through sObject Collections (PATCH
    .../composite/sobjects/<SObject>/<field>, at most 200 records; with allOrNone false a 200 whose
    body says for each record, in order, {id, success, errors, created} (the target always sends
    allOrNone false, so the all-or-nothing rollback is not modelled); a record's error is one of
    {statusCode, message, fields}: DUPLICATE_EXTERNAL_ID when the value matches several records,
    DUPLICATE_VALUE when the request names it twice, STRING_TOO_LONG for a value longer than its
    field, MALFORMED_ID for a WhatId or AccountId that is no Account's or Opportunity's id). The
    call itself: 404 for a field that is not an External ID, 401 for an expired session, errors as
    a JSON list of {message, errorCode}."""

    API = "/services/data/v62.0/composite/sobjects/"
    CLIENT_ID, CLIENT_SECRET = "consumer-key", "consumer-secret"
    MAX_RECORDS = 200
    # the lengths of the standard fields the mapping fills, as the object reference gives them
    LENGTHS = {
        ("Task", "Subject"): 255,
        ("Task", "Description"): 32000,
        ("Opportunity", "Name"): 120,
        ("Opportunity", "Description"): 32000,
    }
    # the id fields the mapping fills and the key prefixes of the objects they take (001 Account, 006 Opportunity)
    ID_FIELDS = {"WhatId": ("001", "006"), "AccountId": ("001",)}

    def __init__(self, ca: TestCA, external_id_fields: tuple[str, ...] = ("Renewal_Key__c",)) -> None:
        super().__init__(ca)
        self.records: dict[str, list[dict[str, Any]]] = {}  # by SObject
        self.external_id_fields = external_id_fields
        self.tokens: set[str] = set()
        self._ids = 0

    def connection(self) -> dict[str, Any]:
        return {
            "conn_type": "salesforce",
            "host": self.base_url,
            "login": self.CLIENT_ID,
            "password": self.CLIENT_SECRET,
        }

    def add(self, sobject: str, **fields: Any) -> str:
        self._ids += 1
        record_id = f"{'00T' if sobject == 'Task' else '006'}{self._ids:015d}"
        self.records.setdefault(sobject, []).append({"Id": record_id, **fields})
        return record_id

    def expire_sessions(self) -> None:
        self.tokens.clear()

    def handle(self, request: Request) -> Reply:
        if request.path == "/services/oauth2/token" and request.method == "POST":
            form = parse_qs(request.body.decode())
            if form.get("client_id") != [self.CLIENT_ID] or form.get("client_secret") != [self.CLIENT_SECRET]:
                return Reply(400, {"error": "invalid_client", "error_description": "invalid client credentials"})
            token = f"00D!token{len(self.tokens) + 1}"
            self.tokens.add(token)
            return Reply(200, {"access_token": token, "instance_url": self.base_url, "token_type": "Bearer"})
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            return Reply(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        if not request.path.startswith(self.API) or request.method != "PATCH":
            return Reply(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
        sobject, field_name = request.path.removeprefix(self.API).split("/", 1)
        if field_name not in self.external_id_fields:
            return Reply(
                404,
                [
                    {
                        "errorCode": "NOT_FOUND",
                        "message": f"Provided external ID field does not exist or is not accessible: {field_name}",
                    }
                ],
            )
        body = request.json()
        if len(body["records"]) > self.MAX_RECORDS:
            return Reply(
                400,
                [
                    {
                        "errorCode": "EXCEEDED_ID_LIMIT",
                        "message": f"more than {self.MAX_RECORDS} records in one call",
                    }
                ],
            )
        named = [record.get(field_name) for record in body["records"]]
        results = []
        for record in body["records"]:
            fields = {name: value for name, value in record.items() if name != "attributes"}
            results.append(self._upsert(sobject, field_name, fields, named.count(fields.get(field_name)) > 1))
        return Reply(200, results)

    def _upsert(self, sobject: str, field_name: str, fields: dict[str, Any], named_twice: bool) -> dict[str, Any]:
        value = fields.get(field_name)
        if named_twice:
            return self.refused("DUPLICATE_VALUE", f"Duplicate external id specified: {value}", field_name)
        for name, text in fields.items():
            if len(str(text)) > self.LENGTHS.get((sobject, name), len(str(text))):
                return self.refused(
                    "STRING_TOO_LONG", f"{name}: data value too large (max length={self.LENGTHS[sobject, name]})", name
                )
        for name, prefixes in self.ID_FIELDS.items():
            if name in fields and not (
                re.fullmatch(r"[A-Za-z0-9]{15}([A-Za-z0-9]{3})?", fields[name]) and fields[name].startswith(prefixes)
            ):
                return self.refused("MALFORMED_ID", f"{name}: id value of incorrect type: {fields[name]}", name)
        matches = [record for record in self.records.get(sobject, []) if record.get(field_name) == value]
        if len(matches) > 1:
            ids = ", ".join(record["Id"] for record in matches)
            return self.refused(
                "DUPLICATE_EXTERNAL_ID", f"{field_name}: more than one record found for external id field: [{ids}]"
            )
        if matches:
            matches[0].update(fields)
            return {"id": matches[0]["Id"], "success": True, "errors": [], "created": False}
        return {"id": self.add(sobject, **fields), "success": True, "errors": [], "created": True}

    @staticmethod
    def refused(status_code: str, message: str, *fields: str) -> dict[str, Any]:
        return {"success": False, "errors": [{"statusCode": status_code, "message": message, "fields": list(fields)}]}


@pytest.fixture(name="salesforce")
def salesforce_fixture(test_ca: TestCA) -> Iterator[SalesforceServer]:
    with SalesforceServer(test_ca) as server:
        yield server


class HubSpotServer(VendorServer):
    """HubSpot's CRM v3 objects API for tasks, notes and deals as its reference describes the calls
    the target makes: create (201), a duplicate value of a unique property (409 CONFLICT), update by
    id or by a unique property (?idProperty=), 404 for a record that is not there, 401 without a
    valid private-app token, 400 for a note without hs_timestamp or an association type that does
    not join the two objects; errors as {status, message, correlationId, category}. Batch upsert by
    a unique property (at most 100 inputs; 200 when all were written, 207 Multi-Status with an
    error per refused input naming its objectWriteTraceId: a note without hs_timestamp, a
    timestamp that is not one; 400 for a batch that names an id twice), and the v4 associations'
    batch create (an existing association stays one)."""

    TOKEN = "pat-na1-example-token"
    # HubSpot-defined association types: (from, type id) -> the object type it associates with
    ASSOCIATION_TYPES = {
        ("tasks", 192): "companies",
        ("tasks", 216): "deals",
        ("notes", 190): "companies",
        ("notes", 214): "deals",
    }

    def __init__(self, ca: TestCA, unique_property: str = "renewal_key") -> None:
        super().__init__(ca)
        self.unique_property = unique_property
        self.objects: dict[str, dict[str, dict[str, Any]]] = {"tasks": {}, "notes": {}, "deals": {}}
        # (object type, record id, associated with: object type, its id)
        self.associations: list[tuple[str, str, str, str]] = []
        self._ids = 1000

    def connection(self) -> dict[str, Any]:
        return {"conn_type": "http", "host": self.base_url, "password": self.TOKEN, "extra": {"portal_id": "4242"}}

    def add(self, object_type: str, record_id: str | None = None, **properties: Any) -> str:
        self._ids += 1
        record_id = record_id or str(self._ids)
        self.objects[object_type][record_id] = dict(properties)
        return record_id

    @staticmethod
    def error(status: int, category: str, message: str) -> Reply:
        return Reply(status, {"status": "error", "message": message, "correlationId": "c0ffee", "category": category})

    MAX_BATCH = 100
    MAX_LENGTH = 65536  # a text property's longest value

    def handle(self, request: Request) -> Reply:
        if request.headers.get("Authorization") != f"Bearer {self.TOKEN}":
            return self.error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
        if request.method == "POST" and (
            batch := re.fullmatch(r"/crm/v3/objects/(tasks|notes)/batch/upsert", request.path)
        ):
            return self.batch_upsert(batch[1], request.json()["inputs"])
        if request.method == "POST" and (
            link := re.fullmatch(r"/crm/v4/associations/(\w+)/(\w+)/batch/create", request.path)
        ):
            return self.associate(link[1], link[2], request.json()["inputs"])
        parts = request.path.strip("/").split("/")  # crm v3 objects <type> [<id>]
        if parts[:3] != ["crm", "v3", "objects"] or len(parts) < 4 or parts[3] not in self.objects:
            return self.error(404, "OBJECT_NOT_FOUND", "resource not found")
        store, properties = self.objects[parts[3]], (request.json() or {}).get("properties", {})
        if request.method == "POST" and len(parts) == 4:
            if parts[3] == "notes" and not properties.get("hs_timestamp"):
                return self.error(400, "VALIDATION_ERROR", "Property values were not valid: hs_timestamp is required")
            associations = request.json().get("associations", [])
            types = [(parts[3], a["types"][0]["associationTypeId"]) for a in associations]
            if unknown := [t for t in types if t not in self.ASSOCIATION_TYPES]:
                return self.error(400, "VALIDATION_ERROR", f"invalid association type {unknown[0][1]}")
            key = properties.get(self.unique_property)
            existing = [rid for rid, record in store.items() if key and record.get(self.unique_property) == key]
            if existing:
                return self.error(
                    409,
                    "CONFLICT",
                    f"A {parts[3][:-1]} with {self.unique_property} '{key}' already exists. Existing ID: {existing[0]}",
                )
            record_id = self.add(parts[3], **properties)
            for association, kind in zip(associations, types, strict=True):
                self.associations.append((parts[3], record_id, self.ASSOCIATION_TYPES[kind], association["to"]["id"]))
            return Reply(201, {"id": record_id, "properties": properties, "archived": False})
        if request.method == "PATCH" and len(parts) == 5:
            id_property = request.query.get("idProperty", [None])[0]
            value = unquote(parts[4])
            if id_property:
                found = [rid for rid, record in store.items() if record.get(id_property) == value]
                record_id = found[0] if found else None
            else:
                record_id = value if value in store else None
            if record_id is None:
                return self.error(404, "OBJECT_NOT_FOUND", f"Object not found. objectId are usually numeric. {value}")
            store[record_id].update(properties)
            return Reply(200, {"id": record_id, "properties": store[record_id], "archived": False})
        return self.error(405, "VALIDATION_ERROR", "method not allowed")

    def batch_upsert(self, object_type: str, inputs: list[dict[str, Any]]) -> Reply:
        if len(inputs) > self.MAX_BATCH:
            return self.error(400, "VALIDATION_ERROR", f"Batch input has more than {self.MAX_BATCH} inputs")
        ids = [item["id"] for item in inputs]
        if len(set(ids)) < len(ids):
            return self.error(400, "VALIDATION_ERROR", "Duplicate IDs found in batch input")
        store, results, errors = self.objects[object_type], [], []
        for item in inputs:
            id_property, properties = item["idProperty"], item.get("properties", {})
            if problem := self.invalid(id_property, properties):
                errors.append(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": f"Property values were not valid: {problem}",
                        "context": {"objectWriteTraceId": [item.get("objectWriteTraceId")]},
                    }
                )
                continue
            found = [rid for rid, record in store.items() if record.get(id_property) == item["id"]]
            record_id = found[0] if found else self.add(object_type, **{id_property: item["id"]})
            store[record_id].update(properties)
            results.append(
                {
                    "id": record_id,
                    "new": not found,
                    "properties": store[record_id],
                    "objectWriteTraceId": item.get("objectWriteTraceId"),
                    "archived": False,
                }
            )
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            answer |= {"numErrors": len(errors), "errors": errors}
        return Reply(207 if errors else 200, answer)

    def invalid(self, id_property: str, properties: dict[str, Any]) -> str:
        """Why an input cannot be written (blank when it can): as HubSpot checks a property's value."""
        if id_property != self.unique_property:
            return f"{id_property} is not a unique property"
        if too_long := [name for name, value in properties.items() if len(str(value)) > self.MAX_LENGTH]:
            return f"{too_long} longer than {self.MAX_LENGTH} characters"
        timestamp = str(properties.get("hs_timestamp", ""))  # milliseconds since 1970, or an ISO 8601 date-time
        if not timestamp.isdigit():
            try:
                datetime.datetime.fromisoformat(timestamp)
            except ValueError:
                return f"hs_timestamp: {timestamp!r} was not a valid long or date-time (INVALID_DATE)"
        return ""

    def associate(self, from_type: str, to_type: str, inputs: list[dict[str, Any]]) -> Reply:
        for item in inputs:
            type_id = item["types"][0]["associationTypeId"]
            if self.ASSOCIATION_TYPES.get((from_type, type_id)) != to_type:
                return self.error(400, "VALIDATION_ERROR", f"invalid association type {type_id}")
        results = []
        for item in inputs:
            link = (from_type, item["from"]["id"], to_type, item["to"]["id"])
            if link not in self.associations:
                self.associations.append(link)
            results.append({"from": {"id": link[1]}, "to": [{"toObjectId": link[3]}]})
        return Reply(201, {"status": "COMPLETE", "results": results})


@pytest.fixture(name="hubspot")
def hubspot_fixture(test_ca: TestCA, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSpotServer]:
    with HubSpotServer(test_ca) as server:
        use_connection(monkeypatch, "renewals_hubspot", server.connection())
        yield server


class GitHubServer(VendorServer):
    """GitHub's REST API for a repository's issues as its reference describes the calls the target
    makes: list by label (state=all, paginated with a Link header), create (201), update (200),
    404 for a repository the token cannot see, 401 for a bad token (given as "Bearer" or "token")."""

    TOKEN, REPOSITORY = "ghp_test_token", "members/offboarding"
    PAGE = 2  # issues per page whatever per_page asks, so the pages are followed

    def __init__(self, ca: TestCA) -> None:
        super().__init__(ca)
        self.issues: list[dict[str, Any]] = []

    def connection(self) -> dict[str, Any]:
        return {
            "conn_type": "github",
            "host": self.base_url,
            "password": self.TOKEN,
            "extra": {"repository": self.REPOSITORY},
        }

    def add(self, title: str, body: str = "", labels: tuple[str, ...] = (), state: str = "open") -> dict[str, Any]:
        number = len(self.issues) + 1
        issue = {
            "number": number,
            "title": title,
            "body": body,
            "state": state,
            "labels": [{"name": name} for name in labels],
            "url": f"{self.base_url}/repos/{self.REPOSITORY}/issues/{number}",
            "html_url": f"https://github.com/{self.REPOSITORY}/issues/{number}",
        }
        self.issues.append(issue)
        return issue

    def handle(self, request: Request) -> Reply:
        if request.headers.get("Authorization") not in (f"Bearer {self.TOKEN}", f"token {self.TOKEN}"):  # both taken
            return Reply(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
        prefix = f"/repos/{self.REPOSITORY}/issues"
        if not request.path.startswith(prefix):
            return Reply(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
        if request.method == "GET" and request.path == prefix:
            label = request.query.get("labels", [""])[0]
            matching = [i for i in self.issues if any(n["name"] == label for n in i["labels"])]
            page = int(request.query.get("page", ["1"])[0])
            headers = {}
            if page * self.PAGE < len(matching):
                headers["Link"] = f'<{self.base_url}{prefix}?labels={label}&state=all&page={page + 1}>; rel="next"'
            return Reply(200, matching[(page - 1) * self.PAGE : page * self.PAGE], headers)
        if request.method == "POST" and request.path == prefix:
            body = request.json()
            if not body.get("title"):
                return Reply(
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [{"resource": "Issue", "code": "missing_field", "field": "title"}],
                    },
                )
            return Reply(201, self.add(body["title"], body.get("body", ""), tuple(body.get("labels", []))))
        number = int(request.path.rsplit("/", 1)[1])
        if request.method == "PATCH" and 0 < number <= len(self.issues):
            issue = self.issues[number - 1]
            issue.update({k: v for k, v in request.json().items() if k in ("state", "body", "title")})
            return Reply(200, issue)
        return Reply(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})


@pytest.fixture(name="github")
def github_fixture(test_ca: TestCA, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubServer]:
    with GitHubServer(test_ca) as server:
        use_connection(monkeypatch, "renewals_github", server.connection())
        yield server


class WorkerDied(BaseException):
    """The sync task's worker killed after a target's call, before its record."""


def sync_until_the_worker_dies(ops_dsn: str, target: Target) -> None:
    """Run the sync outbox for ``target`` until its first call is made, then die before recording it
    (the crash tests: the retry must make no second record)."""

    def die(point: str) -> None:
        raise WorkerDied(point)

    with closing(connect(ops_dsn, autocommit=True)) as conn, pytest.raises(WorkerDied):
        sync(conn, [target], checkpoint=die)
