# Interface targets every glimpse target links: warnings and sanitizers.
add_library(glimpse_warnings INTERFACE)
add_library(glimpse::warnings ALIAS glimpse_warnings)
target_compile_options(glimpse_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused
  -Woverloaded-virtual -Wformat=2 -Wimplicit-fallthrough)
if(GLIMPSE_WARNINGS_AS_ERRORS)
  target_compile_options(glimpse_warnings INTERFACE -Werror)
endif()

add_library(glimpse_options INTERFACE)
add_library(glimpse::options ALIAS glimpse_options)
target_compile_definitions(glimpse_options INTERFACE GLIMPSE_VERSION="${PROJECT_VERSION}")
if(GLIMPSE_SANITIZE)
  # Applied globally so the precompiled header and every object agree on flags.
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

if(GLIMPSE_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "GLIMPSE_BUILD_FUZZERS needs clang (libFuzzer): see scripts/fuzz.sh")
  endif()
  # Every object is instrumented for coverage and checked by the sanitizers; libFuzzer's main is
  # linked into the fuzz targets alone.
  add_compile_options(-fsanitize=address,undefined,fuzzer-no-link -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined -gline-tables-only)
  add_link_options(-fsanitize=address,undefined)
endif()

if(GLIMPSE_USE_CCACHE)
  find_program(CCACHE_PROGRAM ccache)
  if(CCACHE_PROGRAM)
    # The sloppiness settings let ccache cache objects built with a precompiled header.
    # BASEDIR makes paths relative, so a fresh clone elsewhere (as CI makes) hits the cache.
    set(CMAKE_CXX_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env
        "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
        "CCACHE_BASEDIR=${CMAKE_SOURCE_DIR}"
        ${CCACHE_PROGRAM})
    message(STATUS "glimpse: compiling through ccache (${CCACHE_PROGRAM})")
  endif()
endif()
