"""The 16 critical-infrastructure sectors, and the product→sector catalog that triage maps through.

Both are data (`data/sectors.yaml`, `data/product-sectors.yaml`); the catalog is extended by the
agency without code: `<data dir>/product-sectors.yaml` and any files named by `product_catalogs` in
config.toml are merged after the shipped one (a later entry for the same product replaces it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from prereview.config import Settings
from prereview.errors import PrereviewError
from prereview.findings.products import ProductRef, parse_product


class CatalogError(PrereviewError):
    """A product-sector catalog file that cannot be used; the message names the file and entry."""


@dataclass(frozen=True)
class Sector:
    code: str
    name: str
    criticality: int  # 3 lifeline, 2 life-safety, 1 other


@dataclass(frozen=True)
class ProductEntry:
    key: str  # "purl:pkg:type/ns/name" or "cpe:vendor:product"
    vendor: str
    sectors: tuple[str, ...]


@cache
def sectors() -> dict[str, Sector]:
    """The 16 sectors by code, in the order CISA lists them."""
    text = resources.files("prereview.findings").joinpath("data/sectors.yaml").read_text()
    return {
        s["code"]: Sector(s["code"], s["name"], int(s["criticality"]))
        for s in yaml.safe_load(text)["sectors"]
    }


def sector(code: str) -> Sector:
    known = sectors()
    if code not in known:
        raise CatalogError(f"unknown sector {code!r}; known: {', '.join(known)}")
    return known[code]


class ProductCatalog:
    """Product → vendor and sectors, matched on the PURL's type/namespace/name or the CPE's
    vendor:product, so every version of a product maps the same way."""

    def __init__(self, entries: list[ProductEntry] | None = None) -> None:
        self._entries: dict[str, ProductEntry] = {}
        for entry in entries or []:
            self._entries[entry.key] = entry

    def __len__(self) -> int:
        return len(self._entries)

    def extend(self, text: str, origin: str) -> None:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise CatalogError(f"{origin}:{where} is not valid YAML") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("products"), list):
            raise CatalogError(f"{origin}: expected a mapping with a `products` list")
        known = sectors()
        for i, raw in enumerate(doc["products"]):
            self._entries.update([self._entry(raw, f"{origin}: products[{i}]", known)])

    @staticmethod
    def _entry(raw: Any, where: str, known: dict[str, Sector]) -> tuple[str, ProductEntry]:
        if not isinstance(raw, dict):
            raise CatalogError(f"{where}: expected a mapping")
        codes = raw.get("sectors")
        if not isinstance(codes, list) or not codes:
            raise CatalogError(f"{where}: `sectors` must be a non-empty list of sector codes")
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise CatalogError(f"{where}: unknown sector {unknown[0]!r}; known: {', '.join(known)}")
        if "purl" in raw:
            ref = parse_product(str(raw["purl"]))
        elif "cpe" in raw:
            vendor_product = str(raw["cpe"]).split(":")
            if len(vendor_product) != 2 or not all(vendor_product):
                raise CatalogError(f"{where}: `cpe` must be VENDOR:PRODUCT")
            ref = parse_product(
                f"cpe:2.3:a:{vendor_product[0]}:{vendor_product[1]}:*:*:*:*:*:*:*:*"
            )
        else:
            raise CatalogError(f"{where}: needs `purl` or `cpe`")
        vendor = str(raw.get("vendor") or ref.vendor)
        entry = ProductEntry(ref.match_key, vendor, tuple(dict.fromkeys(codes)))
        return entry.key, entry

    def match(self, product: ProductRef) -> ProductEntry | None:
        return self._entries.get(product.match_key)


def _shipped_text() -> str:
    return resources.files("prereview.findings").joinpath("data/product-sectors.yaml").read_text()


def load_catalog(settings: Settings | None = None) -> ProductCatalog:
    """The shipped catalog, extended by the data dir's file and config's `product_catalogs`."""
    catalog = ProductCatalog()
    catalog.extend(_shipped_text(), "product-sectors.yaml (shipped)")
    if settings is None:
        return catalog
    extra: list[Path] = [settings.home / "product-sectors.yaml"]
    named = settings.extra.get("product_catalogs", [])
    if isinstance(named, str):
        named = [named]
    extra.extend(Path(p).expanduser() for p in named)
    for path in extra:
        if path.is_file():
            catalog.extend(path.read_text(encoding="utf-8"), str(path))
        elif path != settings.home / "product-sectors.yaml":
            raise CatalogError(f"product catalog {path} named in the config does not exist")
    return catalog
