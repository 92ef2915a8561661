# Install rules and package files (docs/using-midden.md says how they are
# used). Included by the top-level CMakeLists.txt after every plan has been
# added, so every plan in MIDDEN_PLANS is packaged without edits here.
#
# For each plan <p>:
#   lib/libmidden_<p>.a                    static library   Midden::<p>
#   lib/libmidden_<p>.so.<ver>             shared library   Midden::<p>_shared
#                                          (MIDDEN_BUILD_SHARED)
#   include/midden/plans/<p>/midden/plan.h the plan's generated header
#   lib/pkgconfig/midden-<p>.pc            static; midden-<p>-shared.pc shared
# and once:
#   include/midden/*.h                     public headers (+ generated version.h)
#   lib/cmake/Midden/                      MiddenConfig.cmake, version, targets
#   lib/pkgconfig/midden.pc                the default plan (MIDDEN_PLAN)
#   share/midden/examples/                 tinyvm (out-of-tree binding), toyvm
#   share/doc/midden/                      guides and design notes

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

option(MIDDEN_BUILD_SHARED "Also build a shared library per plan (libmidden_<plan>.so)" ON)

set(MIDDEN_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/Midden" CACHE STRING
    "Where MiddenConfig.cmake is installed, relative to the prefix")
set(MIDDEN_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig" CACHE STRING
    "Where the pkg-config files are installed, relative to the prefix")

# Link flags a consumer needs on top of the library (a sanitized build
# needs the sanitizer runtime in the program too).
set(MIDDEN_CONSUMER_LINK_FLAGS "")
if(MIDDEN_SANITIZE)
  string(REPLACE ";" "," _mdn_san "${MIDDEN_SANITIZE}")
  set(MIDDEN_CONSUMER_LINK_FLAGS "-fsanitize=${_mdn_san}")
endif()

# The shared library exports only the public API: the functions declared
# (not defined inline) in include/midden/*.h, read from the headers so a new
# API function is exported without edits here. Everything else (core,
# policy and plan internals) is local, so calls inside the library do not go
# through the PLT and cannot be interposed.
set(_mdn_exports "")
file(GLOB _mdn_public_headers "${PROJECT_SOURCE_DIR}/include/midden/*.h")
list(APPEND _mdn_public_headers "${PROJECT_SOURCE_DIR}/cmake/version.h.in")
foreach(_h IN LISTS _mdn_public_headers)
  file(STRINGS "${_h}" _lines REGEX "^[A-Za-z_][A-Za-z0-9_ ]*[ *](mdn_[a-z0-9_]+)\\(")
  foreach(_l IN LISTS _lines)
    if(_l MATCHES "^static " OR _l MATCHES "^typedef ")
      continue()
    endif()
    string(REGEX MATCH "[ *](mdn_[a-z0-9_]+)\\(" _m "${_l}")
    string(REGEX REPLACE "^[ *]|\\($" "" _name "${_m}")
    # The binding's functions are defined by the program, not the library.
    if(NOT _name MATCHES "^mdn_vm_")
      list(APPEND _mdn_exports "${_name}")
    endif()
  endforeach()
endforeach()
list(REMOVE_DUPLICATES _mdn_exports)
list(SORT _mdn_exports)
set(MIDDEN_PUBLIC_FUNCTIONS ${_mdn_exports} CACHE INTERNAL "Functions of the public API")

set(_mdn_pc_rel "")
if(NOT IS_ABSOLUTE "${MIDDEN_INSTALL_PKGCONFIGDIR}")
  file(RELATIVE_PATH _mdn_pc_rel "/prefix/${MIDDEN_INSTALL_PKGCONFIGDIR}" "/prefix")
  string(REGEX REPLACE "/$" "" _mdn_pc_rel "${_mdn_pc_rel}")
endif()
# pkg-config files find the prefix from their own location, so an install
# tree can be moved (or installed with `cmake --install --prefix`).
if(_mdn_pc_rel)
  set(MIDDEN_PC_PREFIX "\${pcfiledir}/${_mdn_pc_rel}")
