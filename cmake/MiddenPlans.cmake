# midden_add_plan(): how a plan directory declares its library.
#
#   midden_add_plan(NAME immix
#                   FASTPATH BUMP|FREELIST|NONE
#                   MAX_FAST_SIZE <bytes>
#                   [BARRIER NONE|OBJECT]   (default NONE)
#                   SOURCES plan.c ...
#                   POLICIES immix los immortal)
#
# It builds the static library midden_<name> from the core objects, the
# common plan layer (plans/common, with the los and immortal policies every
# plan has), the named policies (policies/<p>/*.c) and the plan sources, and generates
# <midden/plan.h> selecting the inline fast path. Tests and tools iterate
# over the global property MIDDEN_PLANS, so a new plan is picked up without
# edits elsewhere.

set(MIDDEN_PLAN "immix" CACHE STRING "The plan the 'midden' target is")
set(MIDDEN_PLAN_ORDER nogc marksweep semispace immix genimmix gencopy stickyimmix markcompact)

function(midden_add_plan)
  cmake_parse_arguments(P "" "NAME;FASTPATH;MAX_FAST_SIZE;BARRIER" "SOURCES;POLICIES" ${ARGN})
  if(NOT P_NAME OR NOT P_FASTPATH OR NOT DEFINED P_MAX_FAST_SIZE)
    message(FATAL_ERROR "midden_add_plan needs NAME, FASTPATH and MAX_FAST_SIZE")
  endif()
  set(policy_sources "${PROJECT_SOURCE_DIR}/plans/common/common.c" "${PROJECT_SOURCE_DIR}/plans/common/gen.c")
  set(_policies los immortal ${P_POLICIES})
  list(REMOVE_DUPLICATES _policies)
  foreach(pol IN LISTS _policies)
    file(GLOB _src CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/policies/${pol}/*.c")
    if(NOT _src)
      message(FATAL_ERROR "plan ${P_NAME}: no policy named '${pol}' under policies/")
    endif()
    list(APPEND policy_sources ${_src})
  endforeach()

  set(MDN_PLAN_NAME ${P_NAME})
  string(TOUPPER ${P_NAME} MDN_PLAN_NAME_UPPER)
  set(MDN_PLAN_FASTPATH_KIND ${P_FASTPATH})
  set(MDN_PLAN_MAX_FAST_SIZE ${P_MAX_FAST_SIZE})
  if(NOT P_BARRIER)
    set(P_BARRIER NONE)
  endif()
  if(NOT P_BARRIER MATCHES "^(NONE|OBJECT)$")
    message(FATAL_ERROR "plan ${P_NAME}: BARRIER must be NONE or OBJECT, not '${P_BARRIER}'")
  endif()
  set(MDN_PLAN_BARRIER_KIND ${P_BARRIER})
  set(gen "${PROJECT_BINARY_DIR}/plans/${P_NAME}/include")
  configure_file("${PROJECT_SOURCE_DIR}/cmake/plan.h.in" "${gen}/midden/plan.h" @ONLY)

  set(sources "")
  foreach(_s IN LISTS P_SOURCES)
    get_filename_component(_abs "${_s}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    list(APPEND sources "${_abs}")
  endforeach()
  list(APPEND sources ${policy_sources})
  # What midden_add_inline_binding() needs to build the plan again.
  set_property(GLOBAL PROPERTY MIDDEN_PLAN_${P_NAME}_SOURCES ${sources})
  set_property(GLOBAL PROPERTY MIDDEN_PLAN_${P_NAME}_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  set_property(GLOBAL PROPERTY MIDDEN_PLAN_${P_NAME}_GEN "${gen}")
  # The link-time form: the binding defines the functions of <midden/vm.h>.
  _midden_plan_library(midden_${P_NAME} ${P_NAME})
  set_property(GLOBAL APPEND PROPERTY MIDDEN_PLANS ${P_NAME})
endfunction()

# _midden_plan_library(<target> <plan> [<embedder header> <include dirs>...])
# One plan library: the plan's sources and policies compiled for one form
# of the binding, plus the core objects (compiled once for every form).
function(_midden_plan_library lib plan)
  get_property(sources GLOBAL PROPERTY MIDDEN_PLAN_${plan}_SOURCES)
  get_property(dir GLOBAL PROPERTY MIDDEN_PLAN_${plan}_DIR)
  get_property(gen GLOBAL PROPERTY MIDDEN_PLAN_${plan}_GEN)
  set(extra "")
  if(ARGC GREATER 2)
    list(APPEND extra "${PROJECT_SOURCE_DIR}/core/binding/glue.c")
  endif()
  add_library(${lib} STATIC ${sources} ${extra} $<TARGET_OBJECTS:midden_core>)
  target_include_directories(${lib}
    PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
           $<BUILD_INTERFACE:${gen}>
    PRIVATE ${PROJECT_SOURCE_DIR} ${dir})
  target_compile_definitions(${lib} PRIVATE MDN_BUILDING_PLAN=1)
  target_link_libraries(${lib} PUBLIC Threads::Threads m)
  midden_lto_code(${lib})
  if(ARGC GREATER 2)
    target_compile_definitions(${lib} PRIVATE "MDN_VM_INLINE_HEADER=\"${ARGV2}\"")
    if(ARGC GREATER 3)
      list(SUBLIST ARGV 3 -1 _dirs)
      target_include_directories(${lib} PRIVATE ${_dirs})
    endif()
  endif()
endfunction()

# midden_add_inline_binding(NAME <binding>
#                           HEADER <embedder header>
#                           [INCLUDE_DIRECTORIES <dir>...]
#                           [PLANS <plan>...])
#
# Builds every plan again with a binding compiled into the collector
# (docs/porting.md, "The inline form"; docs/design/collector.md
# .binding.forms): for each plan p the static library midden_<p>_<binding>,
# compiled with MDN_VM_INLINE_HEADER naming HEADER, so the trace loop
# inlines the binding's object scanning and the plan's slot tracing. The
# header defines mdn_vm_inline_object_size, mdn_vm_inline_object_start,
# mdn_vm_inline_objref_from_start and mdn_vm_inline_scan_object
# (<midden/vm.h>); INCLUDE_DIRECTORIES are searched for it and for what it
# includes. PLANS limits it to those of the plans (each must be one).
# Call it after midden_finish_plans().
function(midden_add_inline_binding)
  cmake_parse_arguments(B "" "NAME;HEADER" "INCLUDE_DIRECTORIES;PLANS" ${ARGN})
  if(NOT B_NAME OR NOT B_HEADER)
    message(FATAL_ERROR "midden_add_inline_binding needs NAME and HEADER")
  endif()
  get_property(_plans GLOBAL PROPERTY MIDDEN_PLANS)
  if(NOT _plans)
    message(FATAL_ERROR "midden_add_inline_binding(${B_NAME}): no plans yet; call it after midden_finish_plans()")
  endif()
  if(B_PLANS)
    foreach(_p IN LISTS B_PLANS)
      if(NOT _p IN_LIST _plans)
        message(FATAL_ERROR "midden_add_inline_binding(${B_NAME}): '${_p}' is not a plan")
      endif()
    endforeach()
    set(_plans ${B_PLANS})
  endif()
  set(_found FALSE)
  foreach(_d IN LISTS B_INCLUDE_DIRECTORIES)
    if(EXISTS "${_d}/${B_HEADER}")
      set(_found TRUE)
    endif()
  endforeach()
  if(NOT _found AND NOT EXISTS "${B_HEADER}")
    message(FATAL_ERROR "midden_add_inline_binding(${B_NAME}): header '${B_HEADER}' not found in INCLUDE_DIRECTORIES")
  endif()
  foreach(plan IN LISTS _plans)
    _midden_plan_library(midden_${plan}_${B_NAME} ${plan} "${B_HEADER}" ${B_INCLUDE_DIRECTORIES})
  endforeach()
endfunction()

# Called once every plan directory has been added: checks MIDDEN_PLAN and
# makes the 'midden' alias.
macro(midden_finish_plans)
  get_property(MIDDEN_PLANS GLOBAL PROPERTY MIDDEN_PLANS)
  set(_ordered "")
  foreach(_p IN LISTS MIDDEN_PLAN_ORDER)
    if(_p IN_LIST MIDDEN_PLANS)
      list(APPEND _ordered ${_p})
    endif()
  endforeach()
  foreach(_p IN LISTS MIDDEN_PLANS)
    if(NOT _p IN_LIST _ordered)
      list(APPEND _ordered ${_p})
    endif()
  endforeach()
  set(MIDDEN_PLANS ${_ordered})
  if(NOT MIDDEN_PLAN IN_LIST MIDDEN_PLANS)
    string(REPLACE ";" ", " _valid "${MIDDEN_PLANS}")
    message(FATAL_ERROR "MIDDEN_PLAN='${MIDDEN_PLAN}' is not a plan. Valid plans: ${_valid}")
  endif()
  add_library(midden ALIAS midden_${MIDDEN_PLAN})
  message(STATUS "Midden plans: ${MIDDEN_PLANS} (midden = ${MIDDEN_PLAN})")
endmacro()
