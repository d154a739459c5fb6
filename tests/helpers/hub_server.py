"""A tiny local stand-in for the Hugging Face Hub HTTP API, for tests.

It speaks just enough of the Hub protocol for the real `huggingface_hub` client (and `transformers`
on top of it) to create a model repo, commit files to it, validate a model card and download the
files back. Everything is kept in memory; it only ever binds 127.0.0.1.

Implemented (model repos only; `{repo_id}` is `namespace/name`, `{rev}` a branch name or a commit sha):

    POST /api/repos/create                           create a repo (409 if it exists)
    GET  /api/whoami-v2                              the fake user behind any token
    GET  /api/models/{repo_id}[/revision/{rev}]      model info: id, sha, private, siblings, cardData...
    POST /api/models/{repo_id}/preupload/{rev}       answers uploadMode "regular" for every file (no LFS/Xet)
    POST /api/models/{repo_id}/commit/{rev}          ndjson: header / file (base64) / deletedFile / deletedFolder
    GET  /api/models/{repo_id}/tree/{rev}[/{path}]   tree listing (recursive=1 supported, no pagination)
    POST /api/models/{repo_id}/paths-info/{rev}      info for a list of paths (form or JSON body)
    POST /api/validate-yaml                          parses the card's YAML front matter with PyYAML
    GET|HEAD /{repo_id}/resolve/{rev}/{path}         file download, with ETag / X-Repo-Commit / Content-Length

Errors carry the `X-Error-Code` header the client maps to its exceptions (RepoNotFound,
RevisionNotFound, EntryNotFound). Write calls need an `Authorization: Bearer ...` header (any token,
or exactly `token` if the server was started with one); tokens are never stored or logged.

Use from tests:

    server, url = start_server()
    ...  # run a subprocess with HF_ENDPOINT=url
    server.hub.file_names("tester/my-model")
    stop(server)

Standalone: `python tests/helpers/hub_server.py --port 8765` (then `HF_ENDPOINT=http://127.0.0.1:8765`).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

HOST = "127.0.0.1"
DEFAULT_USER = "tester"
MAX_BODY_BYTES = 128 * 1024 * 1024  # a commit carries base64 file contents; tiny test models are far below this
MAX_LOGGED_REQUESTS = 10_000


def git_blob_oid(data: bytes) -> str:
    """The git blob sha1 of `data`, which the Hub reports as a regular file's oid / ETag."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _front_matter(content: str) -> tuple[str | None, str | None]:
    """(yaml_text, error). yaml_text is None when the card has no `---` block."""
    text = content.lstrip("\ufeff")
    if not text.startswith("---"):
        return None, None
    lines = text.splitlines()
    if lines[0].strip() != "---":
        return None, None
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "\n".join(lines[1:i]), None
    return None, "The YAML metadata block is not closed by a '---' line"


