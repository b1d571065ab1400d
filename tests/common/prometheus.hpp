// Parses the Prometheus text exposition format that hakmem-stat exports: "name{labels} value"
// lines (comments and blank lines skipped) into name{labels} -> value.
#pragma once

#include <cstdlib>
#include <map>
#include <sstream>
#include <string>

namespace hakt {

inline std::map<std::string, double> parse_prometheus(const std::string& text) {
  std::map<std::string, double> m;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    m[line.substr(0, sp)] = std::strtod(line.c_str() + sp + 1, nullptr);
  }
  return m;
}

}  // namespace hakt
