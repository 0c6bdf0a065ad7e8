"""The vault of one install: keys, encrypted content, principals, policy and audit, opened once
per command; and `VaultSession`, the vault as one authenticated principal may use it.

    vault = Vault.open(settings)         # refuses a missing/foreign key file on a store with data
    session = vault.authenticate(token)  # AuthenticationError (audited) on a missing/bad token
    handle = session.guard.authorize(Operation.SUBMISSION_READ, typed_id)  # raises if refused
    session.content.read(handle.submission_id, "reports/report.md")  # decrypted, checked, audited

`open_session(settings)` does both with the token from `PREREVIEW_TOKEN` or the config file.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from prereview.config import Settings
from prereview.domain.markings import DocumentMarking, marking_for
from prereview.store.base import utcnow
from prereview.store.content import FileSubmissionContent
from prereview.store.database import Database, open_database
from prereview.store.tables.vault import AuditEntryRow, DataKeyRow, VaultKeyRow
from prereview.vault.audit import AuditChain, AuditEvent, AuditHeadAnchor
from prereview.vault.content import EncryptedSubmissionContent, GuardedSubmissionContent
from prereview.vault.datakeys import DataKeyRing, ShredRecord
from prereview.vault.errors import AuthenticationError, KeyFileError
from prereview.vault.guard import AccessGuard, ResourceResolver
from prereview.vault.keys.interface import CheckpointSigner, KeyProvider
from prereview.vault.keys.local import (
    HEAD_FILE,
    KEK_FILE,
    SIGNING_FILE,
    LocalKeyFileProvider,
    LocalSigningKey,
)
from prereview.vault.policy import AccessPolicy, Operation
from prereview.vault.principals import Principal, PrincipalRegistry, Role
from prereview.vault.rotation import RotationResult, finish_interrupted_rotation, rotate_kek
from prereview.vault.shredding import CryptoShredder, RetentionPolicy
from prereview.vault.workspace import PlaintextWorkspace

CREDENTIAL_KEY = "credentials/api-key"
"""Where a submission's model API key is sealed; no operation ever returns it to a person."""

KeyProviderFactory = Callable[[Path, bool], KeyProvider]


def _local_provider(keys_dir: Path, create: bool) -> KeyProvider:
    path = keys_dir / KEK_FILE
    return LocalKeyFileProvider.create(path) if create else LocalKeyFileProvider.load(path)


KEY_PROVIDERS: dict[str, KeyProviderFactory] = {"local": _local_provider}
"""Key providers by `key_provider` setting. An external KMS/HSM registers a factory here; its
`create` flag is only ever True for a store that holds no data."""


def _has_rows(db: Database, table: type[DataKeyRow] | type[AuditEntryRow]) -> bool:
    with db.session() as session:
        return bool(session.scalar(select(func.count()).select_from(table)))


def _recorded_keys(db: Database, kind: str) -> dict[str, datetime | None]:
    """The keys of `kind` this store recorded, each with when a rotation retired it (or None:
    the store depends on it now)."""
    with db.session() as session:
        rows = session.execute(
            select(VaultKeyRow.key_id, VaultKeyRow.retired_at).where(VaultKeyRow.kind == kind)
        )
        return {key_id: retired for key_id, retired in rows}


def _active(keys: dict[str, datetime | None]) -> list[str]:
    return [key_id for key_id, retired in keys.items() if retired is None]


def _record_key(db: Database, kind: str, key_id: str, provider: str, public: str | None) -> None:
    with db.session() as session:
        if session.get(VaultKeyRow, key_id) is None:
            session.add(VaultKeyRow(key_id=key_id, kind=kind, provider=provider, public_key=public))


def _missing_key(what: str, path: Path, key_ids: list[str]) -> KeyFileError:
    expected = f" (key {', '.join(key_ids)})" if key_ids else ""
    return KeyFileError(
        f"the {what} {path} is missing, but this store holds data that depends on it{expected}: "
        f"restore {path} (0600) from your key backup, or point PREREVIEW_HOME at the data dir it "
        "belongs to. prereview will not create a new key: that would leave the existing data "
        "unreadable"
    )


def _foreign_key(what: str, path: Path, found: str, key_ids: list[str]) -> KeyFileError:
    return KeyFileError(
        f"the {what} {path} holds key {found}, but this store was sealed with "
        f"{', '.join(key_ids)}: restore the right file from your key backup, or point "
        "PREREVIEW_HOME at the data dir this key belongs to"
    )


