"""The contract's regex check: the whole-chunk pass must agree with RE2 run on every value, row for row."""

import random

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from lakehouse.regex_check import _all_match, _whole_chunk_form, mismatches

IP = r"^[0-9a-fA-F.:]+$"
APACHE_TIME = r"^\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}$"
WORKSHOP_TIME = r"^\d{1,2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}$"  # the day of month with or without its zero
EMAIL = r"^[^@\s]+@[^@\s]+$"


def per_value(values, pattern: str) -> list[bool]:
    """The reference: RE2 on each value (search semantics); a null is never a mismatch."""
    return [bool(v) for v in pc.fill_null(pc.invert(pc.match_substring_regex(values, pattern)), False).to_pylist()]


def checked(values, pattern: str) -> list[bool]:
    found = mismatches(values, pattern)
    if found is None:
        return [False] * len(values)
    return [bool(v) for v in pc.fill_null(found, False).to_pylist()]


@pytest.mark.parametrize(
    ("pattern", "shape"),
    [
        (IP, (1, None)),
        (APACHE_TIME, (20, 20)),
        (r"^[A-Z]{2,3}$", (2, 3)),
        (r"^(ab|cd)$", (2, 2)),
        (r"^(?:[a-z]|\d)+$", (1, None)),
        (r"^$", (0, 0)),
    ],
)
def test_patterns_with_a_whole_chunk_form(pattern, shape):
    form = _whole_chunk_form(pattern)
    assert form is not None and form.pattern == f"^(?:{pattern[1:-1]})*$"
    assert (form.shortest, form.longest if shape[1] is not None else None) == shape


@pytest.mark.parametrize(
    ("pattern", "separator"),
    [
        (WORKSHOP_TIME, "\n"),
        (EMAIL, "\n"),  # [^@\s] never matches a line end
        (r"^(a|bc)$", "\n"),  # variable width: "ab"+"c" = "a"+"bc" end to end, but not across a separator
        (r"^(?:a|bc)+$", "\n"),
        (r"^\w+@\w+$", "\n"),
        (r"^.{1,3}x$", "\n"),  # RE2's . stops at a line end
        (r"^[^\n]{1,3}(a|bc)$", "\x00"),  # [^\n] matches NUL: the next candidate...
    ],
)
def test_variable_width_patterns_are_checked_joined_by_a_separator(pattern, separator):
    """Issue 13, finding 2: the workshop's unpadded day of month (\\d{1,2}) keeps a whole-step check."""
    form = _whole_chunk_form(pattern)
    if separator == "\x00":  # ... and every other candidate too: no separator is left, value by value
        assert form is None
        return
    assert form is not None and form.separator == separator
    body = pattern[1:-1]
    assert form.pattern == f"^(?:(?:{body})\\n)*$"


def test_unpadded_web_log_days_pass_the_whole_step_check():
    """Issue 13, finding 2: the workshop writes 6/Jan/2018:06:51:54; one RE2 pass accepts a step of them."""
    values = pa.array(["6/Jan/2018:06:51:54", "17/Jan/2018:10:43:54", None, "06/Jan/2018:06:51:54"] * 1000)
    assert _all_match(values, _whole_chunk_form(WORKSHOP_TIME))
    assert mismatches(values, WORKSHOP_TIME) is None


@pytest.mark.parametrize(
    ("pattern", "ascii"),
    [
        (IP, True),
        (APACHE_TIME, True),
        (r"^(?:[a-z]|\d)+$", True),
        (r"^\s{2}$", True),  # RE2's \d \w \s are ASCII
        (r"^..$", False),  # . matches any character
        (r"^[^:]+$", False),  # so does a negated class
        (r"^\D+$", False),
        (r"^[\W]+$", False),
        (r"^[é]+$", False),
        (r"^(ab|c.)$", False),
    ],
)
def test_lengths_are_counted_in_bytes_only_for_ascii_patterns(pattern, ascii):
    assert _whole_chunk_form(pattern).ascii is ascii


@pytest.mark.parametrize(
    "pattern",
    [
        r"[0-9]+",  # not anchored: a search
        r"^a|b$",  # (^a)|(b$), not ^(a|b)$
        r"^(?:.|\s)+x$",  # variable width, and every candidate separator can be matched
        r"^[[:alpha:]]+$",  # POSIX class: Python reads it differently from RE2
        r"^a{,3}$",  # RE2 reads {,3} as text
        r"^(?i)ab$",
        r"^x\$",
        r"^(a)\1$",
        r"^\bword$",
    ],
)
def test_patterns_checked_value_by_value(pattern):
    assert _whole_chunk_form(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "values"),
    [
        (r"^..$", ["é", "é"]),  # two 1-character values would make one 2-character match end to end
        (r"^[a-c]{2}$", ["ab", "c", "a"]),
        (r"^[a-c]{2}$", ["ab", "é"]),  # "é" is 2 bytes: right byte length, not ASCII, so no match
        (r"^[a-c]{1,2}$", ["abc", "a"]),
        (r"^(ab|cd)$", ["ab", "ac"]),
        (IP, ["10.0.0.1", "", "fe80::1"]),  # an empty value breaks "+"
        (IP, ["10.0.0.1", "10.0.0.1\n"]),  # RE2's $ is the end of the text
        (APACHE_TIME, ["12/Jan/2018:04:15:16", "12/Jan/2018:04:15:1", "612/Jan/2018:04:15:16"]),
        (APACHE_TIME, ["12/Jan/2018:04:15:16", "12/jan/2018:04:15:16"]),
        (WORKSHOP_TIME, ["6/Jan/2018:06:51:54", "617/Jan/2018:06:51:54", "/Jan/2018:06:51:54"]),
        (WORKSHOP_TIME, ["6/Jan/2018:06:51:54\n6/Jan/2018:06:51:54", "7/Jan/2018:06:51:54"]),  # holds the separator
        (EMAIL, ["a@b", "a@b\nc@d", "x"]),
        (r"^(a|bc)$", ["a", "bc", "abc"]),
        (r"^(a|bc)$", ["a", "", "bc"]),
        (r"^.{3}$", ["aéb", "abcd", None, "abc"]),
    ],
)
def test_bad_values_are_found_row_for_row(pattern, values):
    array = pa.array(values, pa.string())
    assert checked(array, pattern) == per_value(array, pattern)
    assert any(checked(array, pattern))


