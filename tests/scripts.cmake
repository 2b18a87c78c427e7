# Tests driven by shell scripts (tests/scripts/*.sh): what a user of the
# built or installed library sees, rather than what the library does.
#
#   script_install_pkgconfig  cmake --install into a temporary prefix, then
#                             build and run a C program with pkg-config
#   script_install_cmake      the same, through find_package(nmr) / nmr::nmr
#   script_exported_symbols   libnmr.so exports exactly the NMR_API functions
#                             declared in include/netioddk.h and include/nmr/
#   script_header_compile     the headers compile as C11 -pedantic and as
#                             C++11, alone and next to user-defined Windows
#                             types; the C++ program links (C linkage)
#   script_init_exit          R33: the API works from an early constructor,
#                             and exit() with a thread inside libnmr is clean
#   script_snapshot_json      the JSON snapshot test_dump writes validates
#                             against docs/snapshot.schema.json (python3 +
#                             jsonschema), and the schema rejects broken ones
#   script_snapshot_dot       the DOT snapshot renders with dot -Tpng
#   script_usdt_probes        libnmr.so lists the libnmr USDT probes of
#                             nmr_trace(3) (readelf -n); skipped when built
#                             without <sys/sdt.h> (NMR_HAVE_SDT off)
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

  set(NMR_SCRIPT_ENV
    "NMR_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
    "NMR_BUILD_DIR=${PROJECT_BINARY_DIR}"
    "NMR_CMAKE=${CMAKE_COMMAND}"
    "NMR_CC=${CMAKE_C_COMPILER}"
    "NMR_CXX=${CMAKE_CXX_COMPILER}"
    "NMR_VERSION=${PROJECT_VERSION}"
    "NMR_LIBDIR=${CMAKE_INSTALL_LIBDIR}"
    "NMR_LIB_FILE=$<TARGET_FILE:nmr>"
    "NMR_STATIC_LIB_FILE=$<TARGET_FILE:nmr_static>"
    "NMR_SANITIZE=${NMR_SANITIZE}"
    "NMR_SAN_FLAGS=${NMR_SCRIPT_SAN_FLAGS}")

  # snapshot_json, snapshot_dot: test_dump's and test_snapshot's renderings,
  # checked by outside tools; usdt_probes: the probes of the shared library.
  foreach(name install_pkgconfig install_cmake exported_symbols header_compile
               init_exit snapshot_json snapshot_dot usdt_probes)
    add_test(NAME script_${name}
      COMMAND ${NMR_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/scripts/${name}.sh)
    set_tests_properties(script_${name} PROPERTIES
      LABELS script
      TIMEOUT 300
      SKIP_RETURN_CODE 77
      ENVIRONMENT "${NMR_SCRIPT_ENV};NMR_TEST_DUMP=$<TARGET_FILE:test_dump>;NMR_TEST_SNAPSHOT=$<TARGET_FILE:test_snapshot>;NMR_HAVE_SDT=${NMR_HAVE_SDT}")
  endforeach()
  # init_exit runs threads: ThreadSanitizer runs it too (make check-tsan).
  set_tests_properties(script_init_exit PROPERTIES LABELS "script;threaded")
  # cmake --install writes install_manifest.txt into the build tree: one
  # install at a time.
  set_tests_properties(script_install_pkgconfig script_install_cmake
    PROPERTIES RESOURCE_LOCK nmr_build_tree_install)
endif()