else()
  set(MIDDEN_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
endif()

set(_mdn_export_targets "")
set(MIDDEN_SHARED_PLANS "")
foreach(plan IN LISTS MIDDEN_PLANS)
  set(gen "${PROJECT_BINARY_DIR}/plans/${plan}/include")
  set(plan_incdir "${CMAKE_INSTALL_INCLUDEDIR}/midden/plans/${plan}")

  # Static library: Midden::<plan>.
  target_include_directories(midden_${plan} INTERFACE
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}> $<INSTALL_INTERFACE:${plan_incdir}>)
  if(MIDDEN_CONSUMER_LINK_FLAGS)
    target_link_options(midden_${plan} INTERFACE $<INSTALL_INTERFACE:${MIDDEN_CONSUMER_LINK_FLAGS}>)
  endif()
  set_target_properties(midden_${plan} PROPERTIES EXPORT_NAME ${plan})
  add_library(Midden::${plan} ALIAS midden_${plan})
  list(APPEND _mdn_export_targets midden_${plan})

  # Shared library: the static library's objects, whole, in a .so whose
  # mdn_vm_* references stay undefined and are resolved from the program
  # when it is loaded (docs/using-midden.md, "Static or shared").
  if(MIDDEN_BUILD_SHARED)
    set(lib midden_${plan}_shared)
    set(map "${PROJECT_BINARY_DIR}/plans/${plan}/midden_${plan}.map")
    set(MDN_MAP_PLAN ${plan})
    list(JOIN _mdn_exports ";\n    " MDN_MAP_FUNCTIONS)
    configure_file("${PROJECT_SOURCE_DIR}/cmake/midden.map.in" "${map}" @ONLY)
    add_library(${lib} SHARED "${PROJECT_SOURCE_DIR}/cmake/shared_library.c")
    target_link_libraries(${lib} PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,midden_${plan}>")
    target_link_libraries(${lib} PUBLIC Threads::Threads m)
    target_include_directories(${lib} PUBLIC
      $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
      $<BUILD_INTERFACE:${gen}>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}> $<INSTALL_INTERFACE:${plan_incdir}>)
    # -Bsymbolic-functions: the library calls its own exported functions
    # (mdn_trace_slot from the collector) directly, not through the PLT.
    target_link_options(${lib} PRIVATE "LINKER:--version-script=${map}" "LINKER:-Bsymbolic-functions")
    if(MIDDEN_CONSUMER_LINK_FLAGS)
      target_link_options(${lib} INTERFACE $<INSTALL_INTERFACE:${MIDDEN_CONSUMER_LINK_FLAGS}>)
    endif()
    set_target_properties(${lib} PROPERTIES
      OUTPUT_NAME midden_${plan}
      EXPORT_NAME ${plan}_shared
      VERSION ${PROJECT_VERSION}
      # Before 1.0 a minor release may change the ABI (mdn_mutator_fast).
      SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}
      LINK_DEPENDS "${map}")
    add_library(Midden::${plan}_shared ALIAS ${lib})
    list(APPEND _mdn_export_targets ${lib})
    list(APPEND MIDDEN_SHARED_PLANS ${plan})
  endif()

  install(FILES "${gen}/midden/plan.h" DESTINATION "${plan_incdir}/midden" COMPONENT Development)

  # pkg-config: midden-<plan> links the static archive by its path (with
  # -lmidden_<plan> the linker would prefer the .so next to it);
  # midden-<plan>-shared links the shared library.
  set(MDN_PC_PLAN ${plan})
  set(MDN_PC_NAME midden-${plan})
  set(MDN_PC_DESCRIPTION "Midden memory manager, ${plan} plan (static library)")
  set(MDN_PC_LIBS "\${libdir}/libmidden_${plan}.a -pthread -lm ${MIDDEN_CONSUMER_LINK_FLAGS}")
  configure_file("${PROJECT_SOURCE_DIR}/cmake/midden.pc.in" "${PROJECT_BINARY_DIR}/pkgconfig/midden-${plan}.pc" @ONLY)
  install(FILES "${PROJECT_BINARY_DIR}/pkgconfig/midden-${plan}.pc" DESTINATION "${MIDDEN_INSTALL_PKGCONFIGDIR}"
          COMPONENT Development)
  if(MIDDEN_BUILD_SHARED)
    set(MDN_PC_NAME midden-${plan}-shared)
    set(MDN_PC_DESCRIPTION "Midden memory manager, ${plan} plan (shared library)")
    set(MDN_PC_LIBS "-L\${libdir} -lmidden_${plan} -pthread -lm ${MIDDEN_CONSUMER_LINK_FLAGS}")
    configure_file("${PROJECT_SOURCE_DIR}/cmake/midden.pc.in"
                   "${PROJECT_BINARY_DIR}/pkgconfig/midden-${plan}-shared.pc" @ONLY)
    install(FILES "${PROJECT_BINARY_DIR}/pkgconfig/midden-${plan}-shared.pc"
            DESTINATION "${MIDDEN_INSTALL_PKGCONFIGDIR}" COMPONENT Development)
  endif()

  # Build-tree pkg-config files: pkg-config prefers midden-<plan>-uninstalled.pc
  # over midden-<plan>.pc in the same directory, so with
  # PKG_CONFIG_PATH=<build>/pkgconfig a program builds against this build
  # tree (its sources' headers, the generated plan header, the libraries
  # where they were built) with no install step.
  set(_uninst_cflags "-I${PROJECT_SOURCE_DIR}/include -I${PROJECT_BINARY_DIR}/include -I${gen} -pthread")
  string(CONCAT _uninst
         "Name: midden-${plan}\nDescription: Midden memory manager, ${plan} plan (static library, build tree)\n"
         "Version: ${PROJECT_VERSION}\nCflags: ${_uninst_cflags}\n"
         "Libs: $<TARGET_FILE:midden_${plan}> -pthread -lm ${MIDDEN_CONSUMER_LINK_FLAGS}\n")
  file(GENERATE OUTPUT "${PROJECT_BINARY_DIR}/pkgconfig/midden-${plan}-uninstalled.pc" CONTENT "${_uninst}")
  if(MIDDEN_BUILD_SHARED)
    string(CONCAT _uninst
           "Name: midden-${plan}-shared\nDescription: Midden memory manager, ${plan} plan (shared library, build tree)\n"
           "Version: ${PROJECT_VERSION}\nCflags: ${_uninst_cflags}\n"
           "Libs: -L$<TARGET_FILE_DIR:midden_${plan}_shared> -Wl,-rpath,$<TARGET_FILE_DIR:midden_${plan}_shared> "
           "-lmidden_${plan} -pthread -lm ${MIDDEN_CONSUMER_LINK_FLAGS}\n")
    file(GENERATE OUTPUT "${PROJECT_BINARY_DIR}/pkgconfig/midden-${plan}-shared-uninstalled.pc" CONTENT "${_uninst}")
  endif()
