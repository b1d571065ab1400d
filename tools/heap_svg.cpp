// A flame graph drawn directly as SVG: one box per frame, as wide as the bytes below it,
// root at the bottom, callees above; hover shows the frame and its bytes (<title>).
#include <algorithm>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "heap_profile.hpp"

namespace hakstat {
namespace {

struct Node {
  std::string name;
  std::uint64_t value = 0;
  std::map<std::string, std::unique_ptr<Node>> children;
};

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20) o += c;
    }
  }
  return o;
}

// Warm colours, chosen from the name so a function keeps its colour across graphs.
std::string colour(const std::string& name) {
  std::uint32_t h = 2166136261u;
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  return fmt::format("rgb({},{},{})", 205 + h % 50, 80 + (h >> 8) % 130, 40 + (h >> 16) % 40);
}

constexpr double kWidth = 1200, kFrameH = 16, kPad = 10, kTitleH = 40;

int depth_of(const Node& n) {
  int d = 0;
  for (const auto& [k, c] : n.children) d = std::max(d, depth_of(*c));
  return d + 1;
}

void draw(std::string& out, const Node& n, double x, int level, double scale, double height,
          std::uint64_t total) {
  double w = static_cast<double>(n.value) * scale;
  if (w < 0.3) return;
  double y = height - kPad - (level + 1) * kFrameH;
  double share = total ? 100.0 * static_cast<double>(n.value) / static_cast<double>(total) : 0;
  out += fmt::format("<g><title>{} ({}, {:.2f}%)</title>", xml_escape(n.name), human_bytes(n.value), share);
  out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\" rx=\"2\"/>",
                     x, y, w, kFrameH - 1, colour(n.name));
  std::size_t chars = static_cast<std::size_t>(w / 7);
  if (chars >= 3) {
    std::string label = n.name.size() <= chars ? n.name : n.name.substr(0, chars - 2) + "..";
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>", x + 3, y + kFrameH - 4,
                       xml_escape(label));
  }
  out += "</g>\n";
  double cx = x;
  std::vector<const Node*> kids;
  for (const auto& [k, c] : n.children) kids.push_back(c.get());
  for (const Node* c : kids) {
    draw(out, *c, cx, level + 1, scale, height, total);
    cx += static_cast<double>(c->value) * scale;
  }
}

}  // namespace

std::string render_flamegraph_svg(const HeapProfile& p, bool alloc, const std::string& title) {
  Node root;
  root.name = "all";
  for (const Site& s : p.sites) {
    std::uint64_t v = alloc ? s.alloc_bytes : s.live_bytes;
    if (!v) continue;
    root.value += v;
    Node* n = &root;
    for (const Frame& f : s.frames) {
      auto& c = n->children[f.function];
      if (!c) {
        c = std::make_unique<Node>();
        c->name = f.function;
      }
      c->value += v;
      n = c.get();
    }
  }
  int levels = depth_of(root);
  double height = kTitleH + levels * kFrameH + 2 * kPad;
  double scale = root.value ? (kWidth - 2 * kPad) / static_cast<double>(root.value) : 0;
  std::string out = fmt::format(
      "<?xml version=\"1.0\" standalone=\"no\"?>\n"
      "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\" "
      "viewBox=\"0 0 {:.0f} {:.0f}\">\n"
      "<style>text {{ font-family: Verdana, sans-serif; font-size: 11px; fill: #000; }}</style>\n"
      "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"#fdfdf6\"/>\n"
      "<text x=\"{:.0f}\" y=\"24\" style=\"font-size:16px\" text-anchor=\"middle\">{}</text>\n",
      kWidth, height, kWidth, height, kWidth / 2, xml_escape(title));
  if (root.value) draw(out, root, kPad, 0, scale, height, root.value);
  out += "</svg>\n";
  return out;
}

}  // namespace hakstat
