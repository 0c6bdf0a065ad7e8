"""The data prereview ships for triage: the CWE list, the sectors, the product→sector catalog,
the disclosure policies; and how an agency extends the product catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from prereview.config import load_settings
from prereview.findings.cwe import cwe_catalog
from prereview.findings.disclosure import policies
from prereview.findings.products import ProductError, parse_product
from prereview.findings.scoring import DEFAULT_PRIORITY, assess_severity, score_vector
from prereview.findings.sectors import CatalogError, load_catalog, sectors


def test_cwe_list_is_mitre_with_its_names() -> None:
    catalog = cwe_catalog()
    assert catalog.version == "4.20" and len(catalog.weaknesses) > 900
    assert catalog.require("CWE-787").name == "Out-of-bounds Write"
    assert catalog.require("cwe122").name == "Heap-based Buffer Overflow"
    assert catalog.require(416).name == "Use After Free"
    assert "MITRE" in catalog.source or "csaf" in catalog.source


def test_the_sixteen_sectors_and_the_lifelines() -> None:
    known = sectors()
    assert len(known) == 16
    lifelines = {code for code, s in known.items() if s.criticality == 3}
    assert lifelines == {"communications", "energy", "transportation", "water"}


def test_products_parse_as_purl_or_cpe() -> None:
    purl = parse_product("pkg:github/Stephane/libmodbus@3.1.10")
    assert purl.purl == "pkg:github/stephane/libmodbus@3.1.10"  # github names are case-folded
    assert purl.match_key == "purl:pkg:github/stephane/libmodbus" and purl.version == "3.1.10"
    cpe = parse_product("cpe:2.3:a:isc:bind:9.18.0:*:*:*:*:*:*:*")
    assert (cpe.vendor, cpe.name, cpe.version) == ("isc", "bind", "9.18.0")
    with pytest.raises(ProductError):
        parse_product("pkg:" + "a" * 5000)


def test_catalog_maps_every_version_of_a_product() -> None:
    catalog = load_catalog()
    for version in ("9.16.1", "9.18.0"):
        entry = catalog.match(parse_product(f"cpe:2.3:a:isc:bind:{version}:*:*:*:*:*:*:*"))
        assert entry is not None and "communications" in entry.sectors


def test_agency_extends_the_catalog_from_the_data_dir_and_config(
    prereview_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prereview_home.mkdir(parents=True)
    (prereview_home / "product-sectors.yaml").write_text(
        "products:\n"
        "  - {purl: 'pkg:github/acme/scada-core', vendor: ACME, sectors: [water, dams]}\n"
        "  - {cpe: 'isc:bind', vendor: ISC, sectors: [emergency-services]}\n"
    )
    extra = tmp_path / "more.yaml"
    extra.write_text("products:\n  - {purl: 'pkg:npm/hmi-kit', sectors: [energy]}\n")
    (prereview_home / "config.toml").write_text(f'product_catalogs = ["{extra}"]\n')
    catalog = load_catalog(load_settings())
    acme = catalog.match(parse_product("pkg:github/acme/scada-core@2.0"))
    assert acme is not None and acme.vendor == "ACME" and acme.sectors == ("water", "dams")
    bind = catalog.match(parse_product("cpe:2.3:a:isc:bind:9:*:*:*:*:*:*:*"))
    assert bind is not None and bind.sectors == ("emergency-services",)  # a later entry wins
    hmi = catalog.match(parse_product("pkg:npm/hmi-kit@1"))
    assert hmi is not None and hmi.vendor == "hmi-kit"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("products: [", "line 1"),
        ("items: []", "expected a mapping with a `products` list"),
        (
            "products:\n  - {purl: 'pkg:npm/x', sectors: [space]}",
            "products[0]: unknown sector 'space'",
        ),
        ("products:\n  - {purl: 'pkg:npm/x', sectors: []}", "`sectors` must be a non-empty list"),
        ("products:\n  - {name: x, sectors: [energy]}", "needs `purl` or `cpe`"),
        ("products:\n  - {cpe: 'justone', sectors: [energy]}", "`cpe` must be VENDOR:PRODUCT"),
    ],
)
def test_bad_catalog_files_are_refused_naming_the_entry(
    prereview_home: Path, text: str, message: str
) -> None:
    prereview_home.mkdir(parents=True)
    (prereview_home / "product-sectors.yaml").write_text(text)
    with pytest.raises(CatalogError, match=message.replace("[", "\\[").replace("]", "\\]")):
        load_catalog(load_settings())


def test_disclosure_policies_are_data() -> None:
    known = policies()
    assert known["cisa-45"].fix_days == 45 and known["cisa-45"].after_fix_days is None
    assert known["90+30"].fix_days == 90 and known["90+30"].after_fix_days == 30


def test_severity_falls_back_from_vectors_to_the_source() -> None:
    v3 = score_vector("CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N")
    assert v3.base_score == 1.8 and v3.severity == "low"
    assert assess_severity(v3, None, 9.0, "error").basis == "cvss_v3"
    assert assess_severity(None, None, 9.0, "note").severity == "critical"
    estimated = assess_severity(None, None, None, "warning")
    assert estimated.estimated and estimated.severity == "medium"


def test_priority_rises_with_sector_criticality_and_evidence() -> None:
    p = DEFAULT_PRIORITY
    assert p.score(7.0, 0, "static") < p.score(7.0, 3, "static") < p.score(7.0, 3, "poc")
    assert p.band(p.score(7.5, 3, "poc")) == "P1" and p.band(p.score(7.5, 0, "static")) == "P2"
    assert p.score(10.0, 3, "poc") == 10.0
