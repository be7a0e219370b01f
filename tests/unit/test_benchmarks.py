"""Benchmark files, checks and APEL's normalisation formula (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from batchacct.benchmarks import (
    Benchmark,
    BenchmarkError,
    BenchmarkFileError,
    check_distinct,
    glob_to_like,
    load_file,
    normalised,
    parse_benchmarks,
)

EXAMPLE = """\
site: RAL-LCG2            # default site for entries
benchmarks:
  - scope: site
    type: HEPscore23
    value: 12.5
  - scope: ce
    name: ce01.example.org:9619/ce01.example.org-condor
    type: hepspec
    value: 10
    valid_from: 2026-01-01T00:00:00Z
  - scope: exec_host
    name: "wn-2026-*"
    type: HEPSPEC
    value: 14.2
  - scope: machine
    name: lsfmaster01
    type: SI2K
    value: 2750
    host_factor_reference: 13.0
  - scope: site
    site: OTHER-SITE
    type: HEPSPEC
    value: 9
"""


def test_the_documented_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "benchmarks.yaml"
    path.write_text(EXAMPLE)
    assert load_file(path) == [
        Benchmark("RAL-LCG2", "site", "HEPscore23", 12.5),
        Benchmark(
            "RAL-LCG2",
            "ce",
            "HEPSPEC",
            10.0,
            "ce01.example.org:9619/ce01.example.org-condor",
            valid_from=datetime(2026, 1, 1, tzinfo=UTC),
        ),
        Benchmark("RAL-LCG2", "exec_host", "HEPSPEC", 14.2, "wn-2026-*"),
        Benchmark("RAL-LCG2", "machine", "si2k", 2750.0, "lsfmaster01", host_factor_reference=13.0),
        Benchmark("OTHER-SITE", "site", "HEPSPEC", 9.0),
    ]


@pytest.mark.parametrize(
    ("valid_from", "expected"),
    [
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),  # a YAML date: midnight UTC
        ("2026-03-01 12:30:00", datetime(2026, 3, 1, 12, 30, tzinfo=UTC)),  # no offset: UTC
        (
            "2026-03-01T12:30:00+02:00",
            datetime(2026, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=2))),
        ),
        ('"2026-03-01T12:30:00Z"', datetime(2026, 3, 1, 12, 30, tzinfo=UTC)),  # quoted text
    ],
)
def test_valid_from_forms(valid_from: str, expected: datetime) -> None:
    text = f"site: S\nbenchmarks:\n  - {{scope: site, type: HEPSPEC, value: 1, valid_from: {valid_from}}}\n"
    (benchmark,) = parse_benchmarks(text, "f.yaml")
    assert benchmark.valid_from == expected


ENTRY = "site: S\nbenchmarks:\n  - scope: ce\n    name: ce1\n    type: HEPSPEC\n    value: 10\n"


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        pytest.param("site: S\nbenchmarks: [\n", ["not valid YAML", "line 3"], id="bad-yaml"),
        pytest.param("- just\n- a list\n", ["expected a mapping", "a list"], id="not-a-mapping"),
        pytest.param("", ["expected a mapping", "nothing"], id="empty-file"),
        pytest.param("site: S\nbenchmarks: []\n", ["non-empty list"], id="no-entries"),
        pytest.param(ENTRY + "sites: X\n", ["unknown key", "'sites'"], id="unknown-file-key"),
        pytest.param(
            ENTRY.replace("scope: ce", "scope: cluster"),
            ["entry 1 (cluster ce1)", "scope 'cluster' is not one of"],
            id="unknown-scope",
        ),
        pytest.param(
            ENTRY.replace("    value: 10\n", ""),
            ["entry 1 (ce ce1)", "'value' is missing"],
            id="missing-value",
        ),
        pytest.param(
            ENTRY.replace("value: 10", "value: -3"),
            ["entry 1", "-3.0 is not a positive number"],
            id="negative-value",
        ),
        pytest.param(
            ENTRY.replace("value: 10", "value: 0"), ["not a positive number"], id="zero-value"
        ),
        pytest.param(
            ENTRY.replace("value: 10", "value: .nan"), ["not a positive number"], id="nan-value"
        ),
        pytest.param(
            ENTRY.replace("value: 10", 'value: "10"'),
            ["'value' must be a number, found text"],
            id="value-as-text",
        ),
        pytest.param(
            ENTRY.replace("value: 10", "value: true"),
            ["'value' must be a number, found true/false"],
            id="value-as-bool",
        ),
        pytest.param(
            ENTRY.replace("type: HEPSPEC", "type: HS23"),
            ["entry 1", "benchmark type 'HS23' is not one of HEPscore23, HEPSPEC, si2k"],
            id="unknown-type",
        ),
        pytest.param(
            ENTRY.replace("scope: ce", "scope: site"),
            ["entry 1 (site ce1)", "the site default has no scope value"],
            id="site-scope-with-a-name",
        ),
        pytest.param(
            ENTRY.replace("    name: ce1\n", ""),
            ["entry 1 (ce)", "a ce benchmark needs the ce it applies to"],
            id="ce-without-a-name",
        ),
        pytest.param(
            ENTRY.replace("name: ce1", "name: 1234"),
            ["'name' must be text, found a number (quote it)"],
            id="name-not-text",
        ),
        pytest.param(
            ENTRY + "  - {scope: ce, name: ce1, type: si2k, value: 2500}\n",
            ["entries 1 and 2 both give the ce 'ce1' benchmark of site 'S'"],
            id="duplicate-scope",
        ),
        pytest.param(
            ENTRY + "    value: 11\n",
            ["not valid YAML", "the key 'value' is given twice"],
            id="duplicate-key",
        ),
        pytest.param(
            ENTRY + "    vaule: 11\n", ["entry 1", "unknown key(s) 'vaule'"], id="misspelt-key"
        ),
        pytest.param(ENTRY.replace("site: S\n", ""), ["entry 1", "no site"], id="no-site"),
        pytest.param(
            ENTRY + "    valid_from: next tuesday\n",
            ["valid_from 'next tuesday' is not a time"],
            id="bad-valid-from",
        ),
        pytest.param(
            ENTRY + "    host_factor_reference: -1\n",
            ["host_factor_reference -1.0 is not a positive number"],
            id="bad-reference",
        ),
        pytest.param(
            "site: S\nbenchmarks:\n  - HEPSPEC 10\n",
            ["entry 1", "expected a mapping", "found text"],
            id="entry-not-a-mapping",
        ),
    ],
)
def test_bad_files_fail_whole_with_the_file_and_entry_named(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    path = tmp_path / "site-benchmarks.yaml"
    path.write_text(text)
    with pytest.raises(BenchmarkFileError) as raised:
        load_file(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: "), message
    for fragment in fragments:
        assert fragment in message, message


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkFileError, match=r"nope\.yaml: cannot read it"):
        load_file(tmp_path / "nope.yaml")


def test_the_same_name_in_two_sites_is_not_a_duplicate() -> None:
    check_distinct(
        [Benchmark("A", "ce", "HEPSPEC", 1, "ce1"), Benchmark("B", "ce", "HEPSPEC", 1, "ce1")]
    )
    with pytest.raises(BenchmarkError, match="entries 1 and 2"):
        check_distinct([Benchmark("A", "site", "HEPSPEC", 1), Benchmark("A", "site", "si2k", 9)])


def test_checked_spells_types_canonically_and_needs_an_aware_valid_from() -> None:
    assert Benchmark("S", "site", "hepscore23", 1).checked().benchmark_type == "HEPscore23"
    with pytest.raises(BenchmarkError, match="time zone"):
        Benchmark("S", "site", "HEPSPEC", 1, valid_from=datetime(2026, 1, 1)).checked()
    with pytest.raises(BenchmarkError, match="site is empty"):
        Benchmark(" ", "site", "HEPSPEC", 1).checked()


@pytest.mark.parametrize(
    ("glob", "like"),
    [
        ("wn-*", "wn-%"),
        ("wn-0?", "wn-0_"),
        ("wn_1*", "wn\\_1%"),  # LIKE's wildcards in a name match only themselves
        ("100%", "100\\%"),
        ("a\\b", "a\\\\b"),
    ],
)
def test_host_globs_become_like_patterns(glob: str, like: str) -> None:
    assert glob_to_like(glob) == like


@pytest.mark.parametrize(
    ("duration", "level_type", "level", "expected"),
    [
        (1000, "HEPSPEC", 10.5, 10500),
        (1000, "HEPscore23", 10.5, 10500),  # HEPscore23 is HS06 by definition
        (1000, "si2k", 2500.0, 10000),  # si2k only is divided by 250
        (1, "HEPSPEC", 2.5, 3),  # halves round away from zero (not to even)
        (3, "HEPSPEC", 0.5, 2),
        (1, "si2k", 125.0, 1),  # 0.5 HS06-seconds
        (7, "HEPSPEC", 1.001, 7),
        (-60, "HEPSPEC", 10.0, 0),  # negative durations count as 0
        (60, None, None, None),  # no benchmark: no normalised value
    ],
)
def test_apel_normalisation(
    duration: int, level_type: str | None, level: float | None, expected: int | None
) -> None:
    assert normalised(duration, level_type, level) == expected
