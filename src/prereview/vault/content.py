"""Submission content, encrypted and access-checked: the vault's two wrappers around the store's
`SubmissionContent`.

    GuardedSubmissionContent      policy check + audit entry per access, for one principal
      └ EncryptedSubmissionContent  AES-256-GCM with the submission's data key, plaintext window
          └ FileSubmissionContent   sealed bytes on disk (store.content)

The working directory Inspect writes into is a `PlaintextWorkspace` directory: existing sealed
files are opened into it on enter, and everything it holds is sealed (only what changed) when the
block ends or when `seal()` is called in between, then the plaintext is deleted. While the block
runs, the temp dir (TMPDIR and Python's `tempfile`), `XDG_DATA_HOME` and `XDG_CACHE_HOME` point
into the workspace too (`confine_temp`), so Inspect's own side files (the temp file each `.eval`
log is built in, sample buffer databases, the trace log of a process that starts Inspect there)
share the same fate.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from prereview.files import write_private_atomic
from prereview.store.content import ContentNotFoundError, SubmissionContent, check_key
from prereview.vault.datakeys import DataKeyRing
from prereview.vault.envelope import open_sealed, seal
from prereview.vault.errors import ShreddedError
from prereview.vault.guard import AccessGuard
from prereview.vault.policy import Operation, Resource
from prereview.vault.workspace import OpenWorkspace, PlaintextWorkspace, confine_temp

SealObserver = Callable[[str, str, str, int], None]
"""Called after each artifact is sealed: (scope, key, SHA-256 of the ciphertext, its size)."""


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private_atomic(path, data)


class EncryptedSubmissionContent(SubmissionContent):
    """Every artifact sealed with its submission's data key before it reaches `inner`."""

    def __init__(
        self,
        inner: SubmissionContent,
        keys: DataKeyRing,
        workspace: PlaintextWorkspace,
        observer: SealObserver | None = None,
    ) -> None:
        self.inner = inner
        self.keyring = keys
        self.workspace = workspace
        self.observer = observer
        self._open: dict[tuple[str, str], tuple[OpenWorkspace, dict[str, str]]] = {}

    def observed(self, observer: SealObserver) -> EncryptedSubmissionContent:
        """The same store, reporting each seal to `observer` (open workspaces are shared)."""
        twin = EncryptedSubmissionContent(self.inner, self.keyring, self.workspace, observer)
        twin._open = self._open
        return twin

    def write(self, submission_id: str, key: str, data: bytes) -> None:
        check_key(key)
        blob = seal(self.keyring.key(submission_id, create=True), submission_id, key, data)
        self.inner.write(submission_id, key, blob)
        try:  # a shred between the key lookup and the write erased before this file existed
            self.keyring.confirm_live(submission_id)
        except ShreddedError:
            self.inner.erase(submission_id)  # nothing of a shredded submission may remain
            raise
        if self.observer is not None:
            self.observer(submission_id, key, _digest(blob), len(blob))

    def read(self, submission_id: str, key: str) -> bytes:
        check_key(key)
        try:
            blob = self.inner.read(submission_id, key)
        except ContentNotFoundError:
            row = self.keyring.shredded(submission_id)
            if row is not None:
                raise ShreddedError(submission_id, row.shred_reason) from None
            raise
        return open_sealed(self.keyring.key(submission_id), submission_id, key, blob)

    def exists(self, submission_id: str, key: str) -> bool:
        return self.inner.exists(submission_id, key)

    def keys(self, submission_id: str, prefix: str = "") -> list[str]:
        return self.inner.keys(submission_id, prefix)

    def erase(self, submission_id: str) -> None:
        self.inner.erase(submission_id)

    def working_dir(self, submission_id: str, key: str) -> AbstractContextManager[Path]:
        return self._working_dir(submission_id, key)

    @contextlib.contextmanager
    def _working_dir(self, submission_id: str, key: str) -> Iterator[Path]:
        check_key(key)
        self.keyring.key(submission_id, create=True)
        self.recover_orphans()  # a run killed earlier left plaintext: seal it first, resume from it
        with self.workspace.open(submission_id, key) as ws:
            baseline: dict[str, str] = {}
            prefix = key + "/"
            for stored in self.inner.keys(submission_id, prefix):
                plain = self.read(submission_id, stored)
                rel = stored[len(prefix) :]
                _write_private(ws.files.joinpath(*rel.split("/")), plain)
                baseline[rel] = _digest(plain)
            self._open[(submission_id, key)] = (ws, baseline)
            try:
                with confine_temp(ws):
                    yield ws.files
            finally:
                del self._open[(submission_id, key)]
                # withdrawn during the run: the plaintext is deleted below, never sealed
                with contextlib.suppress(ShreddedError):
                    self._seal_files(ws, baseline)

    def seal(self, submission_id: str, key: str) -> int:
        """Seal what the open working dir (submission_id, key) holds now, without closing it;
        returns the number of files sealed. Call it as soon as each Inspect run ends."""
        ws, baseline = self._open[(submission_id, key)]
        return self._seal_files(ws, baseline)

    def _seal_files(self, ws: OpenWorkspace, baseline: dict[str, str]) -> int:
        sealed = 0
        for rel, path in self.workspace.files_of(ws):
            try:
                data = path.read_bytes()
            except FileNotFoundError:  # removed by the tool while we walked
                continue
            digest = _digest(data)
            if baseline.get(rel) == digest:
                continue
            self.write(ws.scope, f"{ws.key}/{rel}", data)
            baseline[rel] = digest
            sealed += 1
        return sealed

    def recover_orphans(self) -> list[str]:
        """Seal and delete the plaintext left by runs that died; returns the scopes touched."""
        touched = []
        for ws in self.workspace.orphans():
            try:
                if ws.scope and ws.key and self.keyring.shredded(ws.scope) is None:
                    self._seal_files(ws, {})
                    touched.append(ws.scope)
            except ShreddedError:
                pass
            finally:
                self.workspace.remove(ws.path)
        return touched


