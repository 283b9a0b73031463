// Text of `vfgatectl dataplane rules` and `dataplane offload` (dataplane_text.hpp).

#include "dataplane_text.hpp"

#include <cstdio>
#include <sstream>

#include <vfgate/common/table.hpp>
#include <vfgate/common/text.hpp>

namespace vfgate::ctl {

std::string text(double v) {
    char buf[32];
    static_cast<void>(std::snprintf(buf, sizeof buf, "%.1f", v));
    return buf;
}

std::string cell(const std::string& s) { return s.empty() ? "-" : escape_controls(s); }

std::string rules_text(const dataplane::RulesReply& nics) {
    Table t({"NIC", "DIR", "RULE", "ACTION", "HITS", "NIC-PKTS"});
    for (const auto& n : nics) {
        for (const auto& [dir, d] :
             {std::pair<const char*, const dataplane::DirectionRules&>{"ingress", n.ingress},
              {"egress", n.egress}}) {
            for (const auto& r : d.rules) {
                t.add({cell(n.nic), dir, cell(r.id), cell(r.action), text(r.hits),
                       text(r.nic_packets)});
            }
            t.add(
                {cell(n.nic), dir, "(default)", cell(d.default_action), text(d.default_hits), "-"});
            if (n.stateful) {
                t.add({cell(n.nic), dir, "(established)", "allow", text(d.established), "-"});
            }
        }
    }
    std::ostringstream out;
    t.print(out);
    return out.str();
}

namespace {

// An entry's RULE cell: the rule's id (or "default"); for the entries that are not a rule, its
// kind in parentheses, which no rule id can contain.
std::string rule_cell(const dataplane::OffloadEntry& e) {
    if (e.kind == "rule") return cell(e.rule);
    return "(" + escape_controls(e.kind) + ")";
}

std::string update_line(const std::optional<dataplane::OffloadUpdate>& u) {
    if (!u) return "last update: none\n";
    std::string line = "last update: generation " + text(u->generation) + ", " + text(u->added) +
                       " added, " + text(u->removed) + " removed, " + text(u->kept) + " kept, " +
                       text(u->refused) + " refused in " + text(u->ms) + " ms";
    if (u->swap_in_software) line += "; swap in software";
    if (!u->note.empty()) line += "; " + escape_controls(u->note);
    return line + "\n";
}

}  // namespace

std::string offload_text(const dataplane::OffloadReply& r) {
    std::ostringstream out;
    Table ports({"PORT", "DRIVER", "STATE", "FLOWS", "REFUSED", "NOTE"});
    for (const auto& p : r.ports) {
        ports.add({cell(p.name), cell(p.driver), cell(p.state), text(p.flows), text(p.refused),
                   cell(p.note)});
    }
    ports.print(out);
    out << "\n";
    Table entries(
        {"PORT", "NIC", "DIR", "RULE", "ACTION", "WHERE", "FLOWS", "NIC-PKTS", "WHY NOT"});
    for (const auto& e : r.entries) {
        entries.add({cell(e.port), cell(e.nic), cell(e.direction), rule_cell(e), cell(e.action),
                     cell(e.where), text(e.flows), text(e.nic_packets), cell(e.why_not)});
    }
    entries.print(out);
    out << "\n" << update_line(r.last_update);
    return out.str();
}

}  // namespace vfgate::ctl
