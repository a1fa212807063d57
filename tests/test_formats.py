"""Levels (properties and capabilities), format parsing, names and specs, and every bad format."""

from __future__ import annotations

import itertools

import pytest

from zeroskip import FormatError, as_format
from zeroskip.formats import Format, LevelCapabilities, LevelKind, LevelProperties
from zeroskip.formats.level import (
    COMPRESSED,
    COMPRESSED_NONUNIQUE,
    DENSE,
    SINGLETON,
    SINGLETON_NONUNIQUE,
)

# ---- levels: one row per level, as in TACO's level-format table -----------------------------------
#        level                 char  ordered unique full  branchless  iterate locate append insert  pos    crd
LEVELS = [
    (DENSE,                    "d",  True,   True,  True,  False,      True,   True,  False, True,   False, False),
    (COMPRESSED,               "s",  True,   True,  False, False,      True,   False, True,  False,  True,  True),
    (COMPRESSED_NONUNIQUE,     "n",  True,   False, False, False,      True,   False, True,  False,  True,  True),
    (SINGLETON,                "q",  True,   True,  False, True,       True,   False, True,  False,  False, True),
    (SINGLETON_NONUNIQUE,      "q",  True,   False, False, True,       True,   False, True,  False,  False, True),
]  # fmt: skip


@pytest.mark.parametrize(
    "level, char, ordered, unique, full, branchless, iterate, locate, append, insert, has_pos, has_crd",
    LEVELS,
    ids=[repr(row[0]) for row in LEVELS],
)
def test_level_properties_and_capabilities(
    level, char, ordered, unique, full, branchless, iterate, locate, append, insert, has_pos, has_crd
):
    assert level.properties == LevelProperties(
        ordered=ordered, unique=unique, full=full, branchless=branchless, compact=True
    )
    assert level.capabilities == LevelCapabilities(iterate=iterate, locate=locate, append=append, insert=insert)
    assert (level.full, level.locate, level.branchless) == (full, locate, branchless)
    assert (level.has_pos, level.has_crd) == (has_pos, has_crd)
    assert level.char == char


def test_levels_are_frozen_values():
    assert DENSE == DENSE.__class__(LevelKind.DENSE)
    assert hash(COMPRESSED) == hash(COMPRESSED.__class__(LevelKind.COMPRESSED))
    with pytest.raises(AttributeError):
        DENSE.unique = False  # type: ignore[misc]
    assert repr(COMPRESSED_NONUNIQUE) == "Level(compressed, unique=False)"


# ---- named formats -----------------------------------------------------------------------------
#          spec     ndim  mode_order  expected spec  name
NAMED = [
    ("dense",   0,    None,       "",           "dense"),
    ("coo",     0,    None,       "",           "dense"),
    ("dense",   1,    None,       "d",          "dense"),
    ("sparse",  1,    None,       "s",          "sparse"),
    ("sparse",  None, None,       "s",          "sparse"),
    ("coo",     1,    None,       "s",          "sparse"),
    ("csf",     1,    None,       "s",          "sparse"),
    ("dense",   2,    None,       "dd",         "dense"),
    ("csr",     None, None,       "ds",         "csr"),
    ("csr",     2,    None,       "ds",         "csr"),
    ("CSR",     2,    None,       "ds",         "csr"),
    ("csc",     None, None,       "ds[1,0]",    "csc"),
    ("dcsr",    2,    None,       "ss",         "dcsr"),
    ("dcsc",    2,    None,       "ss[1,0]",    "dcsc"),
    ("coo",     2,    None,       "nq",         "coo"),
    ("coo",     2,    (1, 0),     "nq[1,0]",    "nq[1,0]"),
    ("csf",     2,    None,       "ss",         "dcsr"),
    ("dense",   3,    None,       "ddd",        "dense"),
    ("dense",   3,    (2, 0, 1),  "ddd[2,0,1]", "ddd[2,0,1]"),
    ("coo",     3,    None,       "nqq",        "coo"),
    ("csf",     3,    None,       "sss",        "csf"),
    ("csf",     3,    (2, 0, 1),  "sss[2,0,1]", "csf[2,0,1]"),
    ("csf[1,2,0]", 3, None,       "sss[1,2,0]", "csf[1,2,0]"),
    ("dense",   4,    None,       "dddd",       "dense"),
    ("coo",     4,    None,       "nqqq",       "coo"),
    ("csf",     4,    (3, 2, 1, 0), "ssss[3,2,1,0]", "csf[3,2,1,0]"),
]  # fmt: skip


