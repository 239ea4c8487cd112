"""kstack/changes.py: the regression registry and ``kstack changes``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kstack.changes import CHANGES, lookup, lookup_all, sides
from kstack.cli import main
from kstack.profiles import PROFILES, switch_names

ROOT = Path(__file__).resolve().parent.parent


def test_every_switch_has_a_record():
    assert sorted(set(switch_names()) - set(CHANGES)) == []
    assert sorted(set(CHANGES) - set(switch_names())) == []


@pytest.mark.parametrize("switch", sorted(CHANGES))
def test_record_test_exists(switch):
    c = CHANGES[switch]
    path, sep, name = c.test.partition("::")
    assert sep, f"{switch}: {c.test} names no test function"
    text = (ROOT / path).read_text()
    assert re.search(rf"^def {re.escape(name)}\(", text, re.M), c.test


@pytest.mark.parametrize("switch", sorted(CHANGES))
def test_record_fields(switch):
    c = CHANGES[switch]
    assert c.revision == "unverified" or c.revision == "n/a" or re.fullmatch(r"r\d+", c.revision)
    assert c.catalog is None or re.fullmatch(r"00[0-3]:\d+", c.catalog)
    assert c.before and c.after and c.subsystem


def test_sides_follow_the_profiles():
    s = sides(CHANGES["so_protocol"])
    assert s["before"] == ["9.0", "8.0-prefix"]
    assert s["after"] == ["9.1", "9.3", "10.0", "11.0"]
    s = sides(CHANGES["arp_static_survives_ifdown"])
    assert s["before"] == ["8.0-prefix"]
    assert sorted(s["after"]) == sorted(n for n in PROFILES if n != "8.0-prefix")
    s = sides(CHANGES["raw_ip_header"])
    assert (s["after"], s["value 11"]) == (["10.0"], ["11.0"])


@pytest.mark.parametrize(
    ("query", "switch"),
    [
        ("kern/122338", "needfrag_route_mtu"),
        ("122338", "needfrag_route_mtu"),
        ("KERN/91412", "needfrag_mtu_plateau"),
        ("002:631", "needfrag_route_mtu"),
        ("000:296", "ip_bindany"),
        ("somaxconn_unsigned", "somaxconn_unsigned"),
    ],
)
def test_lookup(query, switch):
    assert lookup(query).switch == switch


def test_a_pr_cited_by_two_changes_shows_both(capsys):
    """PR kern/122338 is cited by the needfrag route-MTU fix (seed 002:631)
    and by the RTM_MISS fix (seed 002:447): both are listed, in catalog order."""
    assert [c.switch for c in lookup_all("122338")] == [
        "needfrag_route_mtu",
        "rtm_miss_per_forward",
    ]
    assert main(["changes", "kern/122338", "--json"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["switch"] for r in rows] == ["needfrag_route_mtu", "rtm_miss_per_forward"]


def test_cli_table(capsys):
    assert main(["changes"]) == 0
    out = capsys.readouterr().out
    for c in CHANGES.values():
        assert out.count(f"\n{c.switch}  [") + out.startswith(f"{c.switch}  [") == 1
        assert f"    test: {c.test}\n" in out


def test_cli_json(capsys):
    assert main(["changes", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["switch"] for r in rows] == list(CHANGES)
    r = rows[list(CHANGES).index("needfrag_route_mtu")]
    assert (r["catalog"], r["prs"], r["test"]) == (
        "002:631",
        ["kern/122338"],
        CHANGES["needfrag_route_mtu"].test,
    )
    assert r["profiles"]["after"] == list(PROFILES)


def test_cli_one(capsys):
    assert main(["changes", "kern/122338"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:4] == [
        "switch:         needfrag_route_mtu",
        "catalog:        002:631",
        "PR:             kern/122338",
        f"revision:       {CHANGES['needfrag_route_mtu'].revision}",
    ]
    assert main(["changes", "002:1036", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["switch"] == "process_options_sysctl"


@pytest.mark.parametrize("query", ["kern/1", "nope", "999:1", ""])
def test_cli_unknown(capsys, query):
    assert main(["changes", query]) == 2
    err = capsys.readouterr()
    assert err.out == ""
    assert err.err.startswith("kstack: error: changes: no switch")
    assert err.err.count("\n") == 1


def test_regressions_readme_lists_every_catalog_record():
    """conformance/regressions/README.md's table is the registry's catalog
    records: same ids, switches and tests."""
    readme = Path(__file__).resolve().parents[1] / "conformance" / "regressions" / "README.md"
    rows = re.findall(r"^\| (\d{3}:\d+) \| (\w+) \| (\S+) \|$", readme.read_text(), re.M)
    listed = {cid: (sw, t) for cid, sw, t in rows}
    expected = {}
    for c in CHANGES.values():
        if c.catalog is None:
            continue
        t = c.test.replace("conformance/regressions/", "").replace("conformance/", "../")
        expected[c.catalog] = (c.switch, t)
    assert listed == expected
