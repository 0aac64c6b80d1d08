"""The one redaction (stackctl.redaction): every secret, raw and in each URL encoding, longest first."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import quote, quote_plus

from tests.conftest import REPO

from stackctl.redaction import MASK, Redactor, forms

# '@', '/', ':', '+', ' ' and '%' are what URL encoding changes, each in its own way
SECRET = "p@ss/w:rd+1 %"
ENCODED = [quote(SECRET, safe=""), quote(SECRET), quote_plus(SECRET)]


def test_forms_are_the_raw_value_and_its_three_url_encodings():
    assert forms(SECRET) == {SECRET, "p%40ss%2Fw%3Ard%2B1%20%25", "p%40ss/w%3Ard%2B1%20%25", "p%40ss%2Fw%3Ard%2B1+%25"}
    assert len(set(ENCODED)) == 3  # the secret was chosen so that each encoding differs


def test_every_form_is_masked_in_text():
    redact = Redactor([SECRET])
    text = f"raw {SECRET} | postgresql://app:{ENCODED[0]}@db/x | https://db/{ENCODED[1]} | ?pw={ENCODED[2]}"
    assert redact(text) == "raw *** | postgresql://app:***@db/x | https://db/*** | ?pw=***"


def test_a_secret_inside_another_is_not_left_half_visible():
    redact = Redactor(["tok", "tok-9f8e7d", "9f8e"])
    assert redact("a tok-9f8e7d b tok c 9f8e") == "a *** b *** c ***"


def test_json_like_data_is_masked_throughout_and_other_values_are_kept():
    redact = Redactor([SECRET, "", None])
    data = {"lines": [f"x {SECRET}", ENCODED[2]], "nested": {"url": f"s3://k:{ENCODED[0]}@h"}, "port": 5, "ok": None,
            SECRET: "key"}
    assert redact(data) == {"lines": ["x ***", "***"], "nested": {"url": "s3://k:***@h"}, "port": 5, "ok": None,
                            MASK: "key"}


def test_no_secrets_changes_nothing():
    assert Redactor()("p@ss ***") == "p@ss ***" and Redactor([""])({"a": "b"}) == {"a": "b"}


def test_errors_and_redaction_need_only_the_standard_library_and_the_runtime_no_cli_stack():
    """The runtime ships to hosts with python3 and stackctl's runtime only: no pydantic, typer, rich, jinja2."""
    only_stdlib = ("import sys; sys.path.insert(0, sys.argv[1]); import stackctl.errors, stackctl.redaction; "
                   "from stackctl.errors import RuntimeFailure, StackctlError")
    # -S: no site-packages at all
    done = subprocess.run([sys.executable, "-S", "-c", only_stdlib, str(REPO / "cli")], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    runtime = ("import sys, stackctl.runtime, stackctl.runtime.__main__; "
               "heavy = [m for m in ('pydantic', 'typer', 'rich', 'jinja2', 'yaml') if m in sys.modules]; "
               "assert not heavy, heavy")
    done = subprocess.run([sys.executable, "-c", runtime], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
