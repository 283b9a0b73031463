#pragma once
// Aligned text tables for the CLIs' human output (columns sized to their widest cell).

#include <ostream>
#include <string>
#include <vector>

namespace vfgate {

class Table {
  public:
    explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    void print(std::ostream& os) const {
        std::vector<std::size_t> width;
        for (const auto& r : rows_) {
            width.resize(std::max(width.size(), r.size()));
            for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
        }
        for (const auto& r : rows_) {
            std::string line;
            for (std::size_t i = 0; i < r.size(); ++i) {
                line += r[i];
                if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
            }
            os << line << "\n";
        }
    }

  private:
    std::vector<std::vector<std::string>> rows_;
};

}  // namespace vfgate