def open_keys(
    settings: Settings, db: Database, *, create: bool
) -> tuple[KeyProvider, CheckpointSigner]:
    """The KEK provider and audit signer of this store.

    A missing key is created only when `create` is set and the store holds no data at all;
    on a store with data it is an error with instructions, as is a key that is not the one the
    store recorded.
    """
    factory = KEY_PROVIDERS.get(settings.key_provider)
    if factory is None:
        raise KeyFileError(
            f"unknown key provider {settings.key_provider!r}; known: {', '.join(KEY_PROVIDERS)}"
        )
    keys_dir = settings.keys_dir
    kek_path, signing_path = keys_dir / KEK_FILE, keys_dir / SIGNING_FILE
    if settings.key_provider == "local":
        finish_interrupted_rotation(db, keys_dir)
    # what depends on each key: wrapped data keys on the KEK, the audit trail on the signing key
    keks = _recorded_keys(db, "kek")
    kek_ids = _active(keks)
    signing_ids = _active(_recorded_keys(db, "signing"))
    kek_needed = bool(kek_ids) or _has_rows(db, DataKeyRow)
    signing_needed = bool(signing_ids) or _has_rows(db, AuditEntryRow)

    if settings.key_provider == "local" and not kek_path.exists():
        if kek_needed:
            raise _missing_key("key file", kek_path, kek_ids)
        if not create:
            raise KeyFileError(f"no key file at {kek_path}: run `prereview init` first")
        provider = factory(keys_dir, True)
    else:
        provider = factory(keys_dir, False)
    retired = keks.get(provider.kek_id)
    if retired is not None:
        raise KeyFileError(
            f"the key file {kek_path} holds key {provider.kek_id}, which a rotation retired on "
            f"{retired:%Y-%m-%d %H:%M} UTC; this store's key is {', '.join(kek_ids)}: restore "
            "the key file from the backup taken after that rotation"
        )
    if kek_ids and provider.kek_id not in kek_ids:
        raise _foreign_key("key file", kek_path, provider.kek_id, kek_ids)

    if not signing_path.exists():
        if signing_needed:
            raise _missing_key("audit signing key", signing_path, signing_ids)
        if not create:
            raise KeyFileError(f"no audit signing key at {signing_path}: run `prereview init`")
        signer: CheckpointSigner = LocalSigningKey.create(signing_path)
    else:
        signer = LocalSigningKey.load(signing_path)
    if signing_ids and signer.key_id not in signing_ids:
        raise _foreign_key("audit signing key", signing_path, signer.key_id, signing_ids)

    _record_key(db, "kek", provider.kek_id, provider.name, None)
    _record_key(db, "signing", signer.key_id, "local", signer.public_key.hex())
    return provider, signer


TMPFS_MIN_FREE = 2 << 30
"""Free memory a tmpfs needs for prereview to put the plaintext window there by default."""

MOUNTS = Path("/proc/mounts")
"""Where the kernel lists mounts (read to tell a tmpfs from persistent storage)."""


def _fs_type(path: Path) -> str | None:
    """The type of the filesystem `path` lies on: that of its longest mount point prefix."""
    best, kind = "", None
    try:
        with MOUNTS.open() as fh:
            for line in fh:
                fields = line.split()
                if len(fields) < 3:
                    continue
                point = fields[1].replace("\\040", " ")
                inside = point == "/" or str(path) == point or str(path).startswith(point + "/")
                if inside and len(point) >= len(best):
                    best, kind = point, fields[2]
    except OSError:
        return None
    return kind


def _private_dir_on_tmpfs(parent: Path, name: str) -> Path | None:
    """`parent/name`, when `parent` is on a tmpfs with room and the directory is (or can be
    made) ours alone (0700, no symlink); else None. Checked with lstat: a shared parent such as
    /dev/shm is world-writable, so a planted symlink or someone else's directory is refused,
    never followed."""
    try:
        parent = parent.resolve(strict=True)
        if _fs_type(parent) != "tmpfs":
            return None
        st = os.statvfs(parent)
        if st.f_bavail * st.f_frsize < TMPFS_MIN_FREE:
            return None
        path = parent / name
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
        info = path.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    return path


def _private_tmpfs_dir() -> Path | None:
    """A private directory on memory-backed storage: `/dev/shm/prereview-<uid>`, else
    `$XDG_RUNTIME_DIR/prereview` (a tmpfs of this user on systemd hosts); None when neither
    is a tmpfs with room that can be ours alone."""
    shm = Path("/dev/shm")  # noqa: S108 - checked: tmpfs, ours, 0700, no symlink
    found = _private_dir_on_tmpfs(shm, f"prereview-{os.getuid()}")
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if found is None and runtime and Path(runtime).is_absolute():
        found = _private_dir_on_tmpfs(Path(runtime), "prereview")
    return found


def plaintext_base(settings: Settings) -> Path | None:
    """Where plaintext lives while a run or viewer lasts (Inspect's logs, its temp files and
    side files): the `plaintext_dir` setting (the operator's explicit choice, disk or not),
    else a private tmpfs directory (memory, never persistent storage), else None: then every
    command that would write plaintext refuses (`PlaintextWindowError`), nothing falls back
    to disk."""
    if settings.plaintext_dir is not None:
        return settings.plaintext_dir
    return _private_tmpfs_dir()