def test_a_null_slot_holding_bytes_does_not_hide_a_mismatch():
    # Arrow lets a null slot cover bytes: here "c" and "b", which laid end to end with the values would turn
    # "ab", "da" into "ab|cd|ab" and hide the bad "da"
    offsets = pa.array([0, 2, 3, 5, 6], pa.int32()).buffers()[1]
    validity = pa.array([True, False, True, False]).buffers()[1]
    array = pa.Array.from_buffers(pa.string(), 4, [validity, offsets, pa.py_buffer(b"abcdab")], null_count=2)
    assert array.to_pylist() == ["ab", None, "da", None]
    assert checked(array, r"^(ab|cd)$") == [False, False, True, False]
    assert mismatches(array, r"^[a-d]+$") is None


def test_chunked_sliced_and_large_string_columns():
    chunks = [pa.array(["10.0.0.1", None, "10.0.0.2"]).slice(1), pa.array(["::1", "10.0.0.x"])]
    column = pa.chunked_array(chunks)
    assert checked(column, IP) == [False, False, False, True]
    assert mismatches(pa.chunked_array([chunks[0]]), IP) is None
    large = pa.array(["1.2.3.4", "g"], pa.large_string())
    assert checked(large, IP) == [False, True]
    assert mismatches(pa.array([None, None], pa.string()), IP) is None


VALID = {
    IP: ["10.0.0.1", "fe80::1", "a", "..", "1"],
    APACHE_TIME: ["12/Jan/2018:04:15:16", "01/Dec/1999:23:59:59"],
    r"^[a-c]{2}$": ["ab", "ca", "bb"],
    r"^[a-c]{1,3}$": ["a", "bc", "abc"],
    r"^(ab|c.)$": ["ab", "cé", "c:", "cc"],
    r"^[^:]*$": ["", "é", "a b", "a\nb"],
    r"^...$": ["abc", "é:é", "   "],
    WORKSHOP_TIME: ["6/Jan/2018:06:51:54", "17/Feb/2018:10:43:54", "06/Jan/2018:00:00:00"],
    EMAIL: ["a@b", "Santosh.Clayton@test.com", "é@é"],
    r"^(a|bc)$": ["a", "bc"],
}


def test_random_columns_agree_with_re2_on_every_value():
    rng = random.Random(20261122)
    alphabet = ["a", "b", "c", "A", "Z", "0", "7", ".", ":", "/", "é", "\n", " "]
    whole_chunk_passes = 0
    for _ in range(600):
        pattern = rng.choice(list(VALID))
        values = []
        for _ in range(rng.randint(0, 12)):
            draw = rng.random()
            if draw < 0.1:
                values.append(None)
            elif draw < 0.97:
                values.append(rng.choice(VALID[pattern]))
            else:
                values.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4))))
        array = pa.array(values, pa.string())
        assert checked(array, pattern) == per_value(array, pattern), (pattern, values)
        whole_chunk_passes += array.null_count < len(array) and _all_match(array, _whole_chunk_form(pattern))
    assert whole_chunk_passes > 100  # the fast path was exercised, not only the fallback


@pytest.mark.parametrize(
    "pattern",
    [IP, r"^[A-Z]{2,3}$", r"^\d+$", r"^\s+$", r"^\w*$", r"^(?:[a-z]|\d)+$", r"^[-+.]{1,4}$", r"^a$", r"^[\]\\^]+$"],
)
def test_one_repeated_character_is_checked_by_its_bytes(pattern):
    """A pattern that is one ASCII character (class), repeated, is checked by the bytes it may be
    (bytes.translate), which must be exactly the characters RE2 matches."""
    form = _whole_chunk_form(pattern)
    assert form is not None and form.alphabet is not None
    one = pattern[1:-1].rstrip("+*") if pattern[-2] in "+*" else pattern[1:-1].split("{")[0]
    assert [chr(c) for c in form.alphabet] == [chr(c) for c in range(0x80) if re2_matches(f"^(?:{one})$", chr(c))]
    values = pa.array([chr(c) * form.shortest or chr(c) for c in range(0x100)] + [None], pa.string())
    assert checked(values, pattern) == per_value(values, pattern)


def re2_matches(pattern: str, text: str) -> bool:
    return bool(pc.match_substring_regex(pa.array([text]), pattern)[0].as_py())


@pytest.mark.parametrize("pattern", [APACHE_TIME, WORKSHOP_TIME, r"^(ab|cd)$", r"^[^:]+$", r"^.+$", r"^[é]+$"])
def test_other_shapes_have_no_alphabet(pattern):
    form = _whole_chunk_form(pattern)
    assert form is not None and form.alphabet is None
