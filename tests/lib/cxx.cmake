# SPDX-License-Identifier: MIT
# Is there a C++ compiler for the tests that compile headers as C++
# (script_header_cxx, km_names_cxx)?  Sets NMR_TEST_CXX to it and enables
# C++, or leaves NMR_TEST_CXX empty and says why in NMR_NO_CXX_REASON.
# check_language() does not probe a compiler named on the command line
# (-DCMAKE_CXX_COMPILER=...): see that one exists before enabling C++.  A
# failed check is cached as NOTFOUND: make it again at every configure, so
# installing g++ and reconfiguring brings the tests back.  Included once
# per configure (include_guard), at file scope as enable_language() wants.
include_guard(GLOBAL)
include(CheckLanguage)
if(DEFINED CMAKE_CXX_COMPILER AND NOT CMAKE_CXX_COMPILER)
  unset(CMAKE_CXX_COMPILER CACHE)
endif()
check_language(CXX)
set(NMR_TEST_CXX "")
set(NMR_NO_CXX_REASON "")
if(CMAKE_CXX_COMPILER)
  if(IS_ABSOLUTE "${CMAKE_CXX_COMPILER}")
    set(nmr_cxx_path "${CMAKE_CXX_COMPILER}")
  else()
    find_program(nmr_cxx_path NAMES "${CMAKE_CXX_COMPILER}" NO_CACHE)
  endif()
  if(nmr_cxx_path AND EXISTS "${nmr_cxx_path}" AND NOT IS_DIRECTORY "${nmr_cxx_path}")
    enable_language(CXX)
    set(NMR_TEST_CXX "${CMAKE_CXX_COMPILER}")
  else()
    set(NMR_NO_CXX_REASON "the C++ compiler ${CMAKE_CXX_COMPILER} does not exist")
  endif()
else()
  set(NMR_NO_CXX_REASON "no C++ compiler found (install g++)")
endif()
