# SPDX-License-Identifier: MIT
# Tests driven by shell scripts (tests/scripts/*.sh): what a user of the
# built or installed library sees, rather than what the library does.
#
#   script_install_pkgconfig  cmake --install into a temporary prefix, then
#                             build and run a C program with pkg-config
#   script_install_cmake      the same, through find_package(nmr) / nmr::nmr
#   script_exported_symbols   libnmr.so exports exactly the NMR_API functions
#                             declared in include/netioddk.h and include/nmr/
#   script_header_compile     the headers compile as C11 -pedantic, alone
#                             and next to user-defined Windows types
#   script_header_cxx         the same as C++11; the C++ programs link (C
#                             linkage); skipped without a C++ compiler
#   script_init_exit          R33: the API works from an early constructor,
#                             and exit() with a thread inside libnmr is clean
#   script_snapshot_json      the JSON snapshot test_dump writes validates
#                             against docs/snapshot.schema.json (python3 +
#                             jsonschema), and the schema rejects broken ones
#   script_snapshot_dot       the DOT snapshot renders with dot -Tpng
#   script_usdt_probes        libnmr.so lists the libnmr USDT probes of
#                             nmr_trace(3) (readelf -n); skipped when built
#                             without <sys/sdt.h> (NMR_HAVE_SDT off)
#   script_version            pkg-config --modversion, the CMake package
#                             version, the <nmr/version.h> macros and
#                             nmr_version() of the installed library agree
#   script_readme_example     the first C example of README.md, extracted,
#                             compiles with -Wall -Wextra -Werror against
#                             the installed library (pkg-config) and runs
#
# Plain builds only (they configure and build fresh trees of libnmr with
# its default flags, so a sanitizer build has nothing to add):
#
#   script_werror_default     NMR_WERROR is OFF by default (a warning from a
#                             user's flags does not break the build; ON
#                             does), and every configure of the Makefile
#                             turns it on
#   script_no_cxx             configuring with no usable C++ compiler works,
#                             and the C++ header test says it is skipped
#   script_subdirectory       a project that adds libnmr with
#                             add_subdirectory() links nmr::nmr and
#                             nmr::nmr_static
#   script_sdt_recheck        <sys/sdt.h> appearing between two configures
#                             turns the USDT probes on (no cached result)
#   script_install_notests    the README recipe that installs the library
#                             without the test suite, into a temporary prefix
#   script_make_check_summary the summary that ends make check lists each
#                             layer and each skipped test with its reason
#   script_rule_refs          every rule number cited anywhere in the tree
#                             is a rule of docs/rules.md, and nothing points
#                             outside the repository for the contract
#   script_license_headers    LICENSE is the MIT licence, and every source,
#                             header, script and CMake file says
#                             SPDX-License-Identifier: MIT
#
# A script exits 0 (pass), 77 (skipped: it prints why; ctest reports the
# test as "Skipped", never as passed) or anything else (failure).  Under a
# sanitizer build the programs the scripts compile get the same -fsanitize
# flags, so they load the sanitized libnmr.so correctly.
find_program(NMR_BASH bash)
if(NOT NMR_BASH)
  message(WARNING "bash not found: the script tests are not registered")
else()
  set(NMR_SCRIPT_SAN_FLAGS "")
  if(NMR_SANITIZE STREQUAL "address")
    set(NMR_SCRIPT_SAN_FLAGS "-fsanitize=address,undefined -fno-omit-frame-pointer")
  elseif(NMR_SANITIZE STREQUAL "thread")
    set(NMR_SCRIPT_SAN_FLAGS "-fsanitize=thread")
  endif()

  # C++ only for script_header_cxx, and only when a C++ compiler is there.
  include(${CMAKE_CURRENT_LIST_DIR}/lib/cxx.cmake)
  if(NOT NMR_TEST_CXX)
    message(STATUS "libnmr: ${NMR_NO_CXX_REASON}: the C++ header test will be skipped")
  endif()

  set(NMR_SCRIPT_ENV
    "NMR_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
    "NMR_BUILD_DIR=${PROJECT_BINARY_DIR}"
    "NMR_GENERATED_INCLUDE_DIR=${NMR_GENERATED_INCLUDE_DIR}"
    "NMR_CMAKE=${CMAKE_COMMAND}"
    "NMR_CC=${CMAKE_C_COMPILER}"
    "NMR_CXX=${NMR_TEST_CXX}"
    "NMR_NO_CXX_REASON=${NMR_NO_CXX_REASON}"
    "NMR_VERSION=${PROJECT_VERSION}"
    "NMR_LIBDIR=${CMAKE_INSTALL_LIBDIR}"
    "NMR_LIB_FILE=$<TARGET_FILE:nmr>"
    "NMR_STATIC_LIB_FILE=$<TARGET_FILE:nmr_static>"
    "NMR_SANITIZE=${NMR_SANITIZE}"
    "NMR_SAN_FLAGS=${NMR_SCRIPT_SAN_FLAGS}")

  # snapshot_json, snapshot_dot: test_dump's and test_snapshot's renderings,
  # checked by outside tools; usdt_probes: the probes of the shared library.
  set(NMR_SCRIPT_TESTS install_pkgconfig install_cmake exported_symbols
    header_compile header_cxx init_exit snapshot_json snapshot_dot usdt_probes
    version readme_example install_km)
  if(NMR_SANITIZE STREQUAL "" AND NOT NMR_COVERAGE)
    list(APPEND NMR_SCRIPT_TESTS werror_default no_cxx subdirectory sdt_recheck
      install_notests make_check_summary rule_refs license_headers)
  endif()
  foreach(name ${NMR_SCRIPT_TESTS})
    add_test(NAME script_${name}
      COMMAND ${NMR_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/scripts/${name}.sh)
    set_tests_properties(script_${name} PROPERTIES
      LABELS "regression;script"
      TIMEOUT 300
      SKIP_RETURN_CODE 77
      ENVIRONMENT "${NMR_SCRIPT_ENV};NMR_TEST_DUMP=$<TARGET_FILE:test_dump>;NMR_TEST_SNAPSHOT=$<TARGET_FILE:test_snapshot>;NMR_HAVE_SDT=${NMR_HAVE_SDT}")
  endforeach()
  # init_exit runs threads: ThreadSanitizer runs it too (make check-tsan).
  set_tests_properties(script_init_exit PROPERTIES LABELS "regression;script;threaded")
  # cmake --install writes install_manifest.txt into the build tree: one
  # install at a time.
  set_tests_properties(script_install_pkgconfig script_install_cmake
    script_version script_readme_example script_install_km
    PROPERTIES RESOURCE_LOCK nmr_build_tree_install)
endif()
