# SPDX-License-Identifier: MIT
# nmr_add_loadable(TARGET OUTPUT LINK SOURCE...): a shared object nmrhost
# loads (a module or a driver), named OUTPUT.so with no "lib" prefix in
# the build's modules/ directory, so that `load OUTPUT` finds it; linked
# with LINK (nmr for a module, nmr_km for a driver), only its entry points
# visible.  Used by examples/modules, examples/drivers and tests/host.
function(nmr_add_loadable target output link)
  add_library(${target} MODULE ${ARGN})
  target_link_libraries(${target} PRIVATE ${link} Threads::Threads)
  target_compile_options(${target} PRIVATE ${NMR_WARNINGS})
  set_target_properties(${target} PROPERTIES PREFIX "" OUTPUT_NAME ${output}
    C_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/modules)
endfunction()