@pytest.mark.parametrize("spec, ndim, mode_order, want_spec, want_name", NAMED,
                         ids=[f"{r[0]}-ndim{r[1]}-{r[2]}" for r in NAMED])
def test_named_formats(spec, ndim, mode_order, want_spec, want_name):
    fmt = as_format(spec, ndim=ndim, mode_order=mode_order)
    assert fmt.spec == want_spec
    assert fmt.name == want_name
    assert str(fmt) == want_name
    assert repr(fmt) == f"Format({want_spec!r})"
    assert as_format(fmt.spec, ndim=fmt.ndim) == fmt
    assert as_format(fmt.name, ndim=fmt.ndim) == fmt


# ---- format strings of orders 1-4 with every mode order ------------------------------------------
def _level_strings(ndim: int) -> list[str]:
    """Every d/s string of this order, plus COO blocks ('nq..') after a d/s prefix."""
    out = ["".join(p) for p in itertools.product("ds", repeat=ndim)]
    for prefix_len in range(ndim - 1):
        for prefix in itertools.product("ds", repeat=prefix_len):
            out.append("".join(prefix) + "n" + "q" * (ndim - prefix_len - 1))
    return out


FORMAT_STRINGS = [
    (letters, order)
    for ndim in (1, 2, 3, 4)
    for letters in _level_strings(ndim)
    for order in itertools.permutations(range(ndim))
    # order 4 alone has 24 * 22 combinations: keep every letter string with 4 mode orders each
    if ndim < 4 or order in {(0, 1, 2, 3), (3, 2, 1, 0), (1, 3, 0, 2), (2, 0, 3, 1)}
]


@pytest.mark.parametrize("letters, order", FORMAT_STRINGS, ids=[f"{a}{list(b)}" for a, b in FORMAT_STRINGS])
def test_format_strings_parse_and_round_trip(letters, order):
    ndim = len(letters)
    bracket = f"{letters}[{','.join(map(str, order))}]"
    fmt = as_format(bracket)
    assert fmt.ndim == ndim
    assert fmt.mode_order == order
    assert "".join(level.char for level in fmt.levels) == letters
    assert as_format(letters, mode_order=order) == fmt
    assert as_format(bracket, ndim=ndim, mode_order=order) == fmt
    assert as_format(fmt) is fmt
    assert as_format(fmt.spec) == fmt
    assert as_format(fmt.name, ndim=ndim) == fmt
    assert as_format(f"  {letters.upper()} [ {' , '.join(map(str, order))} ] ") == fmt
    assert Format(fmt.levels, fmt.mode_order) == fmt and hash(Format(fmt.levels, fmt.mode_order)) == hash(fmt)
    assert fmt.storage_shape(tuple(range(10, 10 + ndim))) == tuple(10 + m for m in order)
    assert fmt.is_dense == (set(letters) == {"d"})
    # the singleton level below a non-unique one is unique only when it is the last of its block
    for depth, level in enumerate(fmt.levels):
        if level.branchless:
            assert level.unique == (depth + 1 == ndim or not fmt.levels[depth + 1].branchless)


def test_c_is_an_alias_of_s_and_identity_order_is_omitted():
    assert as_format("dc") == as_format("ds") == as_format("ds[0,1]")
    assert as_format("dc").spec == "ds"
    assert as_format("ds[0,1]").spec == "ds"


def test_as_format_of_a_format_with_a_new_mode_order():
    assert as_format(as_format("csr"), mode_order=(1, 0)) == as_format("csc")
    assert as_format("csr", mode_order=(0, 1)) == as_format("csr")


