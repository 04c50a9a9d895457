# One precompiled header for Torch and OpenCV, built once and reused by every target
# (a Torch translation unit costs ~20 s without it on this machine).
add_library(glimpse_pch OBJECT ${CMAKE_CURRENT_SOURCE_DIR}/cmake/pch.cpp)
# Consumers must compile with the same flags (GCC refuses a PCH built otherwise), so the PCH
# target links exactly what every glimpse target links: warnings, options, Torch, OpenCV, json.
target_link_libraries(glimpse_pch PUBLIC ${TORCH_LIBRARIES} ${OpenCV_LIBS} nlohmann_json::nlohmann_json
                      glimpse::options glimpse::warnings)
if(GLIMPSE_USE_PCH)
  target_precompile_headers(glimpse_pch PRIVATE
    <torch/torch.h> <opencv2/core.hpp> <opencv2/imgproc.hpp> <nlohmann/json.hpp>
    <string> <vector> <memory> <optional> <stdexcept> <variant>)
endif()

# glimpse_use_pch(target): reuse the shared precompiled header in `target`.
function(glimpse_use_pch target)
  target_link_libraries(${target} PRIVATE ${TORCH_LIBRARIES} ${OpenCV_LIBS}
                        nlohmann_json::nlohmann_json glimpse::options glimpse::warnings)
  if(GLIMPSE_USE_PCH)
    target_precompile_headers(${target} REUSE_FROM glimpse_pch)
  endif()
endfunction()

# glimpse_add_library(NAME SOURCES src... [PUBLIC dep...] [PRIVATE dep...]): the library
# glimpse_NAME with alias glimpse::NAME, its folder as the public include root, the project's
# warnings and the shared precompiled header.
function(glimpse_add_library name)
  cmake_parse_arguments(L "" "" "SOURCES;PUBLIC;PRIVATE" ${ARGN})
  add_library(glimpse_${name} ${L_SOURCES})
  add_library(glimpse::${name} ALIAS glimpse_${name})
  target_include_directories(glimpse_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(glimpse_${name} PUBLIC ${L_PUBLIC} PRIVATE ${L_PRIVATE} glimpse::warnings)
  glimpse_use_pch(glimpse_${name})
endfunction()
