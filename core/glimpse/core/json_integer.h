// An integer read from outside JSON (a model file's config, a dataset, a recipe) without undefined
// behaviour: nlohmann's get<int>() casts a float such as 1e300, or a 64-bit value, to the smaller
// type unchecked. json_integer<T> gives the value only when it is an integer that T holds.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>

namespace glimpse::core {

template <class T>
std::optional<T> json_integer(const nlohmann::json& v) {
  static_assert(std::is_integral_v<T> && std::is_signed_v<T>, "a signed integer type");
  if (!v.is_number_integer())
    return std::nullopt;
  if (v.is_number_unsigned() &&
      v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return std::nullopt;
  const int64_t n = v.get<int64_t>();
  if (n < std::numeric_limits<T>::min() || n > std::numeric_limits<T>::max())
    return std::nullopt;
  return static_cast<T>(n);
}

}  // namespace glimpse::core
