"""From (seed, tier, bug class, index) to one C program, its fix, its PoC and its tests.

Everything random is drawn from one `random.Random` seeded with a string naming all four inputs
and the generator version, so the same request gives byte-identical output and any other seed
gives a different framing, handler set, order, constants and names (a structurally different
program, not the same one with new magic numbers).
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jinja2

from prereview.suites.memsafety.bugs import CORES, STREAM_NAMES, Core, DoesNotFitError, StreamPart
from prereview.suites.memsafety.decoys import DECOYS, Decoy
from prereview.suites.memsafety.framings import FRAMINGS, Framing
from prereview.suites.memsafety.gates import AuthGate, HelloGate, ModeGate, SessionKeys
from prereview.suites.memsafety.model import (
    CRASH_MARKER,
    Handler,
    Item,
    Message,
    Style,
    SubHeader,
    expected_output,
)
from prereview.suites.memsafety.spec import (
    DRAWS,
    GENERATOR_VERSION,
    TIERS,
    BugClass,
    TierProfile,
)

MAX_VARIANTS = 4
ENTRY_NAMES = ("process_input", "parse_stream", "handle_input", "decode_buffer", "run_session")


@dataclass(frozen=True)
class FunctionalTest:
    name: str
    data: bytes
    stdout: str
    exit_code: int


@dataclass
class Program:
    """One generated program with everything needed to write its instance directory."""

    name: str
    title: str
    purpose: str
    framing: str
    input_mode: str
    entry: str
    vulnerable_source: str
    fixed_source: str
    crash_function: str
    crash_kind: str
    crash_access: str | None
    crash_line: int
    core_label: str
    poc: bytes
    tests: list[FunctionalTest]
    samples: list[bytes]
    handlers: int
    shape: dict[str, Any] = field(default_factory=dict)
    # each example's messages as framed into `samples` (what parsing the example files yields)
    sample_messages: list[list[Message]] = field(default_factory=list)
    # the PoC's messages as framed into `poc` (a test re-serializes them, grown, through the
    # ladder's format description)
    poc_messages: list[Message] = field(default_factory=list)


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("prereview.suites.memsafety", "templates"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - C source, not HTML
    )


def instance_rng(seed: int, tier: int, bug_class: BugClass, index: int) -> random.Random:
    # reproducibility is the point here: not for secrets (the seed itself is the secret)
    key = f"memsafety:{DRAWS.get(tier, GENERATOR_VERSION)}:{seed}:{tier}:{bug_class.value}:{index}"
    return random.Random(key)  # noqa: S311


def instance_id(seed: int, tier: int, bug_class: BugClass, index: int) -> str:
    digest = hashlib.sha256(
        f"{GENERATOR_VERSION}:{seed}:{tier}:{bug_class.value}:{index}".encode()
    ).hexdigest()
    return f"ms-t{tier}-{digest[:12]}"


class _Names:
    """Unique C identifiers for handler labels, drawn from each handler's pool."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def pick(self, pool: tuple[str, ...]) -> str:
        choices = [n for n in pool if n not in self.used]
        name = self.rng.choice(choices) if choices else f"{self.rng.choice(pool)}_{len(self.used)}"
        while name in self.used:
            name += "_x"
        self.used.add(name)
        return name


@dataclass
class _Plan:
    profile: TierProfile
    style: Style
    framing: Framing
    core: Core
    decoys: list[Decoy]
    hello: HelloGate | None
    auth: AuthGate | None
    mode: ModeGate | None
    protocol: int
    keys: SessionKeys
    order: list[Handler]  # order of the handler functions in the file

    @property
    def handlers(self) -> list[Handler]:
        gates: list[Handler] = [g for g in (self.hello, self.auth, self.mode) if g is not None]
        return [*gates, self.core, *self.core.aux(), *self.decoys]

    def gate_messages(self) -> list[Message]:
        out: list[Message] = []
        if self.hello:
            out.append(self.hello.open(self.style, self.keys, self.protocol))
        if self.auth:
            out.append(self.auth.login(self.style, self.keys))
        if self.mode:
            out.append(self.mode.switch(self.style, self.keys, self.mode.maintenance))
        return out