# ---- every bad format ------------------------------------------------------------------------
#            spec           ndim  mode_order  text the message must contain
BAD = [
    ("dx",          None, None,       "unknown level 'x' at position 1 of format 'dx'"),
    ("zzz",         None, None,       "unknown level 'z'"),
    ("d s",         None, None,       "cannot parse format 'd s'"),
    ("ds[a,b]",     None, None,       "cannot parse format 'ds[a,b]'"),
    ("ds[1,0",      None, None,       "cannot parse format 'ds[1,0'"),
    ("ds[-1,0]",    None, None,       "cannot parse format 'ds[-1,0]'"),
    ("",            None, None,       "empty format ''"),
    ("",            2,    None,       "empty format ''"),
    ("q",           None, None,       "singleton level 0 must follow a non-unique level"),
    ("sq",          None, None,       "got 'sq'"),
    ("dq",          None, None,       "got 'dq'"),
    ("nqsq",        None, None,       "got 'nqsq'"),
    ("n",           None, None,       "non-unique level 0 must be followed by a singleton level, got 'n'"),
    ("sn",          None, None,       "non-unique level 1 must be followed by a singleton level, got 'sn'"),
    ("nd",          None, None,       "got 'nd'"),
    ("ds[0]",       None, None,       "2 levels but a mode order of 1: (0,)"),
    ("ds[0,1,2]",   None, None,       "2 levels but a mode order of 3: (0, 1, 2)"),
    ("ds",          None, (0, 1, 2),  "2 levels but a mode order of 3"),
    ("ds[0,0]",     None, None,       "mode order (0, 0) is not a permutation of 0..1"),
    ("sss[0,1,3]",  None, None,       "mode order (0, 1, 3) is not a permutation of 0..2"),
    ("ds[1,0]",     None, (0, 1),     "format 'ds[1,0]' gives mode order (1, 0) but mode_order=(0, 1)"),
    ("csr",         3,    None,       "format 'csr' is for matrices, not for a tensor of order 3"),
    ("csc",         1,    None,       "format 'csc' is for matrices, not for a tensor of order 1"),
    ("dcsr",        4,    None,       "format 'dcsr' is for matrices"),
    ("csr",         2,    (1, 0),     "format 'csr' has mode order (0, 1), not (1, 0)"),
    ("csc[0,1]",    None, None,       "format 'csc' has mode order (1, 0), not (0, 1)"),
    ("csf",         None, None,       "format 'csf' needs the tensor order: pass ndim="),
    ("coo",         None, None,       "format 'coo' needs the tensor order"),
    ("dense",       None, None,       "format 'dense' needs the tensor order"),
    ("dss",         2,    None,       "format 'dss' has 3 levels but the tensor has order 2"),
    ("ds",          3,    None,       "format 'ds' has 2 levels but the tensor has order 3"),
    ("d",           0,    None,       "format 'd' has 1 levels but the tensor has order 0"),
    ("csf",         3,    (0, 1),     "3 levels but a mode order of 2"),
    ("coo",         3,    (0, 0, 1),  "not a permutation"),
    (3,             None, None,       "a format is a string or a Format, got int: 3"),
    (None,          2,    None,       "a format is a string or a Format, got NoneType"),
]  # fmt: skip


@pytest.mark.parametrize("spec, ndim, mode_order, text", BAD,
                         ids=[f"{r[0]!r}-ndim{r[1]}-{r[2]}" for r in BAD])
def test_bad_formats_raise_format_error_naming_the_bad_text(spec, ndim, mode_order, text):
    with pytest.raises(FormatError) as info:
        as_format(spec, ndim=ndim, mode_order=mode_order)
    assert text in str(info.value)
    assert isinstance(info.value, ValueError)  # FormatError refines ValueError


def test_direct_format_construction_is_checked():
    with pytest.raises(FormatError, match=r"singleton level 1 must follow a non-unique level"):
        Format((COMPRESSED, SINGLETON), (0, 1))
    with pytest.raises(FormatError, match=r"not a permutation of 0..1"):
        Format((DENSE, COMPRESSED), (1, 1))
    with pytest.raises(FormatError, match=r"format 'ds' has 2 levels but the tensor has order 3"):
        as_format(Format((DENSE, COMPRESSED), (0, 1)), ndim=3)
