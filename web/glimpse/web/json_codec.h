// The one home of the JSON that glimpse sends out, for the server's replies and for the command
// line's --json alike: a caption's or an answer's result in the API's layout, and the dump that
// can never throw on the bytes a client sent (invalid UTF-8 becomes U+FFFD).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "glimpse/fusion/service.h"

namespace glimpse::web {

// {"text", "words": [{"word", "log_prob"}], "finished", "attention": {"grid_h", "grid_w",
// "layers", "heads", "maps": [word][layer][head][grid_h * grid_w]}}; values to 4 decimals.
nlohmann::json result_json(const fusion::ServiceResult& result);

// `value` as JSON text; strings that are not valid UTF-8 are written with U+FFFD in place of the
// invalid bytes instead of throwing. indent < 0: one line.
std::string dump_json(const nlohmann::json& value, int indent = -1);

}  // namespace glimpse::web
