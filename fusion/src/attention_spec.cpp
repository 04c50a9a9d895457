#include <cmath>
#include <cstdio>
#include <sstream>

#include "glimpse/fusion/attention.h"

namespace glimpse::fusion {

namespace {

struct ScoreName {
  const char* name;
  Score score;
  Use use;
};
constexpr ScoreName kScores[] = {
    {"additive", Score::kAdditive, Use::kPlain},    {"dot", Score::kDot, Use::kPlain},
    {"general", Score::kGeneral, Use::kPlain},      {"concat", Score::kConcat, Use::kPlain},
    {"scaled-dot", Score::kScaledDot, Use::kPlain}, {"multihead", Score::kMultiHead, Use::kPlain},
    {"self", Score::kMultiHead, Use::kSelf},        {"causal", Score::kMultiHead, Use::kCausal},
    {"cross", Score::kMultiHead, Use::kCross},
};
constexpr int kDefaultHeads = 8;

// The modifiers that switch something on: where each belongs, and what is said elsewhere.
struct Flag {
  const char* name;
  bool AttentionSpec::*field;
  bool (*allowed)(const AttentionSpec&);
  const char* refusal;
};
const Flag kFlags[] = {
    {"gate", &AttentionSpec::gate,
     [](const AttentionSpec& s) { return s.score == Score::kAdditive; },
     "the gate belongs to additive attention only"},
    {"pos-values", &AttentionSpec::pos_values,
     [](const AttentionSpec& s) { return s.use == Use::kCross; },
     "'pos-values' belongs to cross attention only (the grid's position encoding)"},
    {"xy-values", &AttentionSpec::xy_values,
     [](const AttentionSpec& s) { return s.use == Use::kCross; },
     "'xy-values' belongs to cross attention only (the grid's cell coordinates)"},
    {"sink", &AttentionSpec::sink,
     [](const AttentionSpec& s) { return s.score == Score::kMultiHead; },
     "the sink belongs to multi-head attention only (multihead, self, causal, cross)"},
};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v)
    s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

[[noreturn]] void bad(const std::string& text, const std::string& why) {
  throw Error(ErrorCode::kInvalidArgument, "attention '" + text + "': " + why);
}

}  // namespace

std::vector<std::string> attention_score_names() {
  std::vector<std::string> v;
  for (const auto& s : kScores)
    v.emplace_back(s.name);
  return v;
}

std::vector<std::string> attention_scope_names() {
  return {"global", "local", "local-m"};
}

std::string AttentionSpec::to_string() const {
  std::string s;
  for (const auto& n : kScores)
    if (n.score == score && n.use == use)
      s = n.name;
  if (score == Score::kMultiHead)
    s += ":" + std::to_string(heads);
  if (scope == Scope::kLocalP)
    s += "+local:" + format_number(window);
  if (scope == Scope::kLocalM)
    s += "+local-m:" + format_number(window);
  if (gate)
    s += "+gate";
  if (pos_values)
    s += "+pos-values";
  if (xy_values)
    s += "+xy-values";
  if (sink)
    s += "+sink";
  return s;
}

bool AttentionSpec::operator==(const AttentionSpec& o) const {
  return score == o.score && use == o.use && heads == o.heads && scope == o.scope &&
         (scope == Scope::kGlobal || window == o.window) && gate == o.gate &&
         pos_values == o.pos_values && xy_values == o.xy_values && sink == o.sink;
}

Result<AttentionSpec> parse_attention_spec(const std::string& text) {
  return catch_as_result([&] {
    AttentionSpec spec;
    std::vector<std::string> parts;
    std::stringstream in(text);
    for (std::string p; std::getline(in, p, '+');)
      parts.push_back(p);
    if (text.empty() || parts.empty() || parts[0].empty())
      bad(text, "empty; name a score: " + join(attention_score_names()));

    auto split_arg = [](const std::string& p, std::string& name, std::string& arg) {
      auto colon = p.find(':');
      name = p.substr(0, colon);
      arg = colon == std::string::npos ? "" : p.substr(colon + 1);
      return colon != std::string::npos;
    };
    std::string name, arg;
    const bool has_arg = split_arg(parts[0], name, arg);
    bool known = false;
    for (const auto& s : kScores) {
      if (name == s.name) {
        spec.score = s.score;
        spec.use = s.use;
        known = true;
      }
    }
    if (!known)
      bad(text, "unknown score '" + name + "'; valid: " + join(attention_score_names()));
    if (spec.score == Score::kMultiHead) {
      spec.heads = kDefaultHeads;
      if (has_arg) {
        int h = 0;
        size_t used = 0;
        try {
          h = std::stoi(arg, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != arg.size() || h < 1 || h > 64)
          bad(text, "heads must be a whole number from 1 to 64, got '" + arg + "'");
        spec.heads = h;
      }
    } else if (has_arg) {
      bad(text,
          "'" + name + "' takes no ':' argument (only multihead, self, causal, cross take heads)");
    }

    bool scope_set = false;
    for (size_t i = 1; i < parts.size(); ++i) {
      const bool with_arg = split_arg(parts[i], name, arg);
      bool flag = false;
      for (const auto& f : kFlags) {
        if (name != f.name)
          continue;
        if (!f.allowed(spec))
          bad(text, f.refusal);
        if (with_arg || spec.*f.field)
          bad(text, "'" + name + "' is given twice or with an argument");
        spec.*f.field = true;
        flag = true;
      }
      if (flag)
        continue;
      Scope scope;
      if (name == "global")
        scope = Scope::kGlobal;
      else if (name == "local")
        scope = Scope::kLocalP;
      else if (name == "local-m")
        scope = Scope::kLocalM;
      else {
        auto valid = attention_scope_names();
        for (const auto& f : kFlags)
          valid.push_back(f.name);
        bad(text, "unknown modifier '" + name + "'; valid: " + join(valid));
      }
      if (scope_set)
        bad(text, "more than one scope");
      scope_set = true;
      spec.scope = scope;
      if (with_arg) {
        if (scope == Scope::kGlobal)
          bad(text, "'global' takes no argument");
        double d = 0;
        size_t used = 0;
        try {
          d = std::stod(arg, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != arg.size() || !(d >= 0.5) || !(d <= 1000.0) || !std::isfinite(d))
          bad(text, "the window half-width must be a number from 0.5 to 1000, got '" + arg + "'");
        spec.window = d;
      }
    }
    return spec;
  });
}

}  // namespace glimpse::fusion
