# Build options and compiler flags shared by every Midden target.

option(MIDDEN_WERROR "Treat compiler warnings as errors" OFF)
set(MIDDEN_LTO "AUTO" CACHE STRING
    "Link-time optimisation: AUTO (on for Release builds when the compiler can), ON or OFF")
set_property(CACHE MIDDEN_LTO PROPERTY STRINGS AUTO ON OFF)
option(MIDDEN_BUILD_TESTS "Build the test suite" ON)
option(MIDDEN_BUILD_TOOLS "Build benchmarks and the comparison tool" ON)
option(MIDDEN_SOAK "Register the long soak tests with CTest" OFF)
option(MIDDEN_FUZZ "Build the AFL++ fuzz targets with afl-clang-fast (tests/fuzz/run-afl.sh)" OFF)
set(MIDDEN_SANITIZE "" CACHE STRING "Sanitizers to build with: '', 'address;undefined' or 'thread'")

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()

set(CMAKE_C_STANDARD 11)
set(CMAKE_C_STANDARD_REQUIRED ON)
set(CMAKE_C_EXTENSIONS ON)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
set(CMAKE_C_FLAGS_RELEASE "-O2 -DNDEBUG")
set(CMAKE_C_FLAGS_RELWITHDEBINFO "-O2 -g -DNDEBUG")
set(CMAKE_C_FLAGS_DEBUG "-O0 -g -DMDN_DEBUG=1")

add_compile_options(-Wall -Wextra -Wno-unused-parameter)
if(MIDDEN_WERROR)
  add_compile_options(-Werror)
endif()

if(MIDDEN_SANITIZE)
  string(REPLACE ";" "," _mdn_san "${MIDDEN_SANITIZE}")
  add_compile_options(-fsanitize=${_mdn_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_mdn_san})
  add_compile_definitions(MDN_SANITIZE=1)
  if("thread" IN_LIST MIDDEN_SANITIZE)
    add_compile_definitions(MDN_TSAN=1)
  endif()
endif()

# Link-time optimisation (docs/using-midden.md, "Link-time optimisation").
#
# MIDDEN_LTO=AUTO (the default) turns it on for Release builds when the
# compiler can do LTO and can write fat LTO objects; ON asks for it in any
# build type and fails when the compiler cannot; OFF never uses it. The
# configure output says which it is and why.
#
# With fat objects (-ffat-lto-objects), the collector's code (midden_core,
# the plan libraries, the reference binding) carries both the compiler's
# intermediate code and ordinary machine code, so the installed static
# libraries let a program linked with LTO optimise its binding and the
# collector as one. The tree's own programs (tests, shared libraries,
# examples) link the machine code with -fno-lto, at the cost of an
# ordinary link. The benchmarks and tools (midden_lto_program) link with
# LTO only with MIDDEN_LTO=ON: with toyvm compiled into the collector (the
# inline form) whole-program optimisation does not make them faster, and it
# nearly doubled the CPU time of a Release build (docs/using-midden.md). A
# compiler that can do LTO but not fat objects gets LTO everywhere with ON
# (every link optimises the whole program) and none with AUTO.
string(TOUPPER "${MIDDEN_LTO}" _mdn_lto)
if(_mdn_lto MATCHES "^(ON|YES|TRUE|Y|1)$")
  set(_mdn_lto ON)
elseif(_mdn_lto MATCHES "^(OFF|NO|FALSE|N|0)$")
  set(_mdn_lto OFF)
elseif(NOT _mdn_lto STREQUAL "AUTO")
  message(FATAL_ERROR "MIDDEN_LTO='${MIDDEN_LTO}': expected AUTO, ON or OFF")
endif()

set(MIDDEN_LTO_ENABLED OFF)   # the collector's objects carry LTO code
set(MIDDEN_LTO_FAT OFF)       # ... and machine code too (non-LTO links work)
set(MIDDEN_LTO_PROGRAMS OFF)  # benchmarks and tools link with LTO
if(_mdn_lto STREQUAL "OFF")
  message(STATUS "Midden LTO: off (MIDDEN_LTO=OFF)")
