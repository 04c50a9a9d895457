// Recipes: the input is a recipe's JSON, then after "\n----\n" one --set assignment per line. Each
// either resolves or is refused with glimpse::Error (no other exception, no crash), and a
// resolved recipe reads back as itself.
#include <nlohmann/json.hpp>

#include <sstream>

#include "fuzz_target.h"
#include "glimpse/train/recipe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace glimpse;  // NOLINT
  const std::string_view text = fuzzing::as_text(data, size);
  const auto cut = text.find("\n----\n");
  const auto j = nlohmann::json::parse(text.substr(0, cut), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return 0;
  try {
    nlohmann::json resolved = train::Recipe::from_json(j).to_json();
    fuzzing::require(train::Recipe::from_json(resolved).to_json() == resolved,
                     "a resolved recipe reads back as itself", resolved.dump());
    if (cut != std::string_view::npos) {
      std::istringstream sets(std::string(text.substr(cut + 6)));
      for (std::string line; std::getline(sets, line);)
        train::apply_set(resolved, line);
      train::Recipe::from_json(resolved);
    }
  } catch (const Error& e) {
    fuzzing::require(std::string(e.what()).size() > 0, "a refusal says why");
  }
  return 0;
}
