# midden_add_plan(): how a plan directory declares its library.
#
#   midden_add_plan(NAME immix
#                   FASTPATH BUMP|FREELIST|NONE
#                   MAX_FAST_SIZE <bytes>
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
  cmake_parse_arguments(P "" "NAME;FASTPATH;MAX_FAST_SIZE" "SOURCES;POLICIES" ${ARGN})
  if(NOT P_NAME OR NOT P_FASTPATH OR NOT DEFINED P_MAX_FAST_SIZE)
    message(FATAL_ERROR "midden_add_plan needs NAME, FASTPATH and MAX_FAST_SIZE")
  endif()
  set(policy_sources "${PROJECT_SOURCE_DIR}/plans/common/common.c")
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
  set(gen "${PROJECT_BINARY_DIR}/plans/${P_NAME}/include")
  configure_file("${PROJECT_SOURCE_DIR}/cmake/plan.h.in" "${gen}/midden/plan.h" @ONLY)

  set(lib midden_${P_NAME})
  add_library(${lib} STATIC ${P_SOURCES} ${policy_sources} $<TARGET_OBJECTS:midden_core>)
  target_include_directories(${lib}
    PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
           $<BUILD_INTERFACE:${gen}>
    PRIVATE ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(${lib} PRIVATE MDN_BUILDING_PLAN=1)
  target_link_libraries(${lib} PUBLIC Threads::Threads m)
  set_property(GLOBAL APPEND PROPERTY MIDDEN_PLANS ${P_NAME})
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