def parse_card_metadata(content: str) -> dict:
    """Best-effort metadata of a README (empty dict when absent or invalid)."""
    yaml_text, error = _front_matter(content)
    if yaml_text is None or error:
        return {}
    try:
        data = yaml.safe_load(yaml_text)
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def validate_metadata(content: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) for a repo card, roughly like the Hub's /api/validate-yaml."""
    yaml_text, error = _front_matter(content)
    if error:
        return [error], []
    if yaml_text is None:
        return [], ["Empty or missing yaml metadata in repo card"]
    try:
        data = yaml.safe_load(yaml_text)
    except yaml.YAMLError as exc:
        return [f"Invalid YAML in the metadata block: {' '.join(str(exc).split())}"], []
    if data is None:
        return [], ["Empty or missing yaml metadata in repo card"]
    if not isinstance(data, dict):
        return [f"The metadata must be a YAML mapping, got {type(data).__name__}"], []
    errors: list[str] = []
    for key in ("license", "pipeline_tag", "library_name"):
        if key in data and not isinstance(data[key], str):
            errors.append(f'"{key}" must be a string')
    for key in ("tags", "datasets", "metrics", "base_model", "language"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors.append(f'"{key}" must be a string or a list of strings')
    if "model-index" in data:
        errors += _model_index_errors(data["model-index"])
    return errors, []


def _model_index_errors(model_index) -> list[str]:
    if not isinstance(model_index, list) or not model_index:
        return ['"model-index" must be a non-empty list']
    errors = []
    for i, entry in enumerate(model_index):
        where = f"model-index[{i}]"
        if not isinstance(entry, dict):
            errors.append(f'"{where}" must be a mapping')
            continue
        if not isinstance(entry.get("name"), str):
            errors.append(f'"{where}.name" is required and must be a string')
        results = entry.get("results")
        if not isinstance(results, list):
            errors.append(f'"{where}.results" is required and must be a list')
            continue
        for j, result in enumerate(results):
            rwhere = f"{where}.results[{j}]"
            if not isinstance(result, dict):
                errors.append(f'"{rwhere}" must be a mapping')
                continue
            task = result.get("task")
            if not isinstance(task, dict) or not isinstance(task.get("type"), str):
                errors.append(f'"{rwhere}.task.type" is required')
            dataset = result.get("dataset")
            for key in ("name", "type"):
                if not isinstance(dataset, dict) or not isinstance(dataset.get(key), str):
                    errors.append(f'"{rwhere}.dataset.{key}" is required')
            metrics = result.get("metrics")
            if not isinstance(metrics, list) or not metrics:
                errors.append(f'"{rwhere}.metrics" must be a non-empty list')
                continue
            for k, metric in enumerate(metrics):
                if not isinstance(metric, dict) or not isinstance(metric.get("type"), str) or "value" not in metric:
                    errors.append(f'"{rwhere}.metrics[{k}]" needs "type" and "value"')
    return errors


# ---------------------------------------------------------------------------------------------------------------------
# Storage


@dataclass
class Commit:
    oid: str
    parent: str | None
    message: str
    files: dict[str, bytes]
    date: str = field(default_factory=_now)


@dataclass
class Repo:
    repo_id: str
    private: bool
    created_at: str = field(default_factory=_now)
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)

    def resolve(self, rev: str) -> Commit | None:
        if rev in self.branches:
            return self.commits[self.branches[rev]]
        return self.commits.get(rev)


class HubStore:
    """In-memory repos. All public methods are thread-safe."""

    def __init__(self):
        self.lock = threading.RLock()
        self.repos: dict[str, Repo] = {}
        self._counter = 0

    def _new_oid(self, *parts: str) -> str:
        self._counter += 1
        return hashlib.sha1("\x00".join((str(self._counter), str(time.time()), *parts)).encode()).hexdigest()

    def create_repo(self, repo_id: str, private: bool) -> bool:
        """True if created, False if it already existed."""
        with self.lock:
            if repo_id in self.repos:
                return False
            repo = Repo(repo_id=repo_id, private=private)
            initial = Commit(
                oid=self._new_oid(repo_id, "initial"),
                parent=None,
                message="initial commit",
                files={".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"},
            )
            repo.commits[initial.oid] = initial
            repo.branches["main"] = initial.oid
            self.repos[repo_id] = repo
            return True

    def get(self, repo_id: str) -> Repo | None:
        with self.lock:
            return self.repos.get(repo_id)

    def commit(self, repo_id: str, branch: str, message: str, puts: dict[str, bytes], deletes: list[str],
               parent_commit: str | None = None) -> str:
        with self.lock:
            repo = self.repos[repo_id]
            head = repo.resolve(branch)
            if head is None:
                raise KeyError(branch)
            if parent_commit is not None and parent_commit != head.oid:
                raise ValueError(f"parentCommit {parent_commit} is not the head of {branch} ({head.oid})")
            files = dict(head.files)
            for path in deletes:
                prefix = path.rstrip("/") + "/"
                for existing in [p for p in files if p == path or p.startswith(prefix)]:
                    del files[existing]
            files.update(puts)
            oid = self._new_oid(repo_id, head.oid, message, *sorted(f"{p}:{git_blob_oid(d)}" for p, d in files.items()))
            repo.commits[oid] = Commit(oid=oid, parent=head.oid, message=message, files=files)
            if branch in repo.branches or branch == "main":
                repo.branches[branch] = oid
            return oid

    # Convenience for tests -----------------------------------------------------------------------------------------
    def file_names(self, repo_id: str, revision: str = "main") -> list[str]:
        with self.lock:
            commit = self.repos[repo_id].resolve(revision)
            return sorted(commit.files)

    def file_bytes(self, repo_id: str, path: str, revision: str = "main") -> bytes:
        with self.lock:
            return self.repos[repo_id].resolve(revision).files[path]

    def commit_messages(self, repo_id: str) -> list[str]:
        with self.lock:
            repo = self.repos[repo_id]
            out, commit = [], repo.resolve("main")
            while commit is not None:
                out.append(commit.message)
                commit = repo.commits.get(commit.parent) if commit.parent else None
            return out


