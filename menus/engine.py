"""The USSD engine: one request in, one screen out; session state lives in Redis.

Each request costs two Redis round-trips, each one small Lua script (one
command to send and one reply to parse, where a pipeline of four or six costs
redis-py twice the CPU): the first reads the cached reply for this exact
(session, text), the session state and the phone's resume snapshot, and takes a
short per-session lock unless the reply is cached; the second writes everything
back and releases the lock, atomically. Any web process can therefore serve any step.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

from redis import Redis

from menus.flows import GATE, HOME, NODES, RESTING, flow_of
from menus.nodes import (
    Ask,
    Ctx,
    Finish,
    Goto,
    Invalid,
    Menu,
    Node,
    Pin,
    Screen,
    SessionState,
    member_to_dict,
)
from menus.ports import BorrowerServices, ServiceRefused
from menus.screens import Reply, end_screen, paginate
from menus.texts import BACK_HOME, MORE, SESSION_OVER, SORRY, TOO_MANY_TRIES, reason, translate

logger = logging.getLogger(__name__)

SESSION_TTL = 300  # seconds; a telco session lasts at most a few minutes
REPLY_TTL = 300  # the replay cache outlives any retry of the same request
RESUME_TTL = 300  # "a new session from the same phone within 5 minutes"
LOCK_MS = 5000  # a request that takes longer than this has been given up by the telco
MAX_TRIES = 3
MAX_ANSWERS = 12  # answers taken from one request; more is a stuck key, not a person
MAX_ANSWER_LENGTH = 200
MAX_PATH = 20_000  # a real session never types this much; beyond it we close politely
MAX_HOPS = 12  # screenless nodes followed in a row before we call it a loop
BACK, HOME_KEY, MORE_KEY = "0", "00", "98"
PIN_MASK = "####"
"""What stands in a stored answer path where a PIN was typed (never `*`, the separator)."""


@dataclass(frozen=True, slots=True)
class UssdRequest:
    """One form post from the telco, already validated; `phone` is E.164."""

    session_id: str
    service_code: str
    phone: str
    network_code: str
    text: str


_PROCESS_SECRET = os.urandom(32)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    currency: str = "KES"
    timezone: str = "Africa/Nairobi"
    service_code: str = "*384*123#"
    # Keys the replay cache's names: a plain hash of a path with a PIN in it would give the
    # PIN back in 10,000 tries to anyone who can list Redis keys. Every web process of one
    # deployment must share it (the app passes SECRET_KEY).
    cache_secret: bytes = _PROCESS_SECRET


def session_key(session_id: str) -> str:
    return f"ussd:s:{session_id}"


def reply_key(session_id: str, text: str, secret: bytes = _PROCESS_SECRET) -> str:
    digest = hmac.new(secret, f"{session_id}\n{text}".encode(), hashlib.sha256).hexdigest()
    return f"ussd:r:{session_id}:{digest[:32]}"


def lock_key(session_id: str) -> str:
    return f"ussd:l:{session_id}"


def resume_key(phone: str) -> str:
    """Keyed by a hash: key names show up in monitoring, phone numbers must not."""
    return f"ussd:resume:{hashlib.sha256(phone.encode()).hexdigest()[:32]}"


def new_answers(done: str, text: str) -> list[str]:
    """The answers in `text` that the session has not handled yet.

    `done` is the path handled so far with its PINs masked: a mask matches any answer.
    """
    return _split_new(done, text)[1]


def _split_new(done: str, text: str) -> tuple[list[str], list[str]]:
    """The handled part of the path (as stored, masked) and the new answers after it."""
    if text == done:
        return (done.split("*") if done else []), []
    if done == "":
        return [], text.split("*")
    handled, parts = done.split("*"), text.split("*")
    if len(parts) >= len(handled) and all(
        h == p or h == PIN_MASK for h, p in zip(handled, parts, strict=False)
    ):
        return handled, parts[len(handled):]
    # Out of step with what we handled (a gateway that sends only the last answer, or an
    # old retry after its cache expired): take the latest answer only. What came before it
    # is unknown here, so every PIN-shaped answer in it is masked.
    return [mask_pin_shaped(p) for p in parts[:-1]], parts[-1:]


def is_pin_shaped(answer: str) -> bool:
    return len(answer) == 4 and answer.isascii() and answer.isdigit()


def mask_pin_shaped(answer: str) -> str:
    return PIN_MASK if is_pin_shaped(answer) else answer


def mask_path(text: str, positions: list[int] | None) -> str:
    """The typed path with PINs masked: at the known positions, or, not knowing them,
    every 4-digit answer (an amount of 4 digits is masked too: better than a PIN kept)."""
    parts = text.split("*")
    if positions is None:
        return "*".join(mask_pin_shaped(p) for p in parts)
    hidden = set(positions)
    return "*".join(PIN_MASK if i in hidden else p for i, p in enumerate(parts))


# KEYS: reply, state, resume, lock; ARGV: lock ms. A cached reply means a retry: it is
# answered from the cache, so the lock is not taken (nor released by another call).
READ_STEP = """
local found = redis.call('MGET', KEYS[1], KEYS[2], KEYS[3])
if found[1] then
  found[4] = 0
