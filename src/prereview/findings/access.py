"""Findings under the vault: sealed details and who may see or change which finding.

- `VaultDetailsCodec` seals a sighting's details (message, snippet, stack: what can reveal an
  unpatched vulnerability or what a model did) with the data key of its submission, or of the
  agency's own scope for findings from tools that belong to no submission. A withdrawn
  submission's details are crypto-shredded with it; reading them then yields a notice, not an
  error, since the finding itself (agency triage data) stays.
- A finding is visible through any of its sightings: a submitter sees findings sighted in their
  organization's submissions, an evaluator those of the reviews they are assigned to, and the
  agency-wide ones; sightings of other organizations stay hidden (`visible_sighting`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from prereview.findings.details import (
    DetailsCodec,
    DetailsCodecs,
    DetailsError,
    FindingDetails,
    PlainDetailsCodec,
)
from prereview.store.database import Database
from prereview.store.tables.findings import FindingRow, FindingSightingRow
from prereview.vault.datakeys import DataKeyRing
from prereview.vault.envelope import open_sealed, seal
from prereview.vault.errors import AccessDeniedError, IntegrityError, ShreddedError
from prereview.vault.guard import AccessGuard, canonical_finding_ref, shown
from prereview.vault.policy import Operation, Resource
from prereview.vault.service import VaultSession

AGENCY_SCOPE = "agency-findings"
"""Data-key scope of findings that belong to no submission (imported from tools)."""

_ARTIFACT = "findings/details"
WITHDRAWN_NOTICE = "(details destroyed: the submission was withdrawn or its retention expired)"


class VaultDetailsCodec(DetailsCodec):
    """AES-256-GCM with the submission's data key; the JSON wire format inside."""

    name = "vault-aes256gcm-v1"

    def __init__(self, keys: DataKeyRing) -> None:
        self.keys = keys
        self._wire = PlainDetailsCodec()

    @staticmethod
    def scope(submission_id: str | None) -> str:
        return submission_id or AGENCY_SCOPE

    def seal(self, submission_id: str | None, details: FindingDetails) -> bytes:
        scope = self.scope(submission_id)
        plain = self._wire.seal(submission_id, details)
        return seal(self.keys.key(scope, create=True), scope, _ARTIFACT, plain)

    def open(self, submission_id: str | None, sealed: bytes) -> FindingDetails:
        scope = self.scope(submission_id)
        try:
            plain = open_sealed(self.keys.key(scope), scope, _ARTIFACT, sealed)
        except ShreddedError:
            return FindingDetails(message=WITHDRAWN_NOTICE)
        except IntegrityError as exc:
            raise DetailsError(str(exc)) from None
        return self._wire.open(submission_id, plain)


def session_codecs(session: VaultSession) -> DetailsCodecs:
    """The codecs of the caller's vault session: new details sealed with its data keys, older
    plain rows still readable."""
    return DetailsCodecs(VaultDetailsCodec(session.vault.keys), (PlainDetailsCodec(),))


def sighting_resources(guard: AccessGuard, db: Database, finding_id: int) -> list[Resource]:
    """One resource per distinct origin of the finding's sightings (submission or agency)."""
    with db.session() as session:
        origins = set(
            session.scalars(
                select(FindingSightingRow.submission_id).where(
                    FindingSightingRow.finding_id == finding_id
                )
            )
        )
    return [
        guard.submission(origin) if origin else Resource.agency()
        for origin in sorted(origins, key=lambda o: o or "")
    ]


@dataclass(frozen=True)
class AuthorizedFinding:
    """Proof that the guard's principal was allowed `operation` on finding `finding_id`."""

    operation: Operation
    finding_id: int
    reference: str


def authorize_finding(
    guard: AccessGuard, db: Database, operation: Operation, reference: str
) -> AuthorizedFinding:
    """Resolve a finding reference (exactly `F-<number>`: nothing is stripped or folded), allow
    when the principal may do `operation` through any sighting's origin, audited; else refuse
    with the same line for an unknown finding as for one the principal may not touch."""
    finding_id = canonical_finding_ref(reference)
    exists = False
    if finding_id is not None:
        with db.session() as session:
            exists = session.get(FindingRow, finding_id) is not None
    if finding_id is None or not exists:
        guard.record(
            operation.value, "denied", target=reference[:200], detail={"reason": "no such id"}
        )
        p = guard.principal
        raise AccessDeniedError(
            f"access denied: {p.role.value} {p.name!r} may not {operation.value} "
            f"on {shown(reference)}"
        )
    assert finding_id is not None
    require_finding(guard, db, finding_id, operation, reference)
    return AuthorizedFinding(operation, finding_id, reference)


def require_finding(
    guard: AccessGuard,
    db: Database,
    finding_id: int,
    operation: Operation,
    reference: str | None = None,
) -> None:
    """Allow (audited) when the principal may do `operation` through any sighting's origin."""
    resources = sighting_resources(guard, db, finding_id) or [Resource.agency()]
    target = f"finding F-{finding_id}"
    for resource in resources:
        if guard.allows(operation, resource):
            guard.require(operation, resource, target=target)
            return
    # records the refusal and raises, naming the finding as it was typed
    guard.require(operation, resources[0], target=shown(reference) if reference else target)
    raise AccessDeniedError(f"access denied to {target}")  # pragma: no cover - require raised


def may_see(guard: AccessGuard, db: Database, finding_id: int, operation: Operation) -> bool:
    resources = sighting_resources(guard, db, finding_id) or [Resource.agency()]
    return any(guard.allows(operation, r) for r in resources)


def visible_sighting(guard: AccessGuard, submission_id: str | None) -> bool:
    resource = guard.submission(submission_id) if submission_id else Resource.agency()
    return guard.allows(Operation.FINDINGS_READ, resource)