LEGACY_WORK_DIR = "work"
"""`<data dir>/work`: where earlier versions put the plaintext window when no tmpfs was found."""


def _recover_legacy_work_dir(settings: Settings, content: EncryptedSubmissionContent) -> list[str]:
    """Seal and delete what a killed run of an earlier version left in `<data dir>/work` (that
    fallback is gone); the directory is removed once empty. Returns the scopes touched."""
    legacy = settings.home / LEGACY_WORK_DIR
    if settings.plaintext_dir == legacy or not legacy.is_dir() or legacy.is_symlink():
        return []
    old_workspace = PlaintextWorkspace(legacy, settings.home)
    touched = EncryptedSubmissionContent(
        content.inner, content.keyring, old_workspace
    ).recover_orphans()
    old_workspace.sweep_abandoned()  # dead processes' traces
    for path in [*sorted(legacy.rglob("*"), reverse=True), legacy]:
        if path.is_dir() and not path.is_symlink():
            with contextlib.suppress(OSError):
                path.rmdir()  # empty ones only: a live run of an earlier version keeps its own
    return touched


@dataclass
class Vault:
    settings: Settings
    db: Database
    signer: CheckpointSigner
    audit: AuditChain
    keys: DataKeyRing
    content: EncryptedSubmissionContent
    principals: PrincipalRegistry
    policy: AccessPolicy
    resolver: ResourceResolver
    shredder: CryptoShredder
    retention: RetentionPolicy

    @property
    def provider(self) -> KeyProvider:
        """The KEK provider (the key ring's: a rotation replaces it there)."""
        return self.keys.provider

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        create_keys: bool = False,
        db: Database | None = None,
        now: datetime | None = None,
    ) -> Vault:
        """Open the vault of an initialized install; recover dead runs' plaintext and apply
        retention before anything else."""
        db = db or open_database(settings)
        provider, signer = open_keys(settings, db, create=create_keys)
        anchor = AuditHeadAnchor(settings.keys_dir / HEAD_FILE)
        audit = AuditChain(db, signer, settings.audit_checkpoint_every, anchor=anchor)
        keys = DataKeyRing(db, provider)
        workspace = PlaintextWorkspace(plaintext_base(settings), settings.home)
        content = EncryptedSubmissionContent(
            FileSubmissionContent(settings.artifacts_dir), keys, workspace
        )
        vault = cls(
            settings=settings,
            db=db,
            signer=signer,
            audit=audit,
            keys=keys,
            content=content,
            principals=PrincipalRegistry(db),
            policy=AccessPolicy(submitters_read_transcripts=settings.submitters_read_transcripts),
            resolver=ResourceResolver(db),
            shredder=CryptoShredder(keys, content, audit, settings.reports_dir),
            retention=RetentionPolicy(db, settings.retention_days),
        )
        workspace.confine_inspect_traces()
        workspace.sweep_abandoned()
        for scope in [*content.recover_orphans(), *_recover_legacy_work_dir(settings, content)]:
            audit.append(
                AuditEvent(
                    "artifact.recovered",
                    "ok",
                    principal_label="vault",
                    submission_id=scope,
                    target=f"plaintext left by an interrupted run of {scope}",
                    detail={"action": "sealed and deleted"},
                )
            )
        vault.enforce_retention(now or utcnow())
        return vault

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rotate_kek(self) -> RotationResult:
        """A new key-encryption key for every live data key; the old one retired and destroyed.
        The caller checks access and audits (see `prereview keys rotate`)."""
        return rotate_kek(self.db, self.keys, self.settings.keys_dir)

    def enforce_retention(self, now: datetime) -> list[ShredRecord]:
        return [
            self.shredder.shred(due.submission_id, due.reason) for due in self.retention.due(now)
        ]

    def authenticate(self, token: str | None, source: str = "token") -> VaultSession:
        """The session of the principal holding `token`; refused (and audited) otherwise."""
        if not token:
            self.audit.append(
                AuditEvent(
                    "auth",
                    "denied",
                    principal_label="anonymous",
                    detail={"reason": "no token presented"},
                )
            )
            raise AuthenticationError(
                "no API token: set PREREVIEW_TOKEN or `token` in the config file "
                "(`prereview init` prints the first coordinator's token)"
            )
        principal = self.principals.authenticate(token.strip())
        if principal is None:
            self.audit.append(
                AuditEvent(
                    "auth",
                    "denied",
                    principal_label="unknown token",
                    detail={"reason": "token not recognized or revoked", "source": source},
                )
            )
            raise AuthenticationError(
                f"API token from {source} is not recognized (mistyped, revoked, or for another "
                "data dir)"
            )
        return self.session(principal)

    def session(self, principal: Principal) -> VaultSession:
        guard = AccessGuard(principal, self.policy, self.audit, self.resolver)
        return VaultSession(self, principal, guard, GuardedSubmissionContent(self.content, guard))

    def marking(self, *, sanitized: bool = False) -> DocumentMarking:
        return marking_for(self.settings, sanitized=sanitized)