elseif redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[1]) then
  found[4] = 1
else
  found[4] = 0
end
return found
"""

# KEYS: state, reply, resume, lock; ARGV: state, its ttl, reply, its ttl, what to do with
# the resume snapshot ("set", "delete" or ""), the snapshot, its ttl.
WRITE_STEP = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
if ARGV[5] == 'set' then
  redis.call('SET', KEYS[3], ARGV[6], 'EX', ARGV[7])
elseif ARGV[5] == 'delete' then
  redis.call('DEL', KEYS[3])
end
redis.call('DEL', KEYS[4])
return 1
"""


class UssdEngine:
    """Drives the declared flows for one request at a time."""

    def __init__(self, redis: Redis, config: EngineConfig | None = None) -> None:
        self.redis = redis
        self.config = config or EngineConfig()
        self._read_step = redis.register_script(READ_STEP)
        self._write_step = redis.register_script(WRITE_STEP)

    def handle(self, request: UssdRequest, services: BorrowerServices) -> Reply:
        """Answer one request; the same (session, text) always gets the same screen."""
        cached, raw_state, raw_resume, locked = self._read(request)
        if cached is not None:  # a retry: the lock was not taken
            return _parse_reply(cached)
        if not locked:
            waited = self._wait_for_twin(request)
            if waited is not None:
                return waited
        state = _load_state(raw_state) if raw_state else None
        try:
            reply, state = self._run(request, services, state, _loads(raw_resume))
        except Exception:  # noqa: BLE001 - a person on a phone gets a polite END, never a 500
            logger.exception("ussd step failed", extra={"session": request.session_id})
            state = state or SessionState(request.session_id, request.phone)
            reply = end_screen(translate(state.lang, SORRY))
            state.ended = True
        self._write(request, state, reply)
        return reply

    # -- Redis ---------------------------------------------------------------------------

    def _reply_key(self, request: UssdRequest) -> str:
        return reply_key(request.session_id, request.text, self.config.cache_secret)

    def _read(self, request: UssdRequest) -> tuple[Any, Any, Any, bool]:
        keys = [self._reply_key(request), session_key(request.session_id),
                resume_key(request.phone), lock_key(request.session_id)]
        cached, raw_state, raw_resume, locked = self._read_step(keys=keys, args=[LOCK_MS])
        return cached, raw_state, raw_resume, bool(locked)

    def _wait_for_twin(self, request: UssdRequest) -> Reply | None:
        """A twin of this request is being answered: wait for its reply rather than race it."""
        deadline = time.monotonic() + LOCK_MS / 1000
        while time.monotonic() < deadline:
            time.sleep(0.05)
            cached = self.redis.get(self._reply_key(request))
            if cached is not None:
                return _parse_reply(cached)
            if self.redis.set(lock_key(request.session_id), "1", nx=True, px=LOCK_MS):
                return None
        return None  # the lock holder died; go ahead (money actions carry idempotency keys)

    def _write(self, request: UssdRequest, state: SessionState, reply: Reply) -> None:
        if state.ended:
            state.data = {k: v for k, v in state.data.items() if k not in SECRET_FIELDS}
        snapshot = None if state.ended else resume_snapshot(state)
        resume, resume_json = "", ""
        if snapshot is not None:
            resume, resume_json = "set", json.dumps(snapshot)
        elif state.ended or flow_of(state.node) in ("home", "welcome") or _is_display_only(
            state.node
        ):
            resume = "delete"
        keys = [session_key(request.session_id), self._reply_key(request),
                resume_key(request.phone), lock_key(request.session_id)]
        self._write_step(keys=keys, args=[
            _dump_state(state), SESSION_TTL, reply.body, REPLY_TTL, resume, resume_json,
            RESUME_TTL])

    def rearm_resume(self, session_id: str, phone: str) -> str:
        """After a dropped session, keep its place for RESUME_TTL; returns its last screen id."""
        raw = self.redis.get(session_key(session_id))
        if raw is None:
            return "unknown"
        state = _load_state(raw)
        snapshot = None if state.ended else resume_snapshot(state)
        if snapshot is not None:
            self.redis.set(resume_key(phone), json.dumps(snapshot), ex=RESUME_TTL)
        return state.node or "unknown"

    def masked_positions(self, session_id: str) -> list[int] | None:
        """Where this session's path had PINs, or None when the session is gone."""
        raw = self.redis.get(session_key(session_id))
        return None if raw is None else list(_load_state(raw).masked)

    def forget_resume(self, session_id: str, phone: str) -> str:
        """A session that ended well leaves nothing to resume; returns its last screen id."""
        raw = self.redis.get(session_key(session_id))
        node = _load_state(raw).node if raw is not None else ""
        snapshot = _loads(self.redis.get(resume_key(phone)))
        if snapshot and snapshot.get("session") == session_id:
            self.redis.delete(resume_key(phone))
        return node or "unknown"

    # -- the conversation ------------------------------------------------------------------

    def _run(
        self, request: UssdRequest, services: BorrowerServices, state: SessionState | None,
        snapshot: dict[str, Any] | None,
    ) -> tuple[Reply, SessionState]:
        if len(request.text) > MAX_PATH:
            state = state or SessionState(request.session_id, request.phone)
            state.ended = True
            closing = translate(state.lang, SESSION_OVER, code=self.config.service_code)
            return end_screen(closing), state
        if state is None:
            state = self._start(request, services)
            ctx = self._ctx(state, services)
            reply = self._open(ctx, snapshot)
        else:
            ctx = self._ctx(state, services)
            if state.ended:
                return end_screen(ctx.t(SESSION_OVER, code=self.config.service_code)), state
            reply = self._current(state)
        handled, answers = _split_new(state.text, request.text)
        # What the path remembers: a PIN is masked once its step has taken it, and answers
        # never taken (typed ahead past an END, or past MAX_ANSWERS) if they look like one.
        kept = [mask_pin_shaped(answer) for answer in answers]
        for index, answer in enumerate(answers[:MAX_ANSWERS]):
            if reply.end:
                break
            node = NODES.get(state.node)
            if isinstance(node, Ask) and node.free_text:  # free text may contain '*'
                kept[index:] = answers[index:]
                reply = self.step(ctx, "*".join(answers[index:])[:MAX_ANSWER_LENGTH])
                break
            if _takes_pin(node):
                state.masked.append(len(handled) + index)
            kept[index] = PIN_MASK if _takes_pin(node) else answer
            reply = self.step(ctx, answer[:MAX_ANSWER_LENGTH])
        state.text = "*".join(handled + kept)
        return reply, state

    def _start(self, request: UssdRequest, services: BorrowerServices) -> SessionState:
        member = services.find_member(request.phone)
        state = SessionState(request.session_id, request.phone)
        if member is not None:
            state.member = member_to_dict(member)
            state.lang = member.language
        return state

    def _ctx(self, state: SessionState, services: BorrowerServices) -> Ctx:
        c = self.config
        return Ctx(state, services, c.currency, c.timezone, c.service_code)

    def _open(self, ctx: Ctx, snapshot: dict[str, Any] | None) -> Reply:
        """The first screen: offer to resume a dropped flow, else the home menu."""
        if snapshot and snapshot.get("session") != ctx.state.session_id:
            if snapshot.get("member") == (ctx.state.member or {}).get("id"):
                ctx.state.data["_resume"] = snapshot
                ctx.state.lang = str(snapshot.get("lang", ctx.state.lang))
                return self.go(ctx, "resume")
        return self.go(ctx, HOME)

    def step(self, ctx: Ctx, answer: str) -> Reply:
        """Take one answer on the current screen: navigation first, then the node's own."""
        state = ctx.state
        answer = answer.strip()
        if answer == MORE_KEY and state.page + 1 < len(state.pages):
            state.page += 1
            return self._current(state)
        if answer == BACK and state.page > 0:
            state.page -= 1
            return self._current(state)
        if answer == HOME_KEY:
            return self.go(ctx, HOME)
        if answer == BACK:
            return self.go(ctx, state.stack.pop() if state.stack else HOME)
        node = NODES[state.node]
        try:
            outcome = node.accept(ctx, answer)
        except Invalid as exc:
            return self._reprompt(ctx, node, ctx.t(exc.message, **exc.params))
        except ServiceRefused as exc:
            return self._reprompt(ctx, node, ctx.t(reason(exc.reason_code)))
        if isinstance(outcome, Finish):
            return self._finish(state, outcome.text)
        if not isinstance(node, Pin) and isinstance(outcome, Goto):
            state.stack.append(node.id)
        return self.go(ctx, outcome.node if isinstance(outcome, Goto) else HOME)

    def go(self, ctx: Ctx, node_id: str, notice: str = "") -> Reply:
        """Enter a node, following screenless ones, until something is shown or the end."""
        state = ctx.state
        for _ in range(MAX_HOPS):
            node = NODES[node_id]
            if node.private and not state.pin_ok:
                state.after_pin, node = node_id, NODES[GATE]
            try:
                outcome = node.enter(ctx)
            except ServiceRefused as exc:
                return self._finish(state, ctx.t(reason(exc.reason_code)))
            if isinstance(outcome, Goto):
                node_id = outcome.node
                continue
            if isinstance(outcome, Finish):
                return self._finish(state, outcome.text)
            return self._show(ctx, node, outcome, notice)
        raise RuntimeError(f"flow loops at {node_id}")

    def _show(self, ctx: Ctx, node: Node, screen: Screen, notice: str) -> Reply:
        state = ctx.state
        if node.id != state.node:
            state.tries = 0
            self._track_flow(state, node.id)
        state.node = node.id
        body = f"{notice}\n{screen.body}" if notice else screen.body
        footer = ctx.t(BACK_HOME) if screen.nav else ""
        state.pages, state.page = paginate(body, footer, ctx.t(MORE)), 0
        return self._current(state)

    def _track_flow(self, state: SessionState, node_id: str) -> None:
        """Resting screens forget the last task; a task's first screen gets a new instance id."""
        flow = flow_of(node_id)
        if flow == flow_of(GATE):
            return
        if flow in RESTING:
            state.flow, state.stack = "", []
            keep = "_resume" if flow == "resume" else None  # the offer needs its snapshot
            state.data = {k: v for k, v in state.data.items() if k == keep}
        elif not state.flow:
            state.flow = uuid.uuid4().hex

    def _reprompt(self, ctx: Ctx, node: Node, notice: str) -> Reply:
        ctx.state.tries += 1
        if ctx.state.tries >= MAX_TRIES:
            return self._finish(ctx.state, ctx.t(TOO_MANY_TRIES, code=self.config.service_code))
        return self.go(ctx, node.id, notice)

    @staticmethod
    def _finish(state: SessionState, text: str) -> Reply:
        state.ended = True
        return end_screen(text)

    @staticmethod
    def _current(state: SessionState) -> Reply:
        if not state.pages:
            return Reply("", end=False)
        return Reply(state.pages[min(state.page, len(state.pages) - 1)], end=False)


