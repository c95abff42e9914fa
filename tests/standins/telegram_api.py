"""A Telegram Bot API stand-in: a real HTTP server on 127.0.0.1 for the real ptb ``Bot``.

It serves ``POST /bot{token}/{method}`` for the methods the channel uses and records
every call, so tests assert on what Telegram would have received. ``getUpdates`` long-
polls like the real one: it returns queued updates with ``update_id >= offset``, forgets
the ones below ``offset`` (that is how Telegram learns they were handled) and records
each offset it was asked for. ``fail_next`` makes the next call of a method fail the way
Telegram fails (429 with ``retry_after``, 5xx, 403 "bot was blocked by the user");
``faults`` (a :class:`~tests.standins.RandomFaults`) makes a share of calls fail at random
(429, 500, or a dropped connection). Every call records when it arrived (``Call.at``,
``time.monotonic()``), so tests can check retry timing from the stand-in's own log.

Files: ``add_file`` puts a file on the "server"; ``getFile`` answers its ``file_path``
(400 "file is too big" over 20 MB, as Telegram does) and ``GET /file/bot{token}/{path}``
serves its bytes; ``sendPhoto``/``sendDocument``/``sendVoice``/``sendVideo``/… take a
``file_id`` it knows or a multipart upload (kept in ``files``), and the sent message
carries the file the way Telegram returns it (``photo`` sizes, ``document``…, ``caption``).
``stop_answering(method)`` makes calls of a method hang — read, logged (``fault="hang"``),
never answered nor processed — until ``answer_again()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.standins import FaultyApp, LocalServer, RandomFaults, fault_of, serve_locally

TOKEN = "123456789:TEST-token_abcdefghijklmnopqrstuvwxyz"
BOT_USER: dict[str, Any] = {
    "id": 123456789,
    "is_bot": True,
    "first_name": "Shop Bot",
    "username": "shop_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


@dataclass(slots=True)
class Call:
    seq: int
    method: str
    params: dict[str, Any]
    failed: bool = False
    fault: str | None = None
    """A random fault this call got (``"429"``, ``"500"``, ``"drop"``), if any."""
    at: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class StoredFile:
    """A file the stand-in holds (sent by a user, or uploaded by the bot)."""

    data: bytes
    name: str | None = None
    mime: str | None = None
    size: int | None = None
    """The size Telegram reports, if not ``len(data)`` (a "35 MB" file without 35 MB)."""

    @property
    def file_size(self) -> int:
        return self.size if self.size is not None else len(self.data)


@dataclass(slots=True)
class Upload:
    """A multipart file part the bot uploaded."""

    filename: str
    data: bytes
    content_type: str


DOWNLOAD_LIMIT = 20 * 1024 * 1024
MEDIA = ("photo", "document", "voice", "video", "audio", "animation", "video_note")


@dataclass(slots=True)
class Failure:
    status: int
    description: str
    retry_after: int | None = None
    after: int = 0  # let this many calls succeed first


@dataclass
class TelegramApiStandIn:
    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Messages the bot sent, by message_id, as returned to it (with reply_markup)."""
    topics: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Forum topics the bot created, by message_thread_id."""
    files: dict[str, StoredFile] = field(default_factory=dict)
    """Files on the "server", by file_id (users' files and the bot's uploads)."""
    port: int = 0
    faults: RandomFaults | None = None
    """Random faults (off by default); may be set or changed while the server runs."""
    _failures: dict[str, list[Failure]] = field(default_factory=dict)
    _seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _update_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1001))
    _message_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _file_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _new_update: asyncio.Event = field(default_factory=asyncio.Event)
    _hung: set[str] = field(default_factory=set)
    _answering: asyncio.Event = field(default_factory=asyncio.Event)
    _server: LocalServer | None = None
    _task: asyncio.Task[None] | None = None

    # ---- server --------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> TelegramApiStandIn:
        routes = [
            Route("/bot{token}/{method}", self._endpoint, methods=["POST"]),
            Route("/file/bot{token}/{path:path}", self._download, methods=["GET"]),
        ]
        app = FaultyApp(Starlette(routes=routes), lambda: self.faults, self._dropped)
        self._server, self._task, self.port = await serve_locally(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        self._new_update.set()  # end long polls now
        self._answering.set()  # and hung calls
        await self._task

    # ---- test controls -------------------------------------------------------------

    def queue_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Make ``update`` available to getUpdates (an update_id is added if missing)."""
        update.setdefault("update_id", next(self._update_ids))
        self.updates.append(update)
        self._new_update.set()
        return update

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def add_file(
        self,
        data: bytes,
        *,
        name: str | None = None,
        mime: str | None = None,
        size: int | None = None,
    ) -> str:
        """Put a file on the server (as if a user had sent it); returns its file_id."""
        file_id = f"BQACAgI{next(self._file_ids):04d}"
        self.files[file_id] = StoredFile(data, name, mime, size)
        return file_id

    def fail_next(
        self,
        method: str,
        status: int,
        description: str,
        retry_after: int | None = None,
        *,
        after: int = 0,
    ) -> None:
        """Fail a coming call of ``method`` (the next one, or the one ``after`` calls on)."""
        failure = Failure(status, description, retry_after, after)
        self._failures.setdefault(method, []).append(failure)

    def stop_answering(self, *methods: str) -> None:
        """Calls of ``methods`` hang from now on: the platform takes the request and never
        answers (nor acts on it) until :meth:`answer_again`."""
        self._hung.update(methods)
        self._answering.clear()

    def answer_again(self) -> None:
        """Hung calls end (with a 502, unprocessed); new calls are answered again."""
        self._hung.clear()
        self._answering.set()

    def calls_of(self, method: str, *, failed: bool | None = False) -> list[Call]:
        return [
            c for c in self.calls if c.method == method and (failed is None or c.failed == failed)
        ]

    def offsets(self) -> list[tuple[int, int]]:
        """(seq, offset) of every getUpdates call that named an offset."""
        return [
            (c.seq, int(c.params["offset"]))
            for c in self.calls_of("getUpdates")
            if c.params.get("offset") not in (None, "")
        ]

    def messages_to(self, chat_id: int) -> list[dict[str, Any]]:
        return [m for m in self.sent.values() if m["chat"]["id"] == chat_id]

    # ---- the Bot API ---------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        method: str = request.path_params["method"]
        params = await _params(request)
        call = Call(next(self._seq), method, params)
        self.calls.append(call)
        if method in self._hung:
            call.failed, call.fault = True, "hang"
            await self._answering.wait()
            return _error(502, "Bad Gateway")
        failures = self._failures.get(method)
        if failures and failures[0].after > 0:
            failures[0].after -= 1
        elif failures:
            failure = failures.pop(0)
            call.failed = True
            return _error(failure.status, failure.description, failure.retry_after)
        fault = fault_of(request.state)
        if fault is not None and self.faults is not None:
            call.failed, call.fault = True, str(fault)
            if fault == 429:
                retry = self.faults.retry_after
                return _error(429, f"Too Many Requests: retry after {retry}", retry)
            return _error(500, "Internal Server Error")
        handlers: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "getFile": self._get_file,
            **{_method_of(kind): self._media(kind) for kind in MEDIA},
            "editMessageReplyMarkup": self._edit_reply_markup,
            "editMessageText": self._edit_text,
            "createForumTopic": self._create_topic,
            "editForumTopic": self._true,
            "closeForumTopic": self._true,
            "answerCallbackQuery": self._true,
            "sendChatAction": self._true,
            "setMyCommands": self._true,
            "deleteWebhook": self._true,
            "setWebhook": self._true,
        }
        handler = handlers.get(method)
        if handler is None:
            return _error(404, "Not Found: method not found")
        try:
            result = await handler(params)
        except ValueError as exc:
            call.failed = True
            if str(exc).startswith("Bad Request"):
                return _error(400, str(exc))
            return _error(400, "Bad Request: chat not found")
        except (KeyError, TypeError):  # e.g. a chat_id that is no number
            call.failed = True
            return _error(400, "Bad Request: chat not found")
        if method == "getUpdates":  # \u-escaped: fuzzed updates may hold lone surrogates
            body = json.dumps({"ok": True, "result": result}, ensure_ascii=True)
            return Response(body, media_type="application/json")
        return JSONResponse({"ok": True, "result": result})

    def _dropped(self, method: str, body: bytes) -> None:
        """A call whose connection :class:`FaultyApp` dropped: logged, never processed."""
        params = _decode(body, "")
        self.calls.append(Call(next(self._seq), method, params, failed=True, fault="drop"))

    async def _get_me(self, params: dict[str, Any]) -> Any:
        return BOT_USER

    async def _get_updates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        while True:
            pending = [u for u in self.updates if u["update_id"] >= offset][:limit]
            remaining = deadline - time.monotonic()
            if pending or remaining <= 0 or (self._server and self._server.should_exit):
                return pending
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), remaining)

    async def _send_message(self, params: dict[str, Any]) -> Any:
        return self._sent({"text": params["text"]}, params)

    def _media(self, kind: str) -> Callable[[dict[str, Any]], Awaitable[Any]]:
        async def send(params: dict[str, Any]) -> Any:
            media = params[kind]
            if isinstance(media, Upload):
                file_id = f"BQACAgU{next(self._file_ids):04d}"
                stored = StoredFile(media.data, media.filename, media.content_type)
                self.files[file_id] = stored
            elif str(media) in self.files:
                file_id, stored = str(media), self.files[str(media)]
            else:
                raise ValueError("Bad Request: wrong file identifier/HTTP URL specified")
            content: dict[str, Any] = {kind: _file_json(kind, file_id, stored)}
            if params.get("caption"):
                content["caption"] = params["caption"]
            return self._sent(content, params)

        return send

    async def _get_file(self, params: dict[str, Any]) -> Any:
        file_id = str(params["file_id"])
        stored = self.files.get(file_id)
        if stored is None:
            raise ValueError("Bad Request: invalid file_id")
        if stored.file_size > DOWNLOAD_LIMIT:
            raise ValueError("Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": stored.file_size,
            "file_path": f"documents/{file_id}",
        }

    async def _download(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return Response(status_code=401)
        file_id = str(request.path_params["path"]).rsplit("/", 1)[-1]
        self.calls.append(Call(next(self._seq), "download", {"file_id": file_id}))
        stored = self.files.get(file_id)
        if stored is None:
            return Response(status_code=404)
        return Response(stored.data, media_type="application/octet-stream")

    def _sent(self, content: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        """A message the bot sent (``content``: its text, or its file and caption)."""
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "date": int(time.time()),
            **content,
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        if params.get("message_thread_id") not in (None, ""):
            message["message_thread_id"] = int(params["message_thread_id"])
            message["is_topic_message"] = True
        replied = (params.get("reply_parameters") or {}).get("message_id")
        if replied is not None and int(replied) in self.sent:
            original = self.sent[int(replied)]
            message["reply_to_message"] = original
            message.setdefault("message_thread_id", _thread_root(original))
        self.sent[message["message_id"]] = message
        return message

    async def _edit_reply_markup(self, params: dict[str, Any]) -> Any:
        original = self.sent.get(int(params["message_id"]))
        if original is None:
            return True
        edited = {k: v for k, v in original.items() if k != "reply_markup"}
        markup = params.get("reply_markup")
        if markup and markup.get("inline_keyboard"):
            edited["reply_markup"] = markup
        return edited

    async def _edit_text(self, params: dict[str, Any]) -> Any:
        """Edits the recorded message in place: tests read the card as agents see it."""
        original = self.sent.get(int(params["message_id"]))
        if original is None:
            return True
        original["text"] = params["text"]
        markup = params.get("reply_markup")
        if markup and markup.get("inline_keyboard"):
            original["reply_markup"] = markup
        else:
            original.pop("reply_markup", None)
        return original

    async def _create_topic(self, params: dict[str, Any]) -> Any:
        """A forum topic; its id is the id of its (service) first message, as in Telegram."""
        topic = {"message_thread_id": next(self._message_ids), "name": params["name"]}
        self.topics[topic["message_thread_id"]] = {**topic, "chat_id": int(params["chat_id"])}
        return {**topic, "icon_color": 7322096}

    async def _true(self, params: dict[str, Any]) -> Any:
        return True


def _error(status: int, description: str, retry_after: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return JSONResponse(body, status_code=status)


async def _params(request: Request) -> dict[str, Any]:
    """ptb posts form fields, JSON-encoding every non-string value; decode those back."""
    return _decode(await request.body(), request.headers.get("content-type", ""))


def _method_of(kind: str) -> str:
    """``video_note`` → ``sendVideoNote``."""
    return "send" + "".join(word.capitalize() for word in kind.split("_"))


def _file_json(kind: str, file_id: str, stored: StoredFile) -> Any:
    """The file as Telegram describes it in a message (with the fields ptb requires)."""
    base: dict[str, Any] = {
        "file_id": file_id,
        "file_unique_id": f"u{file_id}",
        "file_size": stored.file_size,
    }
    if kind == "photo":
        return [{**base, "width": 1280, "height": 960}]
    if stored.name:
        base["file_name"] = stored.name
    if stored.mime:
        base["mime_type"] = stored.mime
    extra: dict[str, dict[str, Any]] = {
        "video": {"width": 640, "height": 480, "duration": 3},
        "animation": {"width": 640, "height": 480, "duration": 3},
        "voice": {"duration": 3},
        "audio": {"duration": 3},
        "video_note": {"length": 240, "duration": 3},
    }
    return {**base, **extra.get(kind, {})}


def _multipart(raw: bytes, content_type: str) -> dict[str, Any]:
    """A multipart/form-data body (a file upload): files as :class:`Upload`."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    form = email.message_from_bytes(head + raw, policy=email.policy.HTTP)
    params: dict[str, Any] = {}
    for part in form.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(data, bytes):
            continue
        filename = part.get_filename()
        if filename is not None:
            params[name] = Upload(filename, data, part.get_content_type())
        else:
            params.update(_decode(urlencode({name: data.decode()}).encode(), ""))
    return params


def _decode(raw: bytes, content_type: str) -> dict[str, Any]:
    if content_type.startswith("multipart/form-data"):
        return _multipart(raw, content_type)
    if content_type.startswith("application/json"):
        data: dict[str, Any] = json.loads(raw or b"{}")
        return data
    params: dict[str, Any] = {}
    for name, value in parse_qsl(raw.decode("utf-8"), keep_blank_values=True):
        if value[:1] in ("{", "["):
            with contextlib.suppress(ValueError):
                params[name] = json.loads(value)
                continue
        params[name] = value
    return params


def said(message: dict[str, Any]) -> str:
    """A sent message's words: its text, or a file's caption."""
    return str(message.get("text") or message.get("caption") or "")


def _thread_root(message: dict[str, Any]) -> int:
    """A reply's thread: the topic, else the thread its root started (groups without topics)."""
    return int(message.get("message_thread_id") or message["message_id"])


async def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


# ---- update builders (shapes as in the Bot API docs) ---------------------------------


def user_json(user_id: int, first_name: str, language_code: str = "en") -> dict[str, Any]:
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": first_name,
        "language_code": language_code,
    }


def text_update(
    user: dict[str, Any], text: str, *, chat: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A message update; a leading /command gets its bot_command entity like Telegram's."""
    message: dict[str, Any] = {
        "message_id": int(time.monotonic_ns() % 1_000_000_000),
        "from": user,
        "chat": chat or {"id": user["id"], "type": "private", "first_name": user["first_name"]},
        "date": int(time.time()),
        "text": text,
    }
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"message": message}


def photo_update(
    user: dict[str, Any], file_id: str = "AgAD", *, caption: str | None = None, size: int = 4096
) -> dict[str, Any]:
    """A photo as Telegram sends it: several sizes, the largest last."""
    small = {"file_id": f"{file_id}-s", "file_unique_id": "AQAD-s", "width": 90, "height": 90}
    large = {"file_id": file_id, "file_unique_id": "AQAD", "width": 1280, "height": 960}
    message = file_message(user, "photo", [{**small, "file_size": 900}, {**large,
                           "file_size": size}], caption)  # fmt: skip
    return {"message": message}


def file_message(
    user: dict[str, Any],
    kind: str,
    file: Any,
    caption: str | None = None,
    *,
    chat: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A message carrying ``file`` (the JSON of a ``kind``: document, voice, video…)."""
    message: dict[str, Any] = {
        "message_id": int(time.monotonic_ns() % 1_000_000_000),
        "from": user,
        "chat": chat or {"id": user["id"], "type": "private", "first_name": user["first_name"]},
        "date": int(time.time()),
        kind: file,
    }
    if caption is not None:
        message["caption"] = caption
    return message


def document_json(
    api: TelegramApiStandIn, data: bytes, name: str, mime: str, *, size: int | None = None
) -> dict[str, Any]:
    """A document on the stand-in's server, as a message shows it."""
    file_id = api.add_file(data, name=name, mime=mime, size=size)
    return _file_json("document", file_id, api.files[file_id])


def callback_update(user: dict[str, Any], message: dict[str, Any], data: str) -> dict[str, Any]:
    return {
        "callback_query": {
            "id": str(time.monotonic_ns()),
            "from": user,
            "message": message,
            "chat_instance": "-1234567890",
            "data": data,
        }
    }


class PrivateChat:
    """Plays one customer in a private chat: says things, taps buttons, reads replies.

    ``deliver`` hands an update to the bot: queue it for getUpdates (polling, the
    default) or POST it to the webhook.
    """

    def __init__(
        self,
        api: TelegramApiStandIn,
        user_id: int,
        first_name: str = "Ann",
        deliver: Callable[[dict[str, Any]], Awaitable[object]] | None = None,
    ) -> None:
        self.api = api
        self.user = user_json(user_id, first_name)
        self.chat_id = user_id
        self._deliver = deliver
        self._seen = 0

    async def deliver(self, update: dict[str, Any]) -> dict[str, Any]:
        update.setdefault("update_id", self.api.next_update_id())
        self._seen = len(self.messages())
        if self._deliver is None:
            self.api.queue_update(update)
        else:
            await self._deliver(update)
        return update

    async def say(self, text: str) -> dict[str, Any]:
        return await self.deliver(text_update(self.user, text))

    async def tap(self, label: str, timeout: float = 10.0) -> dict[str, Any]:
        """Tap the newest button called ``label`` in this chat (waiting for it to arrive:
        a turn's replies are delivered one by one)."""
        found: list[tuple[dict[str, Any], str]] = []

        def offered() -> bool:
            for message in reversed(self.messages()):
                for row in message.get("reply_markup", {}).get("inline_keyboard", []):
                    for button in row:
                        if button["text"] == label and "callback_data" in button:
                            found.append((message, button["callback_data"]))
                            return True
            return False

        try:
            await wait_until(offered, timeout)
        except AssertionError:
            labels = [
                b["text"]
                for m in self.messages()
                for row in m.get("reply_markup", {}).get("inline_keyboard", [])
                for b in row
            ]
            raise AssertionError(f"no button {label!r} in chat; offered: {labels}") from None
        message, data = found[0]
        return await self.deliver(callback_update(self.user, message, data))

    def messages(self) -> list[dict[str, Any]]:
        return self.api.messages_to(self.chat_id)

    async def expect(self, *fragments: str, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for a reply (since the last thing said) that contains every fragment."""
        found: list[dict[str, Any]] = []

        def arrived() -> bool:
            for message in self.messages()[self._seen :]:
                if all(f.lower() in said(message).lower() for f in fragments):
                    found.append(message)
                    return True
            return False

        try:
            await wait_until(arrived, timeout)
        except AssertionError:
            texts = [said(m)[:120] for m in self.messages()[self._seen :]]
            raise AssertionError(f"no reply with {fragments!r} in chat; got {texts}") from None
        return found[0]


class AgentGroup:
    """Plays the agents' supergroup: agents write in topics or reply to cards, and tap.

    ``forum=False`` is a group without topics (agents reply to the card instead).
    """

    def __init__(
        self, api: TelegramApiStandIn, chat_id: int = -1001500, *, forum: bool = True
    ) -> None:
        self.api = api
        self.chat_id = chat_id
        self.chat: dict[str, Any] = {
            "id": chat_id,
            "type": "supergroup",
            "title": "Support agents",
            "is_forum": forum,
        }

    @staticmethod
    def agent(user_id: int, first_name: str, username: str | None = None) -> dict[str, Any]:
        user = user_json(user_id, first_name)
        if username:
            user["username"] = username
        return user

    def say(
        self,
        user: dict[str, Any],
        text: str,
        *,
        topic: int | None = None,
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A message in ``topic`` (a forum topic id) and/or replying to a message."""
        message = text_update(user, text, chat=self.chat)["message"]
        if topic is not None:
            message["message_thread_id"] = topic
            message["is_topic_message"] = True
        if reply_to is not None:
            message["reply_to_message"] = reply_to
            message.setdefault("message_thread_id", _thread_root(reply_to))
        return self.api.queue_update({"message": message})

    def send_file(
        self, user: dict[str, Any], kind: str, file: Any, caption: str | None = None, *,
        topic: int,
    ) -> dict[str, Any]:  # fmt: skip
        """An agent's file (``kind``'s JSON) with a caption in forum topic ``topic``."""
        message = file_message(user, kind, file, caption, chat=self.chat)
        message["message_thread_id"] = topic
        message["is_topic_message"] = True
        return self.api.queue_update({"message": message})

    def tap(self, user: dict[str, Any], message: dict[str, Any], label: str) -> dict[str, Any]:
        """Tap the button ``label`` on ``message`` (as the group currently shows it)."""
        shown = self.api.sent.get(message["message_id"], message)
        for row in shown.get("reply_markup", {}).get("inline_keyboard", []):
            for button in row:
                if button["text"] == label and "callback_data" in button:
                    on = {**shown, "chat": self.chat}  # a tap comes from the message's chat
                    update = callback_update(user, on, button["callback_data"])
                    return self.api.queue_update(update)
        raise AssertionError(f"no button {label!r} on message {message['message_id']}")

    def messages(self, topic: int | None = None) -> list[dict[str, Any]]:
        """What the bot posted in the group (in ``topic`` only, if given)."""
        return [
            m
            for m in self.api.messages_to(self.chat_id)
            if topic is None or m.get("message_thread_id") == topic
        ]

    def answers(self, update: dict[str, Any]) -> list[dict[str, Any]]:
        """The answerCallbackQuery calls for a tap ``update``."""
        query_id = update["callback_query"]["id"]
        return [
            c.params
            for c in self.api.calls_of("answerCallbackQuery")
            if c.params.get("callback_query_id") == query_id
        ]