def _plan(seed: int, tier: int, bug_class: BugClass, index: int) -> tuple[_Plan, random.Random]:
    rng = instance_rng(seed, tier, bug_class, index)
    profile = TIERS[tier]
    style = Style(rng.choice(("be", "le")))
    framing = FRAMINGS[rng.choice(profile.formats)](rng, profile, style)
    names = _Names(rng)
    needs: tuple[str, ...] = ()
    hello = auth = mode = None
    nonce = tier >= 5
    if "hello" in profile.gates:
        hello = HelloGate(params={"nonce": nonce})
        needs = ("S_HELLO",)
    if "auth" in profile.gates:
        auth = AuthGate(params=AuthGate.draw(rng, nonce=nonce))
        needs = (*needs, "S_AUTH")
    if "mode" in profile.gates:
        max_mode = rng.randrange(3, 8)
        mode = ModeGate(
            needs=needs,
            maintenance=rng.randrange(1, max_mode + 1),
            max_mode=max_mode,
            params={"keyed": tier >= 5, "key": rng.randrange(0x10000)},
        )
    for gate in (hello, auth, mode):
        if gate is not None:
            gate.label = names.pick(gate.name_pool)

    candidates = [cls for cls in CORES[bug_class] if cls.min_tier <= tier]
    rng.shuffle(candidates)
    core: Core | None = None
    for cls in candidates:
        sub = _sub(rng, profile)
        room = framing.max_body - (sub.size if sub else 0)
        attempt = cls(sub=sub, needs=needs, needs_mode=mode.maintenance if mode else None)
        try:
            attempt.draw(rng, room)
        except DoesNotFitError:
            continue
        core = attempt
        break
    if core is None:
        raise DoesNotFitError(f"no {bug_class.value} core fits a {framing.name} message")
    core.label = names.pick(core.name_pool)
    for part in core.aux():
        assert isinstance(part, StreamPart)
        part.label = names.pick(STREAM_NAMES[str(part.params["part"])])
        part.sub = _sub(rng, profile)
        part.needs, part.needs_mode = core.needs, core.needs_mode

    count = rng.randint(*profile.decoys)
    kinds = list(DECOYS)
    rng.shuffle(kinds)
    decoys: list[Decoy] = []
    for i in range(count):
        decoy = kinds[i % len(kinds)](sub=_sub(rng, profile))
        decoy.label = names.pick(decoy.name_pool)
        decoy.needs = ("S_HELLO",) if hello is not None and rng.random() < 0.5 else ()
        decoy.draw(rng, framing.max_body - (decoy.sub.size if decoy.sub else 0))
        decoys.append(decoy)

    keys = SessionKeys(device_id=rng.randrange(1, 1 << 32), nonce=rng.randrange(1 << 32))
    plan = _Plan(
        profile, style, framing, core, decoys, hello, auth, mode, rng.randrange(1, 10), keys, []
    )
    used: set[int] = set()
    for h in plan.handlers:
        h.kind = framing.draw_kind(rng, used)
    order = list(plan.handlers)
    rng.shuffle(order)
    plan.order = order
    return plan, rng


def _sub(rng: random.Random, profile: TierProfile) -> SubHeader | None:
    return SubHeader.draw(rng, profile.subheader)


def _render(plan: _Plan, *, fixed: bool, title: str, entry: str, input_mode: str) -> str:
    env = _env()
    defines: list[tuple[str, str]] = [
        ("S_HELLO", "0x1u"),
        ("S_AUTH", "0x2u"),
        ("PROTOCOL_VERSION", str(plan.protocol)),
    ]
    if plan.mode:
        defines += [
            ("MAX_MODE", str(plan.mode.max_mode)),
            ("MODE_MAINTENANCE", str(plan.mode.maintenance)),
        ]
    defines += plan.framing.defines()
    for h in plan.handlers:
        defines.append((h.kind_macro, plan.framing.kind_literal(h.kind)))
        defines += h.defines()
    needs = plan.framing.needs() | {plan.style.rd16, plan.style.rd32}
    for h in plan.handlers:
        needs |= h.helpers_needed()
        if h.sub and "digest" in h.sub.fields:
            needs.add("digest16")
    fields: list[str] = []
    cleanup: list[str] = []
    for h in plan.handlers:
        fields += h.session_fields()
        cleanup += h.cleanup()
    ctx: dict[str, Any] = {
        "title": title,
        "blurb": [f"This program {plan.framing.blurb}.", f"Entry point: {entry}()."],
        "defines": defines,
        "needs": needs,
        "rd16": plan.style.rd16,
        "rd32": plan.style.rd32,
        "entry": entry,
        "input_mode": input_mode,
    }
    types: list[str] = []
    for h in plan.handlers:
        if h.types_template:
            text = env.get_template(h.types_template).render(h=h, P=ctx, fixed=fixed)
            if text not in types:
                types.append(text)
    session = env.get_template("session.c.j2").render(fields=fields)
    ctx["session_struct"] = "\n".join([*types, session]) if types else session
    parts = [env.get_template("prelude.c.j2").render(P=ctx)]
    for h in plan.order:
        crash = CRASH_MARKER if h is plan.core else ""
        parts.append(env.get_template(h.template).render(h=h, P=ctx, fixed=fixed, crash=crash))
    parts.append(env.get_template("dispatch.c.j2").render(handlers=plan.handlers, cleanup=cleanup))
    parts.append(
        env.get_template(plan.framing.template).render(P=ctx, F=_framing_ctx(plan.framing))
    )
    parts.append(env.get_template("main.c.j2").render(P=ctx))
    text = "\n".join(part.rstrip("\n") + "\n" for part in parts)
    return text


