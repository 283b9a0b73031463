#pragma once
// Reading a whole file that a user or another process may have put anything at: a config, a
// state file. Used by config's loader and vf-manager's state file, on control threads (blocking
// I/O, allocates).
//
// Only regular files are read. The file is opened with O_NONBLOCK and O_NOCTTY and checked with
// fstat before any read, so a FIFO without a writer, a terminal or a device at the path is
// refused at once instead of blocking or becoming the process's controlling terminal.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <vfgate/common/error.hpp>

namespace vfgate {

// The file's contents. Errors (the path itself is left for the caller to add as context):
//   kNotFound, with errno ENOENT:  "cannot open: No such file or directory (ENOENT)"
//   kSystem, with errno:           "cannot open: ...", "cannot read: ..."
//   kInvalidArgument:              "cannot read: not a regular file (a FIFO)"
//                                  "found 40000000 bytes; expected at most 33554432 bytes"
Result<std::string> read_regular_file(const std::string& path, std::size_t max_bytes);

// Writes `text` to `path` whole or not at all: to a temporary file beside it (its parent made if
// missing), checked, then renamed over it. On any failure (a full filesystem) the file at `path`
// is left as it was and the temporary one removed; the error names the file and errno.
Result<void> write_file_atomic(const std::string& path, std::string_view text);

// Keeps a log that a process appends to (O_APPEND) under `max_bytes`: once it is larger, it is
// copied to `path`.1 (replacing the older one) and emptied; the writer goes on at its new end.
// Lines written between the copy and the truncation are lost. True when it rotated; false when
// the file is missing or small enough. A copy that fails (a full filesystem) still empties it,
// so that the log can't keep the filesystem full, and the error says so.
Result<bool> rotate_log(const std::string& path, std::int64_t max_bytes);

}  // namespace vfgate