def open_encrypted_content(settings: Settings) -> EncryptedSubmissionContent:
    """The install's content store, sealing with per-submission keys, with no principal attached:
    for trusted code that checked access itself (commands use `VaultSession.content`)."""
    db = open_database(settings)
    provider, _signer = open_keys(settings, db, create=False)
    workspace = PlaintextWorkspace(plaintext_base(settings), settings.home)
    return EncryptedSubmissionContent(
        FileSubmissionContent(settings.artifacts_dir), DataKeyRing(db, provider), workspace
    )


@dataclass
class VaultSession:
    """The vault as one authenticated principal may use it."""

    vault: Vault
    principal: Principal
    guard: AccessGuard
    content: GuardedSubmissionContent

    def store_credential(self, submission_id: str, secret: str) -> None:
        """Seal a model API key for the submission. It is never shown again."""
        self.content.write(submission_id, CREDENTIAL_KEY, secret.encode())

    def has_credential(self, submission_id: str) -> bool:
        return self.vault.content.exists(submission_id, CREDENTIAL_KEY)

    def use_credential(self, submission_id: str) -> str:
        """The API key, decrypted in memory only to hand to Inspect (`credential.use`)."""
        return self.content.read(submission_id, CREDENTIAL_KEY).decode()

    def shred(self, submission_id: str, reason: str = "withdrawn") -> ShredRecord:
        """Destroy the submission's data key now (the caller checked the withdraw right)."""
        return self.vault.shredder.shred(submission_id, reason, self.principal)


def token_source(settings: Settings) -> str:
    if os.environ.get("PREREVIEW_TOKEN"):
        return "PREREVIEW_TOKEN"
    return f"the config file {settings.config_path}" if settings.config_path else "the config file"


def open_session(settings: Settings) -> VaultSession:
    """Open the vault and authenticate with the token from PREREVIEW_TOKEN or the config file."""
    vault = Vault.open(settings)
    try:
        return vault.authenticate(settings.token, token_source(settings))
    except BaseException:
        vault.close()
        raise


@dataclass(frozen=True)
class Bootstrap:
    coordinator: str
    token: str | None  # None when a coordinator existed already (tokens are never shown twice)


def bootstrap(settings: Settings, coordinator_name: str = "coordinator") -> Bootstrap:
    """Create the keys of a fresh store and its first coordinator; idempotent."""
    with Vault.open(settings, create_keys=True) as vault:
        if vault.principals.has_coordinator():
            return Bootstrap(coordinator_name, None)
        principal, token = vault.principals.add(coordinator_name, Role.COORDINATOR, None, None)
        vault.audit.append(
            AuditEvent(
                "principals.add",
                "ok",
                principal_label="prereview init",
                target=f"principal {principal.name}",
                detail={"role": principal.role.value, "principal_id": principal.id},
            )
        )
        vault.audit.checkpoint()
        return Bootstrap(principal.name, token)


__all__ = [
    "CREDENTIAL_KEY",
    "KEY_PROVIDERS",
    "Bootstrap",
    "Operation",
    "Vault",
    "VaultSession",
    "bootstrap",
    "open_keys",
    "open_session",
]


def remember_token(config_path: Path, token: str) -> None:
    """Write `token = "..."` into the `[prereview]` table of the config file (created 0600,
    or tightened to 0600), so this CLI authenticates without the token being copied around.

    Whoever can read the data dir holds the key files anyway; the token adds no exposure there.
    """
    config_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = f'token = "{token}"'
    if not config_path.exists():
        fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"[prereview]\n{line}\n")
        return
    os.chmod(config_path, 0o600)
    lines = config_path.read_text().splitlines()
    out: list[str] = []
    in_prereview, placed = False, False
    tables = [n for n, text in enumerate(lines) if text.strip().startswith("[")]
    for text in lines:
        stripped = text.strip()
        if stripped.startswith("["):
            in_prereview = stripped == "[prereview]"
            out.append(text)
            if in_prereview and not placed:
                out.append(line)
                placed = True
            continue
        if stripped.replace(" ", "").startswith("token=") and (in_prereview or not tables):
            continue  # replaced by the new token
        out.append(text)
    if not placed:
        out = [line, *out] if not tables else [*out, "", "[prereview]", line]
    config_path.write_text("\n".join(out) + "\n")
