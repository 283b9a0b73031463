#pragma once
// vfgate::Error and Result<T>: how the control plane reports failure.
//
// Errors are values, never exceptions across a public header. An Error has a kind (for
// callers that branch on it), an errno when a system call failed, a message, and a chain of
// context added by each caller on the way up, so that it prints like
//   bind VF 0000:03:02.1 to vfio-pci: write .../driver_override: Permission denied (EACCES)
// Used on control threads only; never on the packet fast path (it allocates).

#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace vfgate {

enum class ErrorKind {
    kInvalidArgument,  // the caller's input is wrong (config, CLI argument, request)
    kNotFound,         // a file, device or object that should exist does not
    kConflict,         // the request clashes with the current state
    kUnsupported,      // the host, driver or device can't do it
    kSystem,           // a system call failed; errno says why
    kInternal,         // a bug in vfgate
};

class Error {
  public:
    Error(ErrorKind kind, std::string message, int sys_errno = 0);

    // An error for a failed system call; `what` says what was attempted.
    static Error from_errno(int sys_errno, std::string what);

    // Adds an outer layer of context ("while doing X"), printed before the message.
    Error& context(std::string outer) &;
    Error&& context(std::string outer) &&;

    ErrorKind kind() const { return kind_; }
    int sys_errno() const { return errno_; }
    const std::string& message() const { return message_; }

    // The whole chain, outermost context first.
    std::string to_string() const;

  private:
    ErrorKind kind_;
    int errno_;
    std::string message_;
    std::vector<std::string> context_;  // innermost last
};

template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(ErrorKind kind, std::string message) {
    return tl::unexpected<Error>(Error(kind, std::move(message)));
}

// "Permission denied (EACCES)"; falls back to the number for an unknown errno.
std::string errno_text(int sys_errno);

}  // namespace vfgate
