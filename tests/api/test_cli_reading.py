"""A file read wrongly says so: unknown --map keys, --field headers not in the file, no name column; a file
after --map; -q is quiet, -v says one line per training step; `dedupe --help` shows only what dedupe uses."""

import subprocess
import sys

import pytest

from tests.api.conftest import cli, write_csv

pytestmark = pytest.mark.usefixtures("cli_env")

# Sites with a site name, an address and 7-digit local phones (a US organisations file)
SITES = [
    ["Id", "Site name", "Address", "Phone"],
    ["1", "Bethel New Life - Lake and Pulaski", "316 N Pulaski Rd", "265-3830"],
    ["2", "Bethel New Life Lake & Pulaski", "316 North Pulaski Road", "2653830"],
    ["3", "Golden Gate Day Care Center", "432 E. 134th Street", "928-7085"],
    ["4", "Golden Gate Daycare Center", "432 East 134th St.", "9287085"],
    ["5", "Cole CPC", "412 S. Keeler", "534-6857"],
    ["6", "Ellington", "224 N. Central", "534-6361"],
]



@pytest.fixture
def sites_csv(tmp_path):
    return write_csv(tmp_path / "sites.csv", SITES)


def test_an_unknown_map_key_lists_the_valid_ones(capsys, sites_csv):
    code, out, err = cli(capsys, "dedupe", sites_csv, "--entity", "company", "--map", "nmae=Site name")
    assert (code, out) == (2, "")
    assert err.startswith("crm-dedup: error: field --map: unknown key 'nmae'; valid keys: id, name, first_name,")


def test_a_map_key_an_extra_field_names_is_valid(capsys, sites_csv):
    code, _, err = cli(capsys, "dedupe", sites_csv, "--entity", "company", "--map", "name=Site name",
                       "addr=Address", "--field", "addr:address")
    assert code == 0, err


def test_a_field_header_not_in_the_file_lists_the_headers(capsys, sites_csv):
    code, out, err = cli(capsys, "dedupe", sites_csv, "--entity", "company", "--map", "name=Site name",
                         "--field", "Adress=address")
    assert (code, out) == (2, "")
    assert err == ("crm-dedup: error: sites.csv, line 1: no column 'Adress' for the extra field 'adress'; "
                   "headers found: 'Id', 'Site name', 'Address', 'Phone'\n")


def test_no_name_column_is_an_error_not_an_empty_run(capsys, sites_csv):
    code, out, err = cli(capsys, "dedupe", sites_csv, "--entity", "company")
    assert (code, out) == (2, "")
    assert err == ("crm-dedup: error: sites.csv, line 1: no column is read as the company's name among the "
                   "headers 'Id', 'Site name', 'Address', 'Phone'; say which one, e.g. --map name=\"Site name\"\n")


def test_a_file_after_map_is_the_file(capsys, sites_csv):
    code, out, err = cli(capsys, "dedupe", "--entity", "company", "--field", "Address=address", "--region", "US",
                         "--map", "name=Site name", sites_csv)
    assert code == 0, err
    assert out.startswith("group_id,record_id") and err.startswith("companies: 6 records")


def test_a_missing_file_is_still_required(capsys):
    code, _, err = cli(capsys, "dedupe", "--entity", "company", "--map", "name=Site name")
    assert code == 2 and "required: file" in err


def test_help_of_dedupe_shows_only_its_options(capsys):
    code, out, _ = cli(capsys, "dedupe", "--help")
    assert code == 0
    assert "--db" not in out and "--region" in out and "address" in out


def run(*argv):
    return subprocess.run([sys.executable, "-m", "api.cli", *map(str, argv)], capture_output=True, text=True,
                          timeout=600)


def test_quiet_leaves_only_errors_and_the_summary_on_stderr(sites_csv, tmp_path):
    # training on a file without INNs skips a training session: a warning without -q, nothing with it
    args = ["dedupe", sites_csv, "--entity", "company", "--map", "name=Site name", "--field", "Address=address",
            "--region", "US", "--out", tmp_path / "g.csv"]
    quiet = run(*args, "-q")
    assert quiet.returncode == 0, quiet.stderr
    assert [line for line in quiet.stderr.splitlines() if not line.startswith("companies: ")] == []
    verbose = run(*args, "-v")
    assert verbose.returncode == 0, verbose.stderr
    steps = [line for line in verbose.stderr.splitlines() if "training step" in line]
    assert steps and all(" object at 0x" not in line for line in verbose.stderr.splitlines())
    assert len(steps) == int(steps[0].split("/")[1].split(":")[0])  # one line per step
