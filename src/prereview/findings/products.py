"""Affected products named as a Package URL (purl) or a CPE 2.3 name, parsed and checked.

PURLs are parsed by `packageurl-python` (the reference implementation); CPE 2.3 formatted
strings are checked against the pattern the CSAF 2.0 schema uses for them, so a product that
triage accepts is one a CSAF document can carry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packageurl import PackageURL

from prereview.errors import PrereviewError

# The CPE 2.3 formatted-string pattern of the CSAF 2.0 JSON schema (product_identification_helper)
_CPE_AVSTRING = (
    r"(((\?*|\*?)([a-zA-Z0-9\-\._]|(\\[\\\*\?!\"#\$%&'\(\)\+,/:;<=>@\[\]\^`\{\|\}~]))+(\?*|\*?))"
    r"|[\*\-])"
)
_CPE23 = re.compile(
    rf"^cpe:2\.3:[aho\*\-](:{_CPE_AVSTRING}){{5}}(:(([a-zA-Z]{{2,3}}(-([a-zA-Z]{{2}}|[0-9]{{3}}))?)"
    rf"|[\*\-]))(:{_CPE_AVSTRING}){{4}}$"
)
_CPE_SPLIT = re.compile(r"(?<!\\):")
MAX_PRODUCT = 2048


class ProductError(PrereviewError):
    """A product identifier that is neither a valid PURL nor a valid CPE 2.3 name."""


@dataclass(frozen=True)
class ProductRef:
    """A product as a PURL or a CPE; `match_key` ignores the version."""

    purl: str = ""
    cpe: str = ""
    vendor: str = ""
    name: str = ""
    version: str = ""
    match_key: str = ""

    @property
    def identifier(self) -> str:
        return self.purl or self.cpe


def _unescape_cpe(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def parse_product(text: str) -> ProductRef:
    """A PURL (`pkg:...`) or CPE 2.3 (`cpe:2.3:...`) as a `ProductRef`, or `ProductError`."""
    text = text.strip()
    if len(text) > MAX_PRODUCT:
        raise ProductError(f"product identifier is over {MAX_PRODUCT} characters")
    if text.startswith("pkg:"):
        try:
            purl = PackageURL.from_string(text)
        except ValueError as exc:
            raise ProductError(f"{text[:80]!r} is not a valid package URL: {exc}") from None
        base = PackageURL(type=purl.type, namespace=purl.namespace, name=purl.name).to_string()
        vendor = (purl.namespace or purl.name).split("/")[-1]
        return ProductRef(
            purl=purl.to_string(),
            vendor=vendor,
            name=purl.name,
            version=purl.version or "",
            match_key=f"purl:{base}",
        )
    if text.lower().startswith("cpe:"):
        if not _CPE23.match(text):
            raise ProductError(
                f"{text[:80]!r} is not a CPE 2.3 formatted string "
                "(cpe:2.3:part:vendor:product:version:update:edition:language:sw_edition:"
                "target_sw:target_hw:other)"
            )
        fields = _CPE_SPLIT.split(text)
        vendor, product, version = (_unescape_cpe(f) for f in fields[3:6])
        return ProductRef(
            cpe=text,
            vendor=vendor,
            name=product,
            version="" if version in ("*", "-") else version,
            match_key=f"cpe:{fields[3].lower()}:{fields[4].lower()}",
        )
    raise ProductError(
        f"{text[:80]!r} is neither a package URL (pkg:type/namespace/name@version) "
        "nor a CPE 2.3 name (cpe:2.3:...)"
    )