def _framing_ctx(framing: Framing) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "checksum": framing.checksum,
        "sequence": framing.sequence,
        "trailer": framing.trailer,
    }
    ctx.update(framing.context())
    return ctx


def _strip_marker(source: str) -> tuple[str, int | None]:
    lines = source.split("\n")
    hits = [i for i, line in enumerate(lines) if CRASH_MARKER in line]
    if len(hits) > 1:
        raise AssertionError(f"crash marker appears {len(hits)} times")
    return source.replace(CRASH_MARKER, ""), (hits[0] + 1 if hits else None)


def _kind_owner(plan: _Plan) -> dict[int, Handler]:
    return {h.kind: h for h in plan.handlers}


def _interleave(rng: random.Random, ordered: list[Message], extra: list[Message]) -> list[Message]:
    """Insert `extra` messages at random places, keeping the order of `ordered`."""
    out = list(ordered)
    for m in extra:
        out.insert(rng.randrange(len(out) + 1), m)
    return out


def _unused_kind(plan: _Plan, rng: random.Random) -> int | None:
    if plan.framing.name == "container":
        return None  # unknown chunks are exercised by the framing's own variants
    used = {h.kind for h in plan.handlers}
    return plan.framing.draw_kind(rng, set(used))


def build_program(seed: int, tier: int, bug_class: BugClass, index: int) -> Program:
    plan, rng = _plan(seed, tier, bug_class, index)
    style, framing, core = plan.style, plan.framing, plan.core
    base = rng.choice(framing.titles)
    name = base
    entry = rng.choice(ENTRY_NAMES)
    input_mode = rng.choice(("file", "file", "stdin"))
    title = f"{name} - {framing.blurb}"

    vulnerable, line = _strip_marker(
        _render(plan, fixed=False, title=title, entry=entry, input_mode=input_mode)
    )
    fixed, _ = _strip_marker(
        _render(plan, fixed=True, title=title, entry=entry, input_mode=input_mode)
    )
    if line is None:
        raise AssertionError("the vulnerable source has no crash marker")

    gates = plan.gate_messages()

    def session(extra_core: bool = True) -> list[Message]:
        decoy_msgs = [d.benign(rng, style) for d in plan.decoys for _ in range(rng.randrange(1, 3))]
        core_msgs = core.benign_flow(rng, style) if extra_core else []
        body = _interleave(rng, core_msgs, decoy_msgs)
        unknown = _unused_kind(plan, rng)
        if unknown is not None:
            body.insert(
                rng.randrange(len(body) + 1),
                Message(unknown, b"\x00\x01", (framing.unknown_line(unknown),), counted=False),
            )
        return gates + body

    tests: list[FunctionalTest] = []

    def add(name: str, data: bytes, items: list[Item]) -> None:
        stdout, status = expected_output(items)
        tests.append(FunctionalTest(name, data, stdout, status))

    first = session()
    add("session-1", framing.frame(first), framing.items(first))
    second = session()
    add("session-2", framing.frame(second), framing.items(second))
    rejects = gates + core.rejected_flow(rng, style) + [d.invalid(rng, style) for d in plan.decoys]
    add("rejects", framing.frame(rejects), framing.items(rejects))
    gated = _gate_walk(plan, rng)
    if gated:
        add("gates", framing.frame(gated), framing.items(gated))
    # a sample of the framing's corrupt and noisy inputs (each test costs two runs to verify)
    variants = framing.variants(first, rng)
    for variant in sorted(
        rng.sample(variants, k=min(MAX_VARIANTS, len(variants))), key=variants.index
    ):
        add(variant.name, variant.data, variant.items)

    noise = rng.sample(plan.decoys, k=min(len(plan.decoys), rng.randrange(0, 3)))
    poc_msgs = gates + [d.benign(rng, style) for d in noise] + core.trigger_flow(rng, style)
    poc = framing.frame(poc_msgs)

    samples: list[bytes] = []
    sample_messages: list[list[Message]] = []
    core_kinds = {core.kind} | {h.kind for h in core.aux()}
    for _ in range(plan.profile.samples):
        msgs = session()
        if plan.profile.samples_core == "absent":
            msgs = [m for m in msgs if m.kind not in core_kinds]
        elif plan.profile.samples_core == "early":
            # the core's messages are shown, but sent before the handshake and so refused: the
            # solver learns their framing and must reorder them, which a mutating fuzzer rarely does
            owner = _kind_owner(plan)
            refused = [_refused(m, owner[m.kind]) for m in msgs if m.kind in core_kinds]
            msgs = refused + [m for m in msgs if m.kind not in core_kinds]
        samples.append(framing.frame(msgs))
        sample_messages.append(msgs)

    shape = {
        "framing": framing.name,
        "endian": style.endian,
        "checksum": framing.checksum or None,
        "sequence": framing.sequence,
        "file_checksum": framing.trailer,
        "gates": [g.label for g in (plan.hello, plan.auth, plan.mode) if g is not None],
        "subheader": list(plan.profile.subheader),
        "core": type(core).__name__,
        "decoys": [type(d).__name__ for d in plan.decoys],
    }
    return Program(
        name=name,
        title=title,
        purpose=framing.blurb,
        framing=framing.name,
        input_mode=input_mode,
        entry=entry,
        vulnerable_source=vulnerable,
        fixed_source=fixed,
        crash_function=core.crash_function,
        crash_kind=core.crash_kind,
        crash_access=core.access,
        crash_line=line,
        core_label=core.label,
        poc=poc,
        tests=tests,
        samples=samples,
        handlers=len(plan.handlers),
        shape=shape,
        sample_messages=sample_messages,
        poc_messages=poc_msgs,
    )


