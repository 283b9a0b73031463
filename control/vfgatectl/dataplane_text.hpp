#pragma once
// The text tables of `vfgatectl dataplane rules` and `dataplane offload`, from their replies:
// pure (no I/O), so that tests compare them with golden text. Strings from the dataplane (a
// PMD's error message, a rule id) are shown with control characters escaped; a field the reply
// lacks is "-". Internal to vfgatectl; control thread only (allocates).

#include <optional>
#include <string>
#include <type_traits>

#include <vfgate/dataplane/control.hpp>

namespace vfgate::ctl {

// How a value shows in a table: as the JSON reply has it, with "-" for what is absent (or
// null) and one decimal for fractions. Strings as they are (see cell() for escaped ones).
inline std::string text(const std::string& s) { return s; }
inline std::string text(bool b) { return b ? "true" : "false"; }
std::string text(double v);
template <class T>
requires std::is_integral_v<T> std::string text(T v) { return std::to_string(v); }
template <class T>
std::string text(const std::optional<T>& v) {
    return v ? text(*v) : "-";
}

// A string from the dataplane as a table cell: control characters escaped, "-" when empty.
std::string cell(const std::string& s);

// Per guest NIC and direction: each rule with its software hits and the packets its NIC flows
// dropped (NIC-PKTS), then the default and, for a stateful NIC, the established packets.
std::string rules_text(const dataplane::RulesReply& nics);

// The uplinks' offload state, the entries (what runs in a NIC and what stays in software, and
// why), and one line for the last update.
std::string offload_text(const dataplane::OffloadReply& r);

}  // namespace vfgate::ctl
