// Compiled by g++ under LD_PRELOAD in tests/preload/gxx.sh, then run; deterministic output.
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <unordered_map>
#include <vector>

struct Shape {
  virtual ~Shape() = default;
  virtual double area() const = 0;
};
struct Rect : Shape {
  double w, h;
  Rect(double a, double b) : w(a), h(b) {}
  double area() const override { return w * h; }
};
struct Tri : Shape {
  double b, h;
  Tri(double x, double y) : b(x), h(y) {}
  double area() const override { return b * h / 2; }
};

int main() {
  std::uint64_t x = 88172645463325252ull;
  auto rnd = [&] { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x; };
  std::vector<std::string> words;
  for (int i = 0; i < 200000; ++i) words.push_back(std::to_string(rnd() % 100000) + "w");
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());
  std::map<std::size_t, int> by_len;
  for (const auto& w : words) by_len[w.size()]++;
  std::unordered_map<std::string, std::vector<int>> idx;
  for (int i = 0; i < 100000; ++i) idx[words[i % words.size()]].push_back(i);
  std::vector<std::unique_ptr<Shape>> shapes;
  for (int i = 0; i < 10000; ++i) {
    if (i % 2) shapes.push_back(std::make_unique<Rect>(i % 13, i % 7));
    else shapes.push_back(std::make_unique<Tri>(i % 11, i % 5));
  }
  double area = 0;
  for (const auto& s : shapes) area += s->area();
  std::cout << "unique words: " << words.size() << "\n";
  for (auto [len, n] : by_len) std::cout << "len " << len << ": " << n << "\n";
  std::cout << "index entries: " << idx.size() << ", total area: " << area << "\n";
  std::cout << "first: " << words.front() << ", last: " << words.back() << "\n";
  return 0;
}
