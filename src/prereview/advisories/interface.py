"""What advisory exporters exchange: findings grouped per vendor and product, the publisher, the
tracking state of each advisory, and the documents that come out.

An exporter is pure: it turns an `AdvisoryGroup` and its `Tracking` into a document (a dict) and
a file name. Versioning and revision history are kept by `prereview.advisories.tracking`.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from prereview.config import Settings
from prereview.findings.records import Finding

EXPORTABLE = ("triaged", "vendor_notified", "fix_available", "published")
TLP_LABELS = ("WHITE", "GREEN", "AMBER", "RED")


@dataclass(frozen=True)
class Publisher:
    name: str = "prereview evaluating agency"
    namespace: str = "https://prereview.invalid"
    contact: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> Publisher:
        extra = settings.extra
        return cls(
            name=str(extra.get("csaf_publisher_name") or cls.name),
            namespace=str(extra.get("csaf_publisher_namespace") or cls.namespace),
            contact=str(extra.get("csaf_publisher_contact") or ""),
        )


@dataclass(frozen=True)
class AdvisoryGroup:
    """The findings of one vendor's product (every version of it): one advisory."""

    key: str
    vendor: str
    product_name: str
    findings: tuple[Finding, ...]

    @property
    def tracking_id(self) -> str:
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:8]
        return f"PRV-{_slug(self.vendor)[:24]}-{_slug(self.product_name)[:32]}-{digest}"

    @property
    def all_published(self) -> bool:
        return all(f.status == "published" for f in self.findings)


@dataclass(frozen=True)
class Revision:
    number: int
    date: datetime
    summary: str


@dataclass(frozen=True)
class Tracking:
    id: str
    version: int
    initial_release: datetime
    current_release: datetime
    revisions: tuple[Revision, ...]
    final: bool


@dataclass(frozen=True)
class ExportedDocument:
    tracking_id: str
    file_name: str
    document: dict[str, Any]
    version: int
    findings: int


class AdvisoryExporter(ABC):
    """A machine-readable advisory format."""

    name: ClassVar[str]

    @abstractmethod
    def build(
        self, group: AdvisoryGroup, tracking: Tracking, publisher: Publisher, tlp: str
    ) -> dict[str, Any]:
        """The document for one group at one tracking state."""

    @abstractmethod
    def file_name(self, tracking_id: str) -> str: ...


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def group_findings(findings: Iterable[Finding]) -> list[AdvisoryGroup]:
    """Triaged findings with a product, grouped by vendor and product (any version)."""
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        if f.status not in EXPORTABLE or not f.product or not f.product_key:
            continue
        groups.setdefault(f.product_key, []).append(f)
    out = []
    for key, members in sorted(groups.items()):
        members.sort(key=lambda f: f.id)
        first = members[0]
        out.append(
            AdvisoryGroup(
                key=key,
                vendor=first.vendor or "unknown vendor",
                product_name=first.product_name or key,
                findings=tuple(members),
            )
        )
    return out
