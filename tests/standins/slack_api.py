"""A small Slack Web API stand-in on 127.0.0.1, plus helpers that play Slack towards the bot.

:class:`SlackApiStandIn` serves ``POST/GET /api/{method}`` (so ``SLACK_API_URL`` is
``http://127.0.0.1:PORT/api/``) for ``auth.test``, ``chat.postMessage``, ``chat.update``,
``chat.postEphemeral`` and ``users.info`` (bot token), and ``apps.connections.open``
(app-level token; the WebSocket URL comes from :mod:`tests.standins.slack_socket`); it
records every call and can be told to fail the next call of a method (429 with
``Retry-After``, 5xx, or an ``ok: false`` error);
``faults`` (a :class:`~tests.standins.RandomFaults`) fails a share of calls at random (429
with ``Retry-After``, 500, or a dropped connection; logged as ``method!429``, ``!500``,
``!dropped``). Every call records when it arrived (``Call.at``, ``time.monotonic()``).
``stop_answering(method)`` makes calls of a method hang — read, logged as
``method!hung``, never answered nor processed — until ``answer_again()``.

Files, as Slack's current API has them: ``add_file`` puts a user's file on the stand-in
(its JSON is what a ``file_share`` event carries); ``GET /files-pri/{id}/{name}`` serves
it to the bot token only (anyone else gets Slack's HTML sign-in page, with 200);
``files.info`` describes it; uploads go ``files.getUploadURLExternal`` → ``POST`` to the
returned ``upload_url`` → ``files.completeUploadExternal`` (``channel_id``, ``thread_ts``,
``initial_comment``), and only a completed upload is in ``shared``.

:class:`SlackSender` signs and POSTs Events API and interactivity requests the way Slack
does (HMAC-SHA256 over ``v0:{timestamp}:{body}``), so the real slack-bolt app checks them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.standins import FaultyApp, RandomFaults, fault_of, free_port

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T0001"
APP_ID = "A0001"


@dataclass
class Failure:
    """How the next call of a method fails."""

    status: int = 429
    error: str = "ratelimited"
    retry_after: int | None = 1


@dataclass
class SlackFile:
    data: bytes
    name: str
    mime: str
    size: int | None = None
    """The size Slack reports, if not ``len(data)``."""


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None
    at: float = field(default_factory=time.monotonic)


@dataclass
class SlackApiStandIn:
    """Records Web API calls; answers like Slack does (``ok``, ``ts``, ``error``)."""

    token: str = "xoxb-test-token"
    app_token: str = "xapp-1-A0001-1-test-app-token"
    socket_url: Callable[[], str] | None = None
    """Issues a fresh Socket Mode URL for ``apps.connections.open`` (set by the socket
    stand-in; without one the method answers ``ok: false``)."""
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    holds: dict[str, asyncio.Event] = field(default_factory=dict)
    """Calls of these methods wait until their event is set (a slow Slack, on cue)."""
    faults: RandomFaults | None = None
    """Random faults (off by default); may be set or changed while the server runs."""
    files: dict[str, SlackFile] = field(default_factory=dict)
    shared: list[dict[str, Any]] = field(default_factory=list)
    """Completed uploads: channel, thread_ts, initial_comment and the files (with bytes)."""
    _uploading: dict[str, dict[str, Any]] = field(default_factory=dict)
    _file_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None
    _hung: set[str] = field(default_factory=set)
    _answering: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def add_user(self, user_id: str, first_name: str = "", display_name: str = "") -> None:
        self.users[user_id] = {
            "id": user_id,
            "name": (display_name or first_name or user_id).lower(),
            "real_name": f"{first_name} Example".strip(),
            "profile": {
                "first_name": first_name,
                "display_name": display_name,
                "real_name": f"{first_name} Example".strip(),
            },
        }

    def add_file(
        self, data: bytes, name: str, mime: str, *, size: int | None = None
    ) -> dict[str, Any]:
        """A file a user shared; returns its JSON as a ``file_share`` event carries it."""
        file_id = f"F{next(self._file_ids):07d}"
        self.files[file_id] = SlackFile(data, name, mime, size)
        return self._file_json(file_id)

    def _file_json(self, file_id: str) -> dict[str, Any]:
        file = self.files[file_id]
        base = f"http://127.0.0.1:{self.port}/files-pri/{TEAM_ID}-{file_id}"
        return {
            "id": file_id,
            "name": file.name,
            "title": file.name,
            "mimetype": file.mime,
            "filetype": file.name.rpartition(".")[2],
            "size": file.size if file.size is not None else len(file.data),
            "url_private": f"{base}/{file.name}",
            "url_private_download": f"{base}/download/{file.name}",
        }

    def stop_answering(self, *methods: str) -> None:
        """Calls of ``methods`` hang from now on: Slack takes the request and never
        answers (nor acts on it) until :meth:`answer_again`."""
        self._hung.update(methods)
        self._answering.clear()

    def answer_again(self) -> None:
        """Hung calls end (with a 503, unprocessed); new calls are answered again."""
        self._hung.clear()
        self._answering.set()

    def fail_next(self, method: str, failure: Failure | None = None) -> None:
        self.failures.setdefault(method, []).append(failure or Failure())

    def of(self, method: str) -> list[dict[str, Any]]:
        return [c.args for c in self.calls if c.method == method]

    @property
    def posted(self) -> list[dict[str, Any]]:
        """Every accepted chat.postMessage, with the ``ts`` we answered."""
        return self.of("chat.postMessage")

    @property
    def updated(self) -> list[dict[str, Any]]:
        return self.of("chat.update")

    @property
    def ephemeral(self) -> list[dict[str, Any]]:
        """Every chat.postEphemeral (a message only ``user`` sees)."""
        return self.of("chat.postEphemeral")

    async def start(self) -> None:
        self.port = free_port()
        routes = [
            Route("/api/{method}", self._api, methods=["GET", "POST"]),
            Route("/files-pri/{path:path}", self._download, methods=["GET"]),
            Route("/upload/v1/{file_id}", self._upload, methods=["POST"]),
        ]
        app = FaultyApp(Starlette(routes=routes), lambda: self.faults, self._dropped)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        await wait_for(lambda: self._server is not None and self._server.started, 10)

    async def stop(self) -> None:
        self._answering.set()  # hung calls end
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task

    def _dropped(self, method: str, body: bytes) -> None:
        """A call whose connection :class:`FaultyApp` dropped: logged, never processed."""
        args = _decode(body, "application/json" if body[:1] == b"{" else "")
        self.calls.append(Call(f"{method}!dropped", args, None))

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        args: dict[str, Any] = dict(request.query_params)
        args.update(_decode(await request.body(), request.headers.get("content-type", "")))
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ") if auth else args.pop("token", None)
        if method in self._hung:
            self.calls.append(Call(f"{method}!hung", args, token))
            await self._answering.wait()
            return JSONResponse({"ok": False, "error": "service_unavailable"}, status_code=503)
        if method in self.delays:
            await asyncio.sleep(self.delays[method])
        if method in self.holds:
            await self.holds[method].wait()
        queued = self.failures.get(method)
        if queued:
            failure = queued.pop(0)
            self.calls.append(Call(f"{method}!failed", args, token))
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
            return JSONResponse(
                {"ok": False, "error": failure.error}, status_code=failure.status, headers=headers
            )
        fault = fault_of(request.state)
        if fault is not None and self.faults is not None:
            self.calls.append(Call(f"{method}!{fault}", args, token))  # "!429", "!500"
            if fault == 429:
                retry = {"Retry-After": str(self.faults.retry_after)}
                return JSONResponse({"ok": False, "error": "ratelimited"}, 429, headers=retry)
            return JSONResponse({"ok": False, "error": "internal_error"}, status_code=500)
        if method == "apps.connections.open":
            answer = self._connections_open(token)
        elif token != self.token:  # Slack tells an app-level token apart from a wrong one
            wrong_kind = token == self.app_token
            return JSONResponse(
                {"ok": False, "error": "not_allowed_token_type" if wrong_kind else "invalid_auth"}
            )
        else:
            answer = self._answer(method, args)
        if answer.get("ok"):
            self.calls.append(Call(method, args, token))
        return JSONResponse(answer)

    def _connections_open(self, token: str | None) -> dict[str, Any]:
        """``apps.connections.open``: only the app-level token opens Socket Mode."""
        if token == self.token:
            return {"ok": False, "error": "not_allowed_token_type"}
        if token != self.app_token:
            return {"ok": False, "error": "invalid_auth"}
        if self.socket_url is None:
            return {"ok": False, "error": "internal_error"}
        return {"ok": True, "url": self.socket_url()}

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://example.slack.com/",
                "team": "Example",
                "user": "supportbot",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if method == "chat.postMessage":
            ts = f"{1700000000 + next(self._ts)}.000100"
            args["ts"] = ts
            message = {"type": "message", "bot_id": BOT_ID, "user": BOT_USER_ID, "ts": ts}
            message.update({k: args[k] for k in ("text", "blocks", "thread_ts") if k in args})
            return {"ok": True, "channel": args.get("channel"), "ts": ts, "message": message}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{1700000000 + next(self._ts)}.000200"}
        if method == "chat.update":
            return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}
        if method == "users.info":
            user = self.users.get(str(args.get("user")))
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": user}
        return self._files_answer(method, args)

    async def _download(self, request: Request) -> Response:
        """A file's bytes for the bot token; Slack's sign-in page (HTML, 200) otherwise."""
        file_id = str(request.path_params["path"]).split("/")[0].rpartition("-")[2]
        authorized = request.headers.get("authorization") == f"Bearer {self.token}"
        self.calls.append(Call("download", {"file": file_id}, None if not authorized else "ok"))
        if not authorized:
            return Response("<html>Sign in to Slack</html>", media_type="text/html")
        file = self.files.get(file_id)
        if file is None:
            return Response("Not found", status_code=404)
        return Response(file.data, media_type=file.mime)

    async def _upload(self, request: Request) -> Response:
        """Step 2 of an upload: the bytes, to the URL getUploadURLExternal named."""
        file_id = request.path_params["file_id"]
        data = await request.body()
        queued = self.failures.get("upload")
        if queued:
            failure = queued.pop(0)
            self.calls.append(Call("upload!failed", {"file_id": file_id}, None))
            return Response("upload failed", status_code=failure.status)
        if file_id not in self._uploading:
            return Response("unknown upload", status_code=404)
        self._uploading[file_id]["data"] = data
        self.calls.append(Call("upload", {"file_id": file_id, "length": len(data)}, None))
        return Response(f"OK - {len(data)}", media_type="text/plain")

    def _files_answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._file_ids):07d}"
            self._uploading[file_id] = {
                "filename": args.get("filename"),
                "length": args.get("length"),
            }
            upload_url = f"http://127.0.0.1:{self.port}/upload/v1/{file_id}"
            return {"ok": True, "upload_url": upload_url, "file_id": file_id}
        if method == "files.completeUploadExternal":
            listed = json.loads(args.get("files") or "[]")
            if any("data" not in self._uploading.get(f["id"], {}) for f in listed):
                return {"ok": False, "error": "file_not_found"}
            files = []
            for item in listed:
                upload = self._uploading.pop(item["id"])
                name = str(upload["filename"])
                self.files[item["id"]] = SlackFile(upload["data"], name, "application/octet-stream")
                files.append({"id": item["id"], "title": item.get("title"), "name": name,
                              "data": upload["data"]})  # fmt: skip
            self.shared.append({
                "channel": args.get("channel_id"),
                "thread_ts": args.get("thread_ts"),
                "initial_comment": args.get("initial_comment"),
                "files": files,
            })  # fmt: skip
            return {"ok": True, "files": [{"id": f["id"], "title": f["title"]} for f in files]}
        if method == "files.info":
            if args.get("file") not in self.files:
                return {"ok": False, "error": "file_not_found"}
            return {"ok": True, "file": self._file_json(str(args["file"]))}
        return {"ok": False, "error": "unknown_method"}


def _decode(body: bytes, content_type: str) -> dict[str, Any]:
    if not body:
        return {}
    if content_type.startswith("application/json"):
        data: dict[str, Any] = json.loads(body)
        return data
    return dict(urllib.parse.parse_qsl(body.decode()))


async def wait_for(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Poll ``condition`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {condition}")
        await asyncio.sleep(0.02)


def sign(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The headers Slack adds: ``X-Slack-Signature: v0=hex(hmac(v0:{ts}:{body}))``."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Signature": f"v0={digest}", "X-Slack-Request-Timestamp": str(timestamp)}


@dataclass
class Reply:
    status: int
    text: str


class SlackSender:
    """Plays Slack's side towards the bot's ``POST /slack/events``."""

    def __init__(self, bot_url: str, signing_secret: str) -> None:
        self.bot_url = bot_url
        self.secret = signing_secret
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)

    def next_ts(self) -> str:
        return f"1710000000.{next(self._ts):06d}"

    def next_event_id(self) -> str:
        return f"Ev{next(self._ids):08d}"

    async def post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        stamp = int(time.time()) if timestamp is None else timestamp
        all_headers = {"Content-Type": content_type, **sign(secret or self.secret, body, stamp)}
        all_headers.update(headers or {})
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.bot_url, data=body, headers=all_headers) as response,
        ):
            return Reply(response.status, await response.text())

    def event_body(self, event: dict[str, Any], event_id: str | None = None) -> bytes:
        envelope = {
            "token": "verification-token",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or self.next_event_id(),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": TEAM_ID,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        return json.dumps(envelope).encode()

    async def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        **kwargs: Any,
    ) -> Reply:
        headers = kwargs.pop("headers", {}) or {}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        body = self.event_body(event, event_id)
        return await self.post(body, "application/json", headers=headers, **kwargs)

    def dm_event(self, user: str, text: str, channel: str, **extra: Any) -> dict[str, Any]:
        return {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": self.next_ts(),
            "event_ts": self.next_ts(),
            "channel_type": "im",
            "team": TEAM_ID,
            **extra,
        }

    def mention_event(
        self, user: str, text: str, channel: str, thread_ts: str | None = None
    ) -> dict[str, Any]:
        ts = self.next_ts()
        event = {
            "type": "app_mention",
            "user": user,
            "text": f"<@{BOT_USER_ID}> {text}",
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
            "team": TEAM_ID,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return event

    def channel_message(
        self, user: str, text: str, channel: str, thread_ts: str | None = None
    ) -> dict[str, Any]:
        ts = self.next_ts()
        event = {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "channel_type": "channel",
            "team": TEAM_ID,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return event

    async def press(
        self, user: str, channel: str, message: dict[str, Any], label: str, **kwargs: Any
    ) -> Reply:
        """Click the button ``label`` on a message the bot posted (as the stand-in recorded it)."""
        payload = self.press_payload(user, channel, message, label)
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return await self.post(body, "application/x-www-form-urlencoded", **kwargs)

    def press_payload(
        self, user: str, channel: str, message: dict[str, Any], label: str
    ) -> dict[str, Any]:
        """The ``block_actions`` payload of a click on ``label`` (HTTP or Socket Mode)."""
        action = _find_button(message, label)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {
                "id": user,
                "username": user.lower(),
                "name": user.lower(),
                "team_id": TEAM_ID,
            },
            "api_app_id": APP_ID,
            "token": "verification-token",
            "container": {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"trigger-{self.next_ts()}",
            "team": {"id": TEAM_ID, "domain": "example"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": "directmessage"},
            "message": {
                "type": "message",
                "user": BOT_USER_ID,
                "bot_id": BOT_ID,
                "ts": message["ts"],
                "text": message.get("text", ""),
                "blocks": message.get("blocks", []),
                **({"thread_ts": message["thread_ts"]} if "thread_ts" in message else {}),
            },
            "state": {"values": {}},
            "response_url": "https://hooks.slack.invalid/actions/T0001/1/x",
            "actions": [
                {
                    "action_id": action["action_id"],
                    "block_id": action["block_id"],
                    "text": action["text"],
                    "value": action.get("value"),
                    "type": "button",
                    "action_ts": self.next_ts(),
                }
            ],
        }
        return payload


def buttons_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The buttons of a posted message, each with its ``block_id``."""
    blocks = message.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    found = []
    for index, block in enumerate(blocks):
        if block.get("type") == "actions":
            for element in block.get("elements", []):
                found.append({**element, "block_id": block.get("block_id", f"b{index}")})
    return found


def labels_of(message: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in buttons_of(message)]


def _find_button(message: dict[str, Any], label: str) -> dict[str, Any]:
    for button in buttons_of(message):
        if button["text"]["text"] == label:
            return button
    raise AssertionError(f"no button {label!r}; offered: {labels_of(message)}")