def classify(key: str) -> tuple[Operation, Operation]:
    """The (read, write) operations guarding an artifact key, by the kind its path names.

    Unknown kinds are results (transcripts, logs, payloads): the most sensitive reading class
    short of credentials.
    """
    parts = set(key.split("/"))
    if "credentials" in parts:
        return Operation.CREDENTIAL_USE, Operation.SUBMISSION_CREATE
    if "reports" in parts:
        read = Operation.REPORT_READ_SANITIZED if "sanitized" in parts else Operation.REPORT_READ
        return read, Operation.REPORT_WRITE
    if "findings" in parts:
        return Operation.FINDINGS_READ, Operation.FINDINGS_WRITE
    return Operation.RESULTS_READ, Operation.REVIEW_ASSESS


class GuardedSubmissionContent(SubmissionContent):
    """The content as one principal may use it: every read and write is decided and recorded.

    Listing keys or testing existence reveals names, not content: checked against the read
    operation, but not recorded unless refused.
    """

    def __init__(self, encrypted: EncryptedSubmissionContent, guard: AccessGuard) -> None:
        self.guard = guard
        self.encrypted = encrypted.observed(self._sealed)
        self._resources: dict[str, Resource] = {}

    def _resource(self, submission_id: str) -> Resource:
        cached = self._resources.get(submission_id)
        if cached is not None:
            return cached
        resource = self.guard.submission(submission_id)
        if resource.exists:
            self._resources[submission_id] = resource
        return resource

    def _sealed(self, scope: str, key: str, digest: str, size: int) -> None:
        self.guard.record(
            "artifact.sealed",
            "ok",
            submission_id=scope,
            target=f"{scope}/{key}",
            detail={"ciphertext_sha256": digest, "ciphertext_bytes": size},
        )

    def _quietly(self, operation: Operation, submission_id: str, key: str) -> None:
        resource = self._resource(submission_id)
        if not self.guard.allows(operation, resource):
            self.guard.require(operation, resource, target=f"{submission_id}/{key}")

    def write(self, submission_id: str, key: str, data: bytes) -> None:
        _, op = classify(key)
        self.guard.require(op, self._resource(submission_id), target=f"{submission_id}/{key}")
        self.encrypted.write(submission_id, key, data)

    def read(self, submission_id: str, key: str) -> bytes:
        op, _ = classify(key)
        self.guard.require(op, self._resource(submission_id), target=f"{submission_id}/{key}")
        return self.encrypted.read(submission_id, key)

    def exists(self, submission_id: str, key: str) -> bool:
        self._quietly(classify(key)[0], submission_id, key)
        return self.encrypted.exists(submission_id, key)

    def keys(self, submission_id: str, prefix: str = "") -> list[str]:
        self._quietly(classify(prefix or "results")[0], submission_id, prefix or "*")
        return self.encrypted.keys(submission_id, prefix)

    def working_dir(self, submission_id: str, key: str) -> AbstractContextManager[Path]:
        _, op = classify(key)
        self.guard.require(op, self._resource(submission_id), target=f"{submission_id}/{key}/")
        return self.encrypted.working_dir(submission_id, key)

    def seal(self, submission_id: str, key: str) -> int:
        return self.encrypted.seal(submission_id, key)

    def erase(self, submission_id: str) -> None:
        self.guard.require(Operation.SUBMISSION_WITHDRAW, self._resource(submission_id))
        self.encrypted.erase(submission_id)