SECRET_FIELDS = frozenset(n.field for n in NODES.values() if isinstance(n, Ask) and n.secret)
"""Answers (new PINs) a flow holds until its last step; forgotten when the session ends."""


def _takes_pin(node: Node | None) -> bool:
    """A PIN prompt (the check, or a secret Ask such as a new PIN): its answer is masked."""
    return isinstance(node, Pin) or (isinstance(node, Ask) and node.secret)


def resume_snapshot(state: SessionState) -> dict[str, Any] | None:
    """Where to pick a dropped task up again; secrets (PINs) are dropped and asked again."""
    node = state.after_pin if state.node == GATE else state.node
    if not node or flow_of(node) in RESTING or _is_display_only(state.node):
        return None
    path = [*state.stack, node]
    for index, node_id in enumerate(path):
        candidate = NODES.get(node_id)
        if isinstance(candidate, Ask) and candidate.secret:
            path = path[: index + 1]
            break
    return {
        "session": state.session_id,
        "member": (state.member or {}).get("id"),
        "lang": state.lang,
        "node": path[-1],
        "stack": path[:-1],
        "data": {k: v for k, v in state.data.items()
                 if k not in SECRET_FIELDS and k != "_resume"},
        "flow": state.flow,
    }


def _is_display_only(node_id: str) -> bool:
    """A screen that only shows something (a balance) leaves no task to resume."""
    node = NODES.get(node_id)
    return isinstance(node, Menu) and not node.choices


def _parse_reply(raw: bytes | str) -> Reply:
    text = raw.decode() if isinstance(raw, bytes) else raw
    return Reply(text[4:], end=text.startswith("END "))


def _loads(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    value = json.loads(raw)
    return value if isinstance(value, dict) else None


_STATE_FIELDS = tuple(f.name for f in dataclasses.fields(SessionState))


def _dump_state(state: SessionState) -> str:
    # A shallow dict: json.dumps walks the nested lists and dicts itself, so the deep copy
    # `dataclasses.asdict` makes on every request is pure cost (same JSON either way).
    fields = {name: getattr(state, name) for name in _STATE_FIELDS}
    return json.dumps(fields, separators=(",", ":"), default=_plain)


def _plain(value: Any) -> Any:
    """What `dataclasses.asdict` would have made of a dataclass nested in the state."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _load_state(raw: bytes | str) -> SessionState:
    fields = set(_STATE_FIELDS)
    return SessionState(**{k: v for k, v in json.loads(raw).items() if k in fields})