elseif(_mdn_lto STREQUAL "AUTO" AND NOT CMAKE_BUILD_TYPE STREQUAL "Release")
  message(STATUS "Midden LTO: off (build type '${CMAKE_BUILD_TYPE}'; MIDDEN_LTO=AUTO uses LTO for Release builds only)")
else()
  include(CheckIPOSupported)
  include(CheckCCompilerFlag)
  check_ipo_supported(RESULT _mdn_ipo OUTPUT _mdn_ipo_msg LANGUAGES C)
  if(_mdn_ipo)
    check_c_compiler_flag(-ffat-lto-objects MIDDEN_HAVE_FAT_LTO_OBJECTS)
  endif()
  set(_mdn_compiler "${CMAKE_C_COMPILER_ID} ${CMAKE_C_COMPILER_VERSION} (${CMAKE_C_COMPILER})")
  if(NOT _mdn_ipo)
    string(STRIP "${_mdn_ipo_msg}" _mdn_ipo_msg)
    if(_mdn_lto STREQUAL "ON")
      message(FATAL_ERROR "MIDDEN_LTO=ON but ${_mdn_compiler} cannot do link-time optimisation: ${_mdn_ipo_msg}")
    endif()
    message(WARNING "Midden LTO: off: ${_mdn_compiler} cannot do link-time optimisation, so this Release build "
                    "has none (set MIDDEN_LTO=OFF to say so and drop this warning). The check said: ${_mdn_ipo_msg}")
  elseif(MIDDEN_HAVE_FAT_LTO_OBJECTS)
    set(MIDDEN_LTO_ENABLED ON)
    set(MIDDEN_LTO_FAT ON)
    if(_mdn_lto STREQUAL "ON")
      set(MIDDEN_LTO_PROGRAMS ON)
      message(STATUS "Midden LTO: on (MIDDEN_LTO=ON): the collector is compiled to fat LTO objects; "
                     "benchmarks and tools link with LTO, tests and shared libraries without")
    else()
      message(STATUS "Midden LTO: on (MIDDEN_LTO=AUTO, Release): the collector is compiled to fat LTO objects "
                     "for programs linked with LTO; the tree's own programs link without (MIDDEN_LTO=ON: "
                     "benchmarks and tools too)")
    endif()
  elseif(_mdn_lto STREQUAL "ON")
    set(MIDDEN_LTO_ENABLED ON)
    set(CMAKE_INTERPROCEDURAL_OPTIMIZATION ON)
    message(STATUS "Midden LTO: on everywhere (MIDDEN_LTO=ON): ${_mdn_compiler} cannot write fat LTO objects, "
                   "so every program, the tests included, links with LTO")
  else()
    message(WARNING "Midden LTO: off: ${_mdn_compiler} can do LTO but cannot write fat LTO objects "
                    "(-ffat-lto-objects), which MIDDEN_LTO=AUTO needs to keep the test executables' links "
                    "ordinary. Set MIDDEN_LTO=ON for LTO in every link, or MIDDEN_LTO=OFF to drop this warning.")
  endif()
endif()

if(MIDDEN_LTO_FAT)
  # Every link that has not asked for LTO (midden_lto_program) uses the
  # machine code of the fat objects.
  add_link_options("$<$<NOT:$<BOOL:$<TARGET_PROPERTY:MIDDEN_LTO_LINK>>>:-fno-lto>")
endif()

# midden_lto_code(<target>...): compile the target's sources to LTO code as
# well as machine code (the collector's libraries and the binding).
function(midden_lto_code)
  if(MIDDEN_LTO_FAT)
    foreach(_t IN LISTS ARGV)
      set_target_properties(${_t} PROPERTIES INTERPROCEDURAL_OPTIMIZATION ON)
      target_compile_options(${_t} PRIVATE -ffat-lto-objects)
    endforeach()
  endif()
endfunction()

# midden_lto_program(<target>...): a benchmark or tool, optimised with the
# collector as one program at link time.
function(midden_lto_program)
  if(MIDDEN_LTO_FAT AND MIDDEN_LTO_PROGRAMS)
    set_target_properties(${ARGV} PROPERTIES INTERPROCEDURAL_OPTIMIZATION ON MIDDEN_LTO_LINK ON)
  endif()
endfunction()