# ---------------------------------------------------------------------------------------------------------------------
# HTTP


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


class HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/0.1"
    timeout = 30  # seconds an idle keep-alive connection may stay open

    server: FakeHubServer

    # -- plumbing ------------------------------------------------------------------------------------------------
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        if self.server.verbose:
            sys.stderr.write("[fake-hub] " + (format % args) + "\n")

    def _record(self, status: int):
        with self.server.hub.lock:
            if len(self.server.requests) < MAX_LOGGED_REQUESTS:
                # method, path (with query) and status only: never headers, so never a token
                self.server.requests.append((self.command, self.path, status))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > self.server.max_body_bytes:
                    self.close_connection = True
                    raise HubError(413, f"Request body larger than {self.server.max_body_bytes} bytes")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.server.max_body_bytes:
            self.close_connection = True
            raise HubError(413, f"Request body larger than {self.server.max_body_bytes} bytes")
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", content_type: str = "application/json",
              headers: dict | None = None, head_only: bool = False, content_length: int | None = None):
        self._record(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if content_length is None else content_length))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head_only and body:
            self.wfile.write(body)

    def _json(self, status: int, obj, headers: dict | None = None):
        self._send(status, json.dumps(obj).encode(), headers=headers)

    def _error(self, err: HubError, head_only: bool = False):
        headers = dict(err.headers)
        if err.code:
            headers["X-Error-Code"] = err.code
        headers["X-Error-Message"] = err.message.replace("\n", " ")[:200]
        self._send(err.status, json.dumps({"error": err.message}).encode(), headers=headers, head_only=head_only)

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip() or None
        return None

    def _require_auth(self):
        token = self._token()
        if token is None:
            raise HubError(401, "Invalid username or password.", headers={})
        if self.server.required_token is not None and token != self.server.required_token:
            raise HubError(401, "Invalid credentials in Authorization header")

    def _repo_for_read(self, repo_id: str) -> Repo:
        repo = self.server.hub.get(repo_id)
        if repo is None or (repo.private and self._token() is None):
            raise HubError(404, f"Repository Not Found for url: {self.path}.", code="RepoNotFound")
        return repo

    def _dispatch(self, head_only: bool = False):
        split = urlsplit(self.path)
        segments = [unquote(s) for s in split.path.split("/")[1:]]
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        try:
            body = self._read_body() if self.command in ("POST", "PUT") else b""
            self._route(segments, query, body, head_only)
        except HubError as err:
            self._error(err, head_only=head_only)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug in the fake server: report it, keep serving
            self._error(HubError(500, f"fake hub internal error: {type(exc).__name__}: {exc}"), head_only=head_only)

    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch(head_only=True)

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    # -- routing -------------------------------------------------------------------------------------------------
    def _split_repo(self, rest: list[str]) -> tuple[str, list[str]]:
        """`namespace/name/tail...` -> (repo_id, tail); also accepts un-namespaced repos that exist."""
        if len(rest) >= 2 and self.server.hub.get(f"{rest[0]}/{rest[1]}") is not None:
            return f"{rest[0]}/{rest[1]}", rest[2:]
        if rest and self.server.hub.get(rest[0]) is not None:
            return rest[0], rest[1:]
        if len(rest) >= 2:
            return f"{rest[0]}/{rest[1]}", rest[2:]
        raise HubError(404, "Repository Not Found", code="RepoNotFound")

    def _route(self, seg: list[str], query: dict, body: bytes, head_only: bool):
        method = self.command
        if seg[:1] == ["api"]:
            api = seg[1:]
            if api == ["repos", "create"] and method == "POST":
                return self._create_repo(body)
            if api == ["validate-yaml"] and method == "POST":
                return self._validate_yaml(body)
            if api == ["whoami-v2"] and method == "GET":
                return self._whoami()
            if api[:1] == ["models"] and len(api) >= 2:
                repo_id, tail = self._split_repo(api[1:])
                if not tail and method == "GET":
                    return self._model_info(repo_id, "main")
                if len(tail) == 2 and tail[0] == "revision" and method == "GET":
                    return self._model_info(repo_id, tail[1])
                if len(tail) == 2 and tail[0] == "preupload" and method == "POST":
                    return self._preupload(repo_id, tail[1], body)
                if len(tail) == 2 and tail[0] == "commit" and method == "POST":
                    return self._commit(repo_id, tail[1], body, query)
                if len(tail) >= 2 and tail[0] == "tree" and method == "GET":
                    return self._tree(repo_id, tail[1], "/".join(tail[2:]), query)
                if len(tail) == 2 and tail[0] == "paths-info" and method == "POST":
                    return self._paths_info(repo_id, tail[1], body)
            raise HubError(404, f"Not implemented by the fake hub: {method} /{'/'.join(seg)}")
        if method in ("GET", "HEAD") and "resolve" in seg[1:3]:
            i = seg.index("resolve", 1)
            repo_id = "/".join(seg[:i])
            if len(seg) < i + 3:
                raise HubError(404, "Entry not found", code="EntryNotFound")
            return self._resolve(repo_id, seg[i + 1], "/".join(seg[i + 2:]), head_only, query)
        raise HubError(404, f"Not implemented by the fake hub: {method} /{'/'.join(seg)}")

    # -- endpoints -----------------------------------------------------------------------------------------------
    def _create_repo(self, body: bytes):
        self._require_auth()
        payload = json.loads(body or b"{}")
        if payload.get("type", "model") != "model":
            raise HubError(400, "The fake hub only hosts model repos")
        name = payload.get("name")
        if not isinstance(name, str) or not name or "/" in name:
            raise HubError(400, "Invalid repo name")
        repo_id = f"{payload.get('organization') or DEFAULT_USER}/{name}"
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        url = f"{self.server.base_url}/{repo_id}"
        if not self.server.hub.create_repo(repo_id, private):
            raise HubError(409, "You already created this model repo", headers={})
        self._json(200, {"url": url, "name": repo_id, "id": repo_id})

    def _whoami(self):
        self._require_auth()
        self._json(200, {
            "type": "user", "id": "0", "name": DEFAULT_USER, "fullname": "Fake Hub Tester", "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": "tests", "role": "write"}},
        })

    def _commit_or_404(self, repo: Repo, rev: str) -> Commit:
        commit = repo.resolve(rev)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {rev}", code="RevisionNotFound")
        return commit

    def _model_info(self, repo_id: str, rev: str):
        repo = self._repo_for_read(repo_id)
        with self.server.hub.lock:
            commit = self._commit_or_404(repo, rev)
            files = dict(commit.files)
        meta = parse_card_metadata(files.get("README.md", b"").decode("utf-8", "replace"))
        self._json(200, {
            "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24],
            "id": repo_id,
            "modelId": repo_id,
            "author": repo_id.split("/")[0],
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": list(meta.get("tags") or []),
            "pipeline_tag": meta.get("pipeline_tag"),
            "library_name": meta.get("library_name"),
            "cardData": meta or None,
            "siblings": [{"rfilename": p, "size": len(d), "blobId": git_blob_oid(d)} for p, d in sorted(files.items())],
        })

    def _preupload(self, repo_id: str, rev: str, body: bytes):
        self._require_auth()
        repo = self._repo_for_read(repo_id)
        payload = json.loads(body or b"{}")
        with self.server.hub.lock:
            files = dict(self._commit_or_404(repo, rev).files)
        out = []
        for item in payload.get("files", []):
            path = item["path"]
            existing = files.get(path)
            out.append({
                "path": path,
                "uploadMode": "regular",  # never LFS/Xet: contents come inline in the commit call
                "shouldIgnore": False,
                "oid": git_blob_oid(existing) if existing is not None else None,
            })
        self._json(200, {"files": out, "commitOid": repo.resolve(rev).oid})

    def _commit(self, repo_id: str, rev: str, body: bytes, query: dict):
        self._require_auth()
        repo = self._repo_for_read(repo_id)
        if query.get("create_pr") in ("1", "true", "True"):
            raise HubError(400, "The fake hub does not support pull requests")
        self._commit_or_404(repo, rev)
        header, puts, deletes = None, {}, []
        for raw in body.splitlines():
            if not raw.strip():
                continue
            line = json.loads(raw)
            key, value = line.get("key"), line.get("value") or {}
            if key == "header":
                header = value
            elif key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise HubError(400, f"Unsupported encoding {value.get('encoding')!r}")
                puts[self._clean_path(value["path"])] = base64.b64decode(value["content"])
            elif key in ("deletedFile", "deletedFolder"):
                deletes.append(self._clean_path(value["path"]))
            elif key == "lfsFile":
                raise HubError(422, "The fake hub accepts no LFS files (preupload always answers 'regular')")
            else:
                raise HubError(400, f"Unknown commit operation {key!r}")
        if header is None or not header.get("summary"):
            raise HubError(400, "Missing commit header / summary")
        message = header["summary"]
        try:
            oid = self.server.hub.commit(repo_id, rev, message, puts, deletes, header.get("parentCommit"))
        except ValueError as exc:
            raise HubError(412, str(exc)) from exc
        self._json(200, {
            "success": True,
            "commitOid": oid,
            "commitUrl": f"{self.server.base_url}/{repo_id}/commit/{oid}",
            "hookOutput": "",
        })

    @staticmethod
    def _clean_path(path: str) -> str:
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if not parts or ".." in parts:
            raise HubError(400, f"Invalid path in repo: {path!r}")
        return "/".join(parts)

    @staticmethod
    def _entries(files: dict[str, bytes], under: str, recursive: bool) -> list[dict]:
        prefix = under.rstrip("/") + "/" if under else ""
        entries, folders = [], set()
        for path, data in sorted(files.items()):
            if not path.startswith(prefix):
                continue
            rel = path[len(prefix):].split("/")
            for depth in range(1, len(rel)):
                folder = prefix + "/".join(rel[:depth])
                if (recursive or depth == 1) and folder not in folders:
                    folders.add(folder)
                    entries.append({"type": "directory", "oid": git_blob_oid(folder.encode()), "path": folder, "size": 0})
            if recursive or len(rel) == 1:
                entries.append({"type": "file", "oid": git_blob_oid(data), "size": len(data), "path": path})
        return entries

    def _tree(self, repo_id: str, rev: str, path: str, query: dict):
        repo = self._repo_for_read(repo_id)
        with self.server.hub.lock:
            commit = self._commit_or_404(repo, rev)
            files = dict(commit.files)
        path = path.strip("/")
        if path and (path in files or not any(p.startswith(path + "/") for p in files)):
            raise HubError(404, f"Entry not found: {path}", code="EntryNotFound", headers={"X-Repo-Commit": commit.oid})
        recursive = query.get("recursive", "").lower() in ("1", "true")
        self._json(200, self._entries(files, path, recursive))

    def _paths_info(self, repo_id: str, rev: str, body: bytes):
        repo = self._repo_for_read(repo_id)
        if self.headers.get("Content-Type", "").startswith("application/json"):
            paths = json.loads(body or b"{}").get("paths", [])
        else:
            paths = parse_qs(body.decode()).get("paths", [])
        with self.server.hub.lock:
            files = dict(self._commit_or_404(repo, rev).files)
        out = []
        for path in paths if isinstance(paths, list) else [paths]:
            path = path.strip("/")
            if path in files:
                out.append({"type": "file", "oid": git_blob_oid(files[path]), "size": len(files[path]), "path": path})
            elif any(p.startswith(path + "/") for p in files):
                out.append({"type": "directory", "oid": git_blob_oid(path.encode()), "size": 0, "path": path})
        self._json(200, out)

    def _validate_yaml(self, body: bytes):
        payload = json.loads(body or b"{}")
        content = payload.get("content")
        if not isinstance(content, str):
            raise HubError(400, '"content" must be a string')
        errors, warnings = validate_metadata(content)
        status = 400 if errors else 200
        self._json(status, {"errors": [{"message": e} for e in errors], "warnings": [{"message": w} for w in warnings]})

    def _resolve(self, repo_id: str, rev: str, path: str, head_only: bool, query: dict):
        repo = self._repo_for_read(repo_id)
        with self.server.hub.lock:
            commit = self._commit_or_404(repo, rev)
            data = commit.files.get(path)
        if data is None:
            raise HubError(404, f"Entry not found: {path}", code="EntryNotFound", headers={"X-Repo-Commit": commit.oid})
        headers = {
            "ETag": f'"{git_blob_oid(data)}"',
            "X-Repo-Commit": commit.oid,
            "Accept-Ranges": "bytes",
        }
        content_type = "text/plain; charset=utf-8" if path.endswith((".md", ".txt")) else "application/octet-stream"
        if path.endswith(".json"):
            content_type = "application/json"
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and "," not in rng and not head_only:
            start_s, _, end_s = rng[6:].partition("-")
            try:
                start = int(start_s) if start_s else max(len(data) - int(end_s), 0)
                end = int(end_s) if (end_s and start_s) else len(data) - 1
            except ValueError:
                start, end = 0, len(data) - 1
            end = min(end, len(data) - 1)
            if start > end:
                raise HubError(416, "Range not satisfiable", headers={"Content-Range": f"bytes */{len(data)}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return self._send(206, data[start:end + 1], content_type=content_type, headers=headers)
        self._send(200, data, content_type=content_type, headers=headers, head_only=head_only, content_length=len(data))


class FakeHubServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0, required_token: str | None = None, verbose: bool = False,
                 max_body_bytes: int = MAX_BODY_BYTES):
        super().__init__((HOST, port), HubHandler)
        self.hub = HubStore()
        self.requests: list[tuple[str, str, int]] = []
        self.required_token = required_token
        self.verbose = verbose
        self.max_body_bytes = max_body_bytes
        self.base_url = f"http://{HOST}:{self.server_address[1]}"
        self._thread: threading.Thread | None = None


def start_server(port: int = 0, required_token: str | None = None, verbose: bool = False) -> tuple[FakeHubServer, str]:
    """Start the fake Hub on 127.0.0.1 (a free port by default) in a daemon thread; returns (server, base_url)."""
    server = FakeHubServer(port=port, required_token=required_token, verbose=verbose)
    server._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                      name="fake-hub", daemon=True)
    server._thread.start()
    return server, server.base_url


def stop(server: FakeHubServer) -> None:
    """Stop serving and free the port."""
    server.shutdown()
    server.server_close()
    if server._thread is not None:
        server._thread.join(timeout=5)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run the fake Hugging Face Hub on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument("--token", default=None, help="accept only this token for writes (default: any token)")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    server = FakeHubServer(port=args.port, required_token=args.token, verbose=not args.quiet)
    print(f"Fake Hub listening on {server.base_url} (set HF_ENDPOINT={server.base_url})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
