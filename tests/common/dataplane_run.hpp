#pragma once
// Runs the real vfgate-dataplane on net_pcap ports for a test: writes each port's input frames
// to a pcap, starts the process, waits (on its control socket) until every input frame has been
// received (or counted lost by the device: rx_nombuf), stops it with SIGTERM, and reads what
// each port sent from its output pcap.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <vfgate/common/jsonl.hpp>

#include "frames.hpp"

namespace vfgate::test {

class DataplaneRun {
  public:
    // A fresh temporary directory; `binary` is the vfgate-dataplane to run.
    explicit DataplaneRun(std::string binary);
    ~DataplaneRun();

    std::filesystem::path dir() const { return dir_; }
    std::string socket() const { return (dir_ / "dp.sock").string(); }

    // The uplink (first) and guest NIC lines of the config use these per-port devargs.
    std::string pcap_devargs(const std::string& port, int index) const;

    // Frames a port will receive.
    void input(const std::string& port, std::vector<Bytes> frames) {
        in_[port] = std::move(frames);
    }

    // Writes the config (`yaml`, where $DIR is replaced by dir()) and the input pcaps, then runs
    // the dataplane until all input is received. Returns its exit status (-1: didn't stop).
    int run(const std::string& yaml, bool hugepages = false);
    // Called by run() once all input is in and stats() is read, before SIGTERM: to look at the
    // running dataplane (its control socket, vfgatectl) while its counters stand still.
    void before_stop(std::function<void()> f) { before_stop_ = std::move(f); }

    // What `port` sent, in order (empty if nothing).
    std::vector<Bytes> output(const std::string& port) const;
    // The stats reply taken just before SIGTERM.
    const jsonl::Json& stats() const { return stats_; }
    std::uint64_t drops(const std::string& port, const std::string& reason) const;
    // Empty when every worker's counters in stats() account for every frame (packets_in +
    // copies = packets_out + drops), else what does not add up. Empty too if there are no stats.
    std::string accounting_gap() const;
    // A firewall counter from the firewall.rules reply taken just before SIGTERM: `rule` is a
    // rule id, "(default)" or "(established)"; ~0 if there is no such NIC or rule.
    std::uint64_t hits(const std::string& nic, const std::string& dir,
                       const std::string& rule) const;
    std::string log() const;

    // Starts the process and returns without waiting (for lifecycle tests): its pid.
    int spawn(const std::string& config_path, const std::vector<std::string>& extra = {});
    // Waits for the process to exit within `timeout`; returns its exit status or -1.
    int wait(int pid, std::chrono::milliseconds timeout);

  private:
    std::string binary_;
    std::filesystem::path dir_;
    std::map<std::string, std::vector<Bytes>> in_;
    jsonl::Json stats_;
    jsonl::Json rules_;
    std::function<void()> before_stop_;
};

void write_pcap(const std::filesystem::path& path, const std::vector<Bytes>& frames);
std::vector<Bytes> read_pcap(const std::filesystem::path& path);

}  // namespace vfgate::test
