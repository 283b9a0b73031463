#pragma once
// The control protocol of vfgate's daemons: JSON lines over a Unix stream socket.
//
// Each request is one line {"method": M, "params": {...}}; each reply one line,
// {"ok": true, "result": ...} or {"ok": false, "error": "..."}. Used by the dataplane's control
// server and by vfgatectl; control threads only (allocates, blocks on the socket).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <vfgate/common/error.hpp>

namespace vfgate::jsonl {

using Json = nlohmann::json;

// Longest line accepted in either direction.
inline constexpr std::size_t kMaxLine = 1u << 20;

struct Request {
    std::string method;
    Json params = Json::object();
};

// Parses one request line; the error says what was wrong with it.
Result<Request> parse_request(std::string_view line);

std::string ok_reply(const Json& result);
std::string error_reply(std::string_view message);

// Splits a byte stream into lines. Bytes go in with feed(); next() returns complete lines.
class LineBuffer {
  public:
    void feed(std::string_view bytes) { buf_.append(bytes); }
    std::optional<std::string> next();
    // True when the unfinished line is already longer than kMaxLine.
    bool overflowed() const {
        return buf_.size() > kMaxLine && buf_.find('\n') == std::string::npos;
    }

  private:
    std::string buf_;
};

// Sends one request to the server at `socket_path` and returns its result, or its error as an
// Error (kind kInvalidArgument for {"ok": false}, kSystem for socket failures).
Result<Json> call(const std::string& socket_path, std::string_view method,
                  const Json& params = Json::object(),
                  std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace vfgate::jsonl
