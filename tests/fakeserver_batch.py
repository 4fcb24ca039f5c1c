"""Batch endpoints of the fake server: Anthropic Message Batches, OpenAI Files + Batch API.

A batch ends ``store.delay`` seconds after it is created (checked lazily, on each GET).
Each request's fate is scripted by custom_id in ``store.outcomes``: ``"expired"``,
``"errored"`` (a 500), ``"canceled"``, a status such as ``"400"``, or an answer fault
(``"refusal"``, ``"not_json"``, ``"max_tokens"``, ...); unlisted requests succeed.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from tests.fakeserver_wire import Reply, json_reply

JSON = dict[str, Any]
Api = Literal["anthropic", "openai"]


Builder = Callable[[str, JSON, Any], Reply]
"""Runs one generation request (path, body, fault spec) the way the live endpoint would."""


@dataclass
class _Batch:
    id: str
    api: Api
    requests: list[tuple[str, str, JSON]]
    """(custom_id, endpoint path, request body) per request."""
    created: float = field(default_factory=time.time)
    endpoint: str = ""
    input_file_id: str = ""
    cancel_at: float | None = None
    ended_at: float | None = None
    results: list[tuple[str, str, Reply | None]] = field(default_factory=list)
    """(custom_id, outcome, reply) per request, once ended."""
    output_file_id: str | None = None
    error_file_id: str | None = None


def _iso(stamp: float | None) -> str | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC).isoformat()


def _parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Form fields of a multipart body: name -> (filename, bytes)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(head + body)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = (part.get_filename(), payload)
    return fields


class BatchStore:
    """Batches and files of both APIs, with scripted per-request outcomes."""

    def __init__(self, builder: Builder) -> None:
        self.builder = builder
        self.outcomes: dict[str, Any] = {}
        """custom_id -> "expired", "errored", "canceled", or a fault (spec or Fault)."""
        self.delay = 0.0
        self.batches: dict[str, _Batch] = {}
        self.files: dict[str, tuple[JSON, bytes]] = {}
        self._lock = threading.RLock()

    def handle(
        self, method: str, path: str, body: Any, content_type: str, base_url: str
    ) -> Reply | None:
        """The reply for a batch or file request, or None for an unknown route."""
        parts = path.strip("/").split("/")
        with self._lock:
            if parts[:3] == ["v1", "messages", "batches"]:
                return self._anthropic(method, parts[3:], body, base_url)
            if parts[:2] == ["v1", "files"]:
                return self._files(method, parts[2:], body, content_type)
            if parts[:2] == ["v1", "batches"]:
                return self._openai(method, parts[2:], body)
        return None

    def _finish(self, batch: _Batch, canceled: bool = False) -> None:
        """Run every request of the batch and record its outcome."""
        if batch.ended_at is not None:
            return
        for custom_id, endpoint, params in batch.requests:
            outcome = self.outcomes.get(custom_id)
            if canceled or outcome in ("expired", "canceled"):
                batch.results.append((custom_id, "canceled" if canceled else str(outcome), None))
                continue
            spec = "500" if outcome == "errored" else outcome or "ok"
            reply = self.builder(endpoint, params, spec)
            kind = "succeeded" if reply.status == 200 else "errored"
            batch.results.append((custom_id, kind, reply))
        batch.ended_at = time.time()
        if batch.api == "openai":
            self._write_openai_files(batch)

    def _due(self, batch: _Batch) -> None:
        if batch.ended_at is None and batch.cancel_at is not None:
            self._finish(batch, canceled=True)
        elif batch.ended_at is None and time.time() - batch.created >= self.delay:
            self._finish(batch)

    # -- Anthropic Message Batches --------------------------------------------------------

    def _anthropic(self, method: str, rest: list[str], body: Any, base_url: str) -> Reply | None:
        if method == "POST" and not rest:
            requests = [(r["custom_id"], "/v1/messages", r["params"]) for r in body["requests"]]
            batch = _Batch(f"msgbatch_{uuid.uuid4().hex[:24]}", "anthropic", requests)
            self.batches[batch.id] = batch
            return json_reply(self._anthropic_json(batch, base_url))
        if method == "GET" and not rest:
            mine = [b for b in self.batches.values() if b.api == "anthropic"]
            data = [self._anthropic_json(b, base_url) for b in mine]
            first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
            return json_reply({"data": data, "has_more": False, "first_id": first, "last_id": last})
        found = self.batches.get(rest[0])
        if found is None or found.api != "anthropic":
            return json_reply(
                {"type": "error", "error": {"type": "not_found_error", "message": "no batch"}}, 404
            )
        batch = found
        if method == "POST" and rest[1:] == ["cancel"]:
            if batch.ended_at is None:
                batch.cancel_at = time.time()
            return json_reply(self._anthropic_json(batch, base_url, touch=False))
        if method == "GET" and rest[1:] == ["results"]:
            self._due(batch)
            lines = [json.dumps(self._anthropic_line(*result)) for result in batch.results]
            return Reply(200, "\n".join(lines).encode() + b"\n", "application/x-jsonl")
        if method == "GET" and len(rest) == 1:
            return json_reply(self._anthropic_json(batch, base_url))
        return None

    def _anthropic_json(self, batch: _Batch, base_url: str, touch: bool = True) -> JSON:
        if touch:
            self._due(batch)
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for _, kind, _ in batch.results:
            counts[kind] += 1
        counts["processing"] = len(batch.requests) - len(batch.results)
        status = "ended" if batch.ended_at else "canceling" if batch.cancel_at else "in_progress"
        results_url = f"{base_url}/v1/messages/batches/{batch.id}/results"
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "created_at": _iso(batch.created),
            "expires_at": _iso(batch.created + 86400),
            "ended_at": _iso(batch.ended_at),
            "cancel_initiated_at": _iso(batch.cancel_at),
            "archived_at": None,
            "results_url": results_url if batch.ended_at else None,
        }

    @staticmethod
    def _anthropic_line(custom_id: str, kind: str, reply: Reply | None) -> JSON:
        result: JSON = {"type": kind}
        if reply is not None:
            result["message" if kind == "succeeded" else "error"] = reply.json()
        return {"custom_id": custom_id, "result": result}

    # -- OpenAI Files + Batch API -----------------------------------------------------------

    def _add_file(self, name: str, purpose: str, data: bytes) -> JSON:
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        info: JSON = {"id": file_id, "object": "file", "bytes": len(data)}
        info.update(created_at=int(time.time()), filename=name, purpose=purpose)
        info.update(status="processed", expires_at=None, status_details=None)
        self.files[file_id] = (info, data)
        return info

    def _files(self, method: str, rest: list[str], body: Any, content_type: str) -> Reply | None:
        if method == "POST" and not rest and isinstance(body, bytes):
            fields = _parse_multipart(content_type, body)
            filename, data = fields.get("file", ("upload.jsonl", b""))
            purpose = fields.get("purpose", (None, b"batch"))[1].decode()
            return json_reply(self._add_file(filename or "upload.jsonl", purpose, data))
        found = self.files.get(rest[0]) if rest else None
        if found is None:
            error = {"message": "No such File object", "type": "invalid_request_error"}
            return json_reply({"error": {**error, "param": "id", "code": None}}, 404)
        if method == "GET" and rest[1:] == ["content"]:
            return Reply(200, found[1], "application/octet-stream")
        if method == "GET" and len(rest) == 1:
            return json_reply(found[0])
        return None

    def _openai(self, method: str, rest: list[str], body: Any) -> Reply | None:
        if method == "POST" and not rest:
            _, data = self.files[str(body["input_file_id"])]
            lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
            requests = [(line["custom_id"], line["url"], line["body"]) for line in lines]
            batch = _Batch(f"batch_{uuid.uuid4().hex[:24]}", "openai", requests)
            batch.endpoint, batch.input_file_id = body["endpoint"], body["input_file_id"]
            self.batches[batch.id] = batch
            return json_reply(self._openai_json(batch, touch=False))
        found = self.batches.get(rest[0]) if rest else None
        if found is None or found.api != "openai":
            error = {"message": "No such batch", "type": "invalid_request_error", "param": None}
            return json_reply({"error": {**error, "code": None}}, 404)
        batch = found
        if method == "POST" and rest[1:] == ["cancel"]:
            if batch.ended_at is None:
                batch.cancel_at = time.time()
            return json_reply(self._openai_json(batch, touch=False))
        if method == "GET" and len(rest) == 1:
            return json_reply(self._openai_json(batch))
        return None

    def _write_openai_files(self, batch: _Batch) -> None:
        output: list[JSON] = []
        errors: list[JSON] = []
        for custom_id, kind, reply in batch.results:
            line: JSON = {"id": f"batch_req_{uuid.uuid4().hex[:24]}", "custom_id": custom_id}
            if reply is not None:
                response = {"status_code": reply.status, "request_id": uuid.uuid4().hex}
                line.update(response={**response, "body": reply.json()}, error=None)
                (output if kind == "succeeded" else errors).append(line)
                continue
            code = "batch_expired" if kind == "expired" else "batch_cancelled"
            message = f"This request was not executed ({code})."
            errors.append({**line, "response": None, "error": {"code": code, "message": message}})
        for rows, attr in ((output, "output_file_id"), (errors, "error_file_id")):
            if rows:
                data = "".join(json.dumps(row) + "\n" for row in rows).encode()
                info = self._add_file(f"{batch.id}_{attr}.jsonl", "batch_output", data)
                setattr(batch, attr, info["id"])

    def _openai_json(self, batch: _Batch, touch: bool = True) -> JSON:
        if touch:
            self._due(batch)
        kinds = [kind for _, kind, _ in batch.results]
        status = "cancelling" if batch.cancel_at else "in_progress"
        if batch.ended_at:
            status = "cancelled" if batch.cancel_at else "completed"
            status = "expired" if "expired" in kinds else status
        ended = int(batch.ended_at) if batch.ended_at else None
        completed = kinds.count("succeeded")
        counts = {"total": len(batch.requests), "completed": completed}
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "errors": None,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": int(batch.created),
            "in_progress_at": int(batch.created),
            "expires_at": int(batch.created) + 86400,
            "completed_at": ended if status == "completed" else None,
            "expired_at": ended if status == "expired" else None,
            "cancelled_at": ended if status == "cancelled" else None,
            "cancelling_at": int(batch.cancel_at) if batch.cancel_at else None,
            "request_counts": {**counts, "failed": len(kinds) - completed},
            "metadata": None,
        }
