# keygate_layer(NAME <layer> [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# One static library per layer (src/<layer>/**/*.cc). Files are globbed so that adding a
# source file needs no CMake edit; CONFIGURE_DEPENDS re-globs on every build.
function(keygate_layer)
  cmake_parse_arguments(L "" "NAME" "PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/*.cc")
  if(NOT srcs)
    # A layer whose sources are not written yet still gets a (empty) target.
    set(placeholder "${CMAKE_CURRENT_BINARY_DIR}/${L_NAME}_placeholder.cc")
    file(WRITE "${placeholder}" "// empty layer ${L_NAME}\n")
    set(srcs "${placeholder}")
  endif()
  add_library(keygate_${L_NAME} STATIC ${srcs})
  target_include_directories(keygate_${L_NAME} PUBLIC "${PROJECT_SOURCE_DIR}/src")
  target_link_libraries(keygate_${L_NAME} PUBLIC ${L_PUBLIC_DEPS} PRIVATE ${L_PRIVATE_DEPS})
endfunction()

# keygate_test(NAME <exe> DIRS <dir>... LABEL <unit|integration|e2e> LIBS ... [ENV ...] [TIMEOUT s])
# One gtest executable per module; every TEST becomes a ctest case with the label.
function(keygate_test)
  cmake_parse_arguments(T "" "NAME;LABEL;TIMEOUT" "DIRS;LIBS;ENV" ${ARGN})
  set(srcs "")
  foreach(d ${T_DIRS})
    file(GLOB_RECURSE s CONFIGURE_DEPENDS "${d}/*.cc")
    list(APPEND srcs ${s})
  endforeach()
  if(NOT srcs)
    return()
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${T_NAME} ${srcs} "${PROJECT_SOURCE_DIR}/tests/support/gtest_main.cc")
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock)
  target_include_directories(${T_NAME} PRIVATE "${PROJECT_SOURCE_DIR}/src" "${PROJECT_SOURCE_DIR}/tests")
  gtest_discover_tests(${T_NAME}
    DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT} ENVIRONMENT "${T_ENV}")
endfunction()
