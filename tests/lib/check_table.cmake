# SPDX-License-Identifier: MIT
# cmake -DPROG=<test program> -DEXPECTED=<file> -P check_table.cmake: the
# cases the program lists (--list) are exactly those tests/CMakeLists.txt
# registered from its CASE(...) lines (a CASE the configure-time regex
# missed would otherwise never run).
execute_process(COMMAND ${PROG} --list OUTPUT_VARIABLE got RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${PROG} --list failed: ${rc}")
endif()
file(READ ${EXPECTED} want)
if(NOT got STREQUAL want)
  message(FATAL_ERROR "${PROG}: the case table differs from the registered cases\n"
    "program (--list):\n${got}\nregistered (CASE lines):\n${want}\n"
    "keep one CASE(name, \"rules\") a line (tests/lib/runner.h)")
endif()
message(STATUS "${PROG}: case table matches")