endforeach()
add_library(Midden::midden ALIAS midden_${MIDDEN_PLAN})

# midden.pc (and midden-shared.pc): the default plan.
foreach(_kind "" "-shared")
  if(_kind STREQUAL "-shared" AND NOT MIDDEN_BUILD_SHARED)
    continue()
  endif()
  file(WRITE "${PROJECT_BINARY_DIR}/pkgconfig/midden${_kind}.pc.tmp"
       "Name: midden${_kind}\n"
       "Description: Midden memory manager, the default plan (${MIDDEN_PLAN})\n"
       "Version: ${PROJECT_VERSION}\n"
       "Requires: midden-${MIDDEN_PLAN}${_kind} = ${PROJECT_VERSION}\n")
  configure_file("${PROJECT_BINARY_DIR}/pkgconfig/midden${_kind}.pc.tmp"
                 "${PROJECT_BINARY_DIR}/pkgconfig/midden${_kind}.pc" COPYONLY)
  install(FILES "${PROJECT_BINARY_DIR}/pkgconfig/midden${_kind}.pc" DESTINATION "${MIDDEN_INSTALL_PKGCONFIGDIR}"
          COMPONENT Development)
  file(WRITE "${PROJECT_BINARY_DIR}/pkgconfig/midden${_kind}-uninstalled.pc"
       "Name: midden${_kind}\n"
       "Description: Midden memory manager, the default plan (${MIDDEN_PLAN}, build tree)\n"
       "Version: ${PROJECT_VERSION}\n"
       "Requires: midden-${MIDDEN_PLAN}${_kind} = ${PROJECT_VERSION}\n")
endforeach()

install(TARGETS ${_mdn_export_targets} EXPORT MiddenTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT Development
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT Runtime NAMELINK_COMPONENT Development)
install(EXPORT MiddenTargets NAMESPACE Midden:: DESTINATION "${MIDDEN_INSTALL_CMAKEDIR}" COMPONENT Development)

file(GLOB _mdn_headers "${PROJECT_SOURCE_DIR}/include/midden/*.h")
install(FILES ${_mdn_headers} "${PROJECT_BINARY_DIR}/include/midden/version.h"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/midden" COMPONENT Development)

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/MiddenConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/cmake/MiddenConfig.cmake"
  INSTALL_DESTINATION "${MIDDEN_INSTALL_CMAKEDIR}")
# Before 1.0, only the same minor version is compatible.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/cmake/MiddenConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/cmake/MiddenConfig.cmake" "${PROJECT_BINARY_DIR}/cmake/MiddenConfigVersion.cmake"
        DESTINATION "${MIDDEN_INSTALL_CMAKEDIR}" COMPONENT Development)

# Examples and documentation. toyvm is the tests' reference binding: it is
# installed as source to read, not as a library (a runtime writes its own
# binding, see docs/porting.md).
install(DIRECTORY "${PROJECT_SOURCE_DIR}/vmbinding/examples/"
        DESTINATION "${CMAKE_INSTALL_DATADIR}/midden/examples" COMPONENT Development)
install(FILES "${PROJECT_SOURCE_DIR}/vmbinding/toyvm/toyvm.h" "${PROJECT_SOURCE_DIR}/vmbinding/toyvm/toyvm.c"
        DESTINATION "${CMAKE_INSTALL_DATADIR}/midden/examples/toyvm" COMPONENT Development)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/docs/" DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/midden" COMPONENT Development
        FILES_MATCHING PATTERN "*.md")
