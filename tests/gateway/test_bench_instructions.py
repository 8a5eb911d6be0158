"""bench/instructions.py's arithmetic: callgrind_annotate's table read back, and the
cost of one request as the difference of two runs over the requests it added."""

from __future__ import annotations

from types import ModuleType

import pytest
from harness.scripts import load_script

# callgrind_annotate --inclusive=no, as valgrind 3.x prints it (names shortened)
SMALL = """\
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
3,700,000,000 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                      file:function
--------------------------------------------------------------------------------
100,000,000 ( 2.70%)  ???:_core::tokens::bpe::rank [/r/provocapi/_core.abi3.so]
 50,000,000 ( 1.35%)  ???:json_encode_str [/v/msgspec/_core.cpython-311-x86_64-linux-gnu.so]
  1,000,000 ( 0.03%)  python-build.1/Python-3.11.7/Objects/stringlib/fastsearch.h:_Py_bytes_count
"""
LARGE = SMALL.replace("100,000,000", "113,000,000").replace("  1,000,000", " 14,000,000")


@pytest.fixture(scope="module")
def ins() -> ModuleType:
    return load_script("bench/instructions.py", "bench_instructions")


def test_the_table_is_read_by_function_without_the_totals(ins: ModuleType) -> None:
    t = ins.parse_annotate(SMALL)
    assert len(t) == 3 and sum(t.values()) == 151_000_000
    assert not any("TOTALS" in k for k in t)


def test_one_request_is_the_difference_over_the_added_requests(ins: ModuleType) -> None:
    # 200 counted + 200 warm-up against 1,200 + 500: 1,300 requests added
    extra = ins.served(1200) - ins.served(200)
    assert extra == 1300
    per = ins.per_request(ins.parse_annotate(SMALL), ins.parse_annotate(LARGE), extra)
    by_name = {ins.short(k): v for k, v in per.items()}
    assert by_name == {
        "_core::tokens::bpe::rank": 10_000.0,
        "json_encode_str": 0.0,
        "_Py_bytes_count": 10_000.0,
    }


def test_objects_tell_the_two_cores_apart(ins: ModuleType) -> None:
    names = {ins.object_of(k) for k in ins.parse_annotate(SMALL)}
    assert names == {"provocapi/_core.so", "msgspec/_core.so", "libpython (inlined)"}