def _refused(m: Message, owner: Handler, reason: str = "not permitted") -> Message:
    """`m` sent where the session state refuses it: the program reports the refusal instead."""
    return dataclasses.replace(m, lines=(f"reject {owner.label}: {reason}",), rejected=True)


def _gate_walk(plan: _Plan, rng: random.Random) -> list[Message]:
    """The state machine step by step: each gate missing in turn is refused, then the core works."""
    if plan.hello is None:
        return []
    style, core = plan.style, plan.core
    flow = core.benign_flow(rng, style)
    head = flow[0]
    owner = _kind_owner(plan)[head.kind]
    out = [_refused(head, owner)]
    out.append(plan.hello.open(style, plan.keys, plan.protocol))
    if plan.auth:
        out.append(plan.auth.login(style, plan.keys, wrong=True))
        out.append(_refused(head, owner))
        out.append(plan.auth.login(style, plan.keys))
    if plan.mode:
        out.append(_refused(head, owner, "requires maintenance mode"))
        other = (plan.mode.maintenance % plan.mode.max_mode) + 1 if plan.mode.max_mode > 1 else 0
        out.append(plan.mode.switch(style, plan.keys, other))
        out.append(plan.mode.switch(style, plan.keys, plan.mode.maintenance))
    if owner.sub is not None:
        bad = bytes([head.body[0] ^ 0xFF]) + head.body[1:]
        out.append(Message(head.kind, bad, (f"reject {owner.label}: bad tag",), rejected=True))
    return out + flow


def trigger_variants(
    seed: int, tier: int, bug_class: BugClass, index: int, count: int
) -> list[bytes]:
    """Other inputs that reach the planted bug, drawn as the PoC is (the same gates, framing,
    lengths and checksums; other payloads and overflow sizes), for judging a patch: a fix keyed
    to the reference PoC's bytes or sizes does not cover them. Instances are unchanged."""
    plan, _ = _plan(seed, tier, bug_class, index)
    out: list[bytes] = []
    for k in range(count):
        rng = random.Random(f"memsafety-trigger-variant:{seed}:{tier}:{bug_class}:{index}:{k}")  # noqa: S311
        data = plan.framing.frame(plan.gate_messages() + plan.core.trigger_flow(rng, plan.style))
        if data not in out:
            out.append(data)
    return out
