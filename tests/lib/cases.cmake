# SPDX-License-Identifier: MIT
# nmr_add_case_tests(NAME SRC TIMEOUT LABEL...): register the case table of
# the test program NAME (built from SRC, tests/lib/runner.h) with ctest.
#
# Every line CASE(case, "rules") of SRC is its own ctest entry, NAME.case,
# or NAME.case-R1-R2 when it names rules; it carries the LABELs and, when
# it names rules, "rule" and each rule.  NAME.table checks the program's
# own table (--list) against what was registered (labels: unit, table
# and the LABELs other than the kinds unit, stress, threaded, regression).  The source is a
# configure dependency, so a new case is registered without a manual step.
# The global property NMR_TEST_CASE_COUNT counts the cases registered.
function(nmr_add_case_tests name src timeout)
  set(kind_labels ${ARGN})
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${src})
  file(STRINGS ${src} case_lines
       REGEX "^[ \t]*CASE\\([A-Za-z_][A-Za-z0-9_]*, *\"[^\"]*\"\\)")
  if(NOT case_lines)
    message(FATAL_ERROR "${src}: no CASE(name, \"rules\") line (tests/lib/runner.h)")
  endif()
  set(expected "")
  get_property(count GLOBAL PROPERTY NMR_TEST_CASE_COUNT)
  if(NOT count)
    set(count 0)
  endif()
  foreach(line ${case_lines})
    string(REGEX MATCH "CASE\\(([A-Za-z_][A-Za-z0-9_]*), *\"([^\"]*)\"\\)" m "${line}")
    set(case ${CMAKE_MATCH_1})
    set(rules "${CMAKE_MATCH_2}")
    string(STRIP "${rules}" rules)
    set(labels ${kind_labels})
    set(tname ${name}.${case})
    if(NOT rules STREQUAL "")
      string(REGEX REPLACE "[ \t]+" ";" rule_list "${rules}")
      list(APPEND labels rule ${rule_list})
      string(REPLACE ";" "-" rule_tag "${rule_list}")
      set(tname "${tname}-${rule_tag}")
    endif()
    add_test(NAME ${tname} COMMAND ${name} ${case})
    set_tests_properties(${tname} PROPERTIES LABELS "${labels}" TIMEOUT ${timeout}
      ENVIRONMENT "NMR_STRICT=0")
    string(APPEND expected "${case}\t${rules}\n")
    math(EXPR count "${count} + 1")
  endforeach()
  set_property(GLOBAL PROPERTY NMR_TEST_CASE_COUNT ${count})
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/${name}.cases "${expected}")
  # The table check is a unit test in every program, with the program's
  # area labels (km), not its kind (stress, threaded, regression).
  set(table_labels ${kind_labels})
  list(REMOVE_ITEM table_labels unit stress threaded regression)
  list(PREPEND table_labels unit)
  add_test(NAME ${name}.table
    COMMAND ${CMAKE_COMMAND} -DPROG=$<TARGET_FILE:${name}>
            -DEXPECTED=${CMAKE_CURRENT_BINARY_DIR}/${name}.cases
            -P ${PROJECT_SOURCE_DIR}/tests/lib/check_table.cmake)
  set_tests_properties(${name}.table PROPERTIES LABELS "${table_labels};table" TIMEOUT 60)
endfunction()
