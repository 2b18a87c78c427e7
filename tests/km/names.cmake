# SPDX-License-Identifier: MIT
# The kernel-mode layer's names (tests/km/names.c, names.cpp): every name
# of the headers used and checked, in C and in C++ (ctest km_names_c and
# km_names_cxx, labels unit;km).  Included by tests/km/CMakeLists.txt.
# Also two compile checks of the annotations: _Must_inspect_result_ warns
# on an ignored result (km_sal_must_inspect), and an unknown __declspec
# keyword is a compile error naming it (km_declspec_unknown).

get_filename_component(NMR_KM_NAMES_TOP ${CMAKE_CURRENT_LIST_DIR}/../.. ABSOLUTE)
set(NMR_KM_NAMES_INC ${NMR_KM_NAMES_TOP}/include/km)

add_executable(km_names_c ${CMAKE_CURRENT_LIST_DIR}/names.c)
target_link_libraries(km_names_c PRIVATE nmr_km_static)
target_compile_options(km_names_c PRIVATE ${NMR_WARNINGS})
add_test(NAME km_names_c COMMAND km_names_c)
set_tests_properties(km_names_c PROPERTIES LABELS "unit;km" TIMEOUT 60)

# C++: only when a C++ compiler exists (as tests/scripts.cmake checks it);
# otherwise the test is registered as skipped, with the reason.
include(${CMAKE_CURRENT_LIST_DIR}/../lib/cxx.cmake)
set(NMR_KM_CXX_REASON "${NMR_NO_CXX_REASON}")

if(NMR_KM_CXX_REASON STREQUAL "")
  add_executable(km_names_cxx ${CMAKE_CURRENT_LIST_DIR}/names.cpp)
  target_link_libraries(km_names_cxx PRIVATE nmr_km_static)
  # The C++ equivalent of NMR_WARNINGS (its C-only flags left out).
  set(nmr_km_cxx_warnings -Wall -Wextra -Wshadow -Wpointer-arith -Wformat=2)
  if(NMR_WERROR)
    list(APPEND nmr_km_cxx_warnings -Werror)
  endif()
  target_compile_options(km_names_cxx PRIVATE ${nmr_km_cxx_warnings})
  set_target_properties(km_names_cxx PROPERTIES CXX_STANDARD 11 CXX_STANDARD_REQUIRED ON
    CXX_EXTENSIONS OFF)
  add_test(NAME km_names_cxx COMMAND km_names_cxx)
else()
  message(STATUS "libnmr: ${NMR_KM_CXX_REASON}: km_names_cxx will be skipped")
  add_test(NAME km_names_cxx COMMAND ${CMAKE_COMMAND} -E echo
    "SKIPPED: ${NMR_KM_CXX_REASON}: the km headers are not compiled as C++")
  set_tests_properties(km_names_cxx PROPERTIES SKIP_REGULAR_EXPRESSION "SKIPPED:")
endif()
set_tests_properties(km_names_cxx PROPERTIES LABELS "unit;km" TIMEOUT 60)

# Compile checks: the compiler's messages decide (PASS_REGULAR_EXPRESSION).
set(nmr_km_snippets ${CMAKE_CURRENT_BINARY_DIR}/km_snippets)
file(WRITE ${nmr_km_snippets}/must_inspect.c
  "/* SPDX-License-Identifier: MIT */\n#include <sal.h>\n"
  "_Must_inspect_result_ int km_f(void);\n"
  "int km_g(void);\nint km_g(void) { km_f(); return 0; }\n")
file(WRITE ${nmr_km_snippets}/declspec_unknown.c
  "/* SPDX-License-Identifier: MIT */\n#include <ntdef.h>\n"
  "__declspec(frobnicate) int km_x;\n")
# Compiled to an object (-fsyntax-only stops before gcc checks unused
# results).
set(nmr_km_snippet_flags -std=c11 -Wall -Wextra -Werror -c -o ${nmr_km_snippets}/snippet.o
  -I${NMR_KM_NAMES_INC} -I${NMR_KM_NAMES_TOP}/include -I${NMR_GENERATED_INCLUDE_DIR})
add_test(NAME km_sal_must_inspect COMMAND ${CMAKE_C_COMPILER} ${nmr_km_snippet_flags}
  ${nmr_km_snippets}/must_inspect.c)
set_tests_properties(km_sal_must_inspect PROPERTIES LABELS "unit;km" TIMEOUT 60
  PASS_REGULAR_EXPRESSION "unused-result|warn_unused_result|ignoring return value")
add_test(NAME km_declspec_unknown COMMAND ${CMAKE_C_COMPILER} ${nmr_km_snippet_flags}
  ${nmr_km_snippets}/declspec_unknown.c)
set_tests_properties(km_declspec_unknown PROPERTIES LABELS "unit;km" TIMEOUT 60
  PASS_REGULAR_EXPRESSION "error: [^\n]*\n[^\n]*__declspec\\(frobnicate\\)")
