// The dataplane process's life: clean stop on SIGTERM and SIGINT, one clear error and nothing
// left behind when it can't start, no second instance on one control socket.

#include <fstream>
#include <set>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../common/dataplane_run.hpp"

namespace vfgate::test {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

class Lifecycle : public testing::Test {
  protected:
    DataplaneRun run_{VFGATE_DATAPLANE};

    std::string write_config(const std::string& body, bool hugepages = false, int memory_mb = 256) {
        auto path = run_.dir() / "vfgate.yaml";
        std::ofstream(path) << "version: 1\ndataplane:\n  hugepages: "
                            << (hugepages ? "true" : "false") << "\n  memory_mb: " << memory_mb
                            << "\n  control_socket: " << run_.socket() << "\n"
                            << body;
        return path.string();
    }

    std::string null_ports() {
        write_pcap(run_.dir() / "in.pcap", {eth("02:00:00:00:00:0a").bytes()});
        return "  uplinks:\n    - {name: up0, device: \"net_pcap0,rx_pcap=" +
               (run_.dir() / "in.pcap").string() +
               ",tx_pcap=" + (run_.dir() / "out.pcap").string() +
               "\"}\nguests:\n  - name: g\n    nics:\n"
               "      - {name: a, type: dpdk, devargs: net_null0, mac: \"02:00:00:00:00:0a\"}\n";
    }

    // Waits until the control socket answers status; false if the process exits first.
    bool wait_up(int pid) {
        for (int i = 0; i < 400; ++i) {
            if (jsonl::call(run_.socket(), "status", jsonl::Json::object(),
                            std::chrono::seconds(1))) {
                return true;
            }
            if (::kill(pid, 0) != 0) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        return false;
    }

    static bool runtime_dir_left(const std::string& prefix) {
        return fs::exists("/var/run/dpdk/" + prefix);
    }

    // EAL runtime directories of vfgate processes: none may outlive a failed start.
    static std::set<std::string> runtime_dirs() {
        std::set<std::string> out;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator("/var/run/dpdk", ec)) {
            if (e.path().filename().string().starts_with("vfgate-")) out.insert(e.path().string());
        }
        return out;
    }
    std::set<std::string> dirs_before_ = runtime_dirs();

    std::string prefix() {
        auto s = jsonl::call(run_.socket(), "status");
        return s ? (*s)["file_prefix"].get<std::string>() : "";
    }
};

TEST_F(Lifecycle, SigtermStopsCleanlyAndLeavesNothing) {
    int pid = run_.spawn(write_config(null_ports()));
    ASSERT_TRUE(wait_up(pid)) << run_.log();
    std::string pre = prefix();
    ASSERT_TRUE(runtime_dir_left(pre));
    ::kill(pid, SIGTERM);
    EXPECT_EQ(run_.wait(pid, std::chrono::seconds(20)), 0) << run_.log();
    EXPECT_FALSE(fs::exists(run_.socket()));
    EXPECT_FALSE(runtime_dir_left(pre));
    // The uplink's TX pcap is a complete file, and the frame forwarded to it... none here: the
    // one input frame went to the guest. Reading it back must work.
    EXPECT_TRUE(fs::exists(run_.dir() / "out.pcap"));
    EXPECT_TRUE(read_pcap(run_.dir() / "out.pcap").empty());
    EXPECT_THAT(run_.log(), HasSubstr("stopped"));
}

TEST_F(Lifecycle, SigintStopsCleanlyToo) {
    int pid = run_.spawn(write_config(null_ports()));
    ASSERT_TRUE(wait_up(pid)) << run_.log();
    ::kill(pid, SIGINT);
    EXPECT_EQ(run_.wait(pid, std::chrono::seconds(20)), 0) << run_.log();
    EXPECT_FALSE(fs::exists(run_.socket()));
}

TEST_F(Lifecycle, BadConfigIsOneClearErrorAndNoSocket) {
    int pid = run_.spawn(write_config("  worker_cores: [0]\n"));
    EXPECT_EQ(run_.wait(pid, std::chrono::seconds(20)), 1);
    EXPECT_THAT(run_.log(), HasSubstr("vfgate.yaml:6:18: dataplane.worker_cores[0]: found 0, the "
                                      "main core"));
    EXPECT_FALSE(fs::exists(run_.socket()));
}

TEST_F(Lifecycle, MissingDeviceIsOneClearErrorAndNothingLeft) {
    auto cfg = write_config(
        "  uplinks:\n    - {name: up0, device: \"net_af_packet0,iface=vfg-nosuchif\"}\n");
    int pid = run_.spawn(cfg);
    EXPECT_EQ(run_.wait(pid, std::chrono::seconds(20)), 1);
    EXPECT_THAT(run_.log(), HasSubstr("port up0: device net_af_packet0,iface=vfg-nosuchif did "
                                      "not probe"));
    EXPECT_FALSE(fs::exists(run_.socket()));
    EXPECT_EQ(runtime_dirs(), dirs_before_);
}

TEST_F(Lifecycle, NotEnoughHugepagesIsAClearError) {
    // More hugepage memory than the host has reserved (scripts/setup reserves 2 GiB).
    int pid = run_.spawn(write_config(null_ports(), true, 64 * 1024));
    EXPECT_EQ(run_.wait(pid, std::chrono::seconds(60)), 1);
    EXPECT_THAT(run_.log(), HasSubstr("EAL init failed"));
    EXPECT_THAT(run_.log(), HasSubstr("hugepages"));
    EXPECT_FALSE(fs::exists(run_.socket()));
    EXPECT_EQ(runtime_dirs(), dirs_before_);
    for (const auto& e : fs::directory_iterator("/dev/hugepages")) {
        EXPECT_THAT(e.path().filename().string(), testing::Not(HasSubstr("vfgate-"))) << "leaked";
    }
}

// A table that doesn't fit in memory_mb: the start fails naming the table, the worker and the
// two keys that fix it, and leaves nothing behind.
TEST_F(Lifecycle, TablesThatDontFitAreAClearError) {
    write_pcap(run_.dir() / "in.pcap", {eth("02:00:00:00:00:0a").bytes()});
    const auto body = [this](const std::string& table, const std::string& firewall) {
        return table + "  uplinks:\n    - {name: up0, device: \"net_pcap0,rx_pcap=" +
               (run_.dir() / "in.pcap").string() +
               "\"}\nguests:\n  - name: g\n    nics:\n"
               "      - {name: a, type: dpdk, devargs: net_null0, mac: \"02:00:00:00:00:0a\",\n"
               "         firewall: {stateful: " +
               firewall + "}}\n";
    };
    // 64M connections are about 6 GiB; 64M cached verdicts 2 GiB: neither fits in 256 MiB.
    int pid = run_.spawn(write_config(body("  conntrack: {capacity: 67108864}\n", "true")));
    EXPECT_EQ(run_.wait(pid, std::chrono::seconds(60)), 1);
    EXPECT_THAT(run_.log(), HasSubstr("(worker 0): raise dataplane.memory_mb or lower "
                                      "dataplane.conntrack.capacity"));
    EXPECT_FALSE(fs::exists(run_.socket()));
    pid = run_.spawn(write_config(body("  verdict_cache: 67108864\n", "false")));
    EXPECT_EQ(run_.wait(pid, std::chrono::seconds(60)), 1);
    EXPECT_THAT(run_.log(), HasSubstr("(worker 0): raise dataplane.memory_mb or lower "
                                      "dataplane.verdict_cache"));
    EXPECT_FALSE(fs::exists(run_.socket()));
    EXPECT_EQ(runtime_dirs(), dirs_before_);
}

TEST_F(Lifecycle, SecondInstanceOnOneSocketIsRefused) {
    auto cfg = write_config(null_ports());
    int first = run_.spawn(cfg);
    ASSERT_TRUE(wait_up(first)) << run_.log();
    int second = run_.spawn(cfg);
    EXPECT_EQ(run_.wait(second, std::chrono::seconds(20)), 1);
    EXPECT_THAT(run_.log(), HasSubstr("another process is serving"));
    EXPECT_TRUE(jsonl::call(run_.socket(), "status")) << "the first must still serve";
    ::kill(first, SIGTERM);
    EXPECT_EQ(run_.wait(first, std::chrono::seconds(20)), 0);
}

// Another DPDK process holds the file prefix this dataplane would use (here a first dataplane,
// given the second's prefix through eal_args): the error says so, instead of "EAL init failed:
// Success", and the other process's runtime directory is left alone.
TEST_F(Lifecycle, FilePrefixInUseByAnotherProcessIsNamed) {
    const auto second_cfg = run_.dir() / "second.yaml";
    std::ofstream(second_cfg) << "version: 1\ndataplane:\n  hugepages: false\n  memory_mb: 256\n"
                              << "  control_socket: " << (run_.dir() / "second.sock").string()
                              << "\n  uplinks:\n    - {name: up0, device: net_null5}\n";
    ASSERT_EQ(run_.wait(run_.spawn(second_cfg.string(), {"--print-eal"}), std::chrono::seconds(10)),
              0);
    const std::string log = run_.log();
    const auto at = log.find("--file-prefix\n");  // one argument a line
    ASSERT_NE(at, std::string::npos) << log;
    const std::string pre = log.substr(at + 14, log.find('\n', at + 14) - at - 14);

    int first =
        run_.spawn(write_config("  eal_args: [--file-prefix, " + pre + "]\n" + null_ports()));
    struct StopFirst {  // also when an assertion below returns early
        DataplaneRun& run;
        int pid;
        ~StopFirst() {
            ::kill(pid, SIGTERM);
            EXPECT_EQ(run.wait(pid, std::chrono::seconds(20)), 0);
        }
    } stop_first{run_, first};
    ASSERT_TRUE(wait_up(first)) << run_.log();
    EXPECT_EQ(prefix(), pre);  // status names the prefix in use
    int second = run_.spawn(second_cfg.string());
    EXPECT_EQ(run_.wait(second, std::chrono::seconds(20)), 1);
    EXPECT_THAT(run_.log(), HasSubstr("EAL init failed: the file prefix " + pre +
                                      " is in use by another DPDK process (pid " +
                                      std::to_string(first) + ")"));
    EXPECT_THAT(run_.log(), testing::Not(HasSubstr("Success")));
    EXPECT_TRUE(runtime_dir_left(pre)) << "the first process's runtime directory was removed";
    EXPECT_TRUE(jsonl::call(run_.socket(), "status")) << "the first must still serve";
}

TEST_F(Lifecycle, StaleSocketFromACrashIsReplaced) {
    // A socket file nobody listens on, as a killed dataplane leaves it.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", run_.socket().c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
    int pid = run_.spawn(write_config(null_ports()));
    ASSERT_TRUE(wait_up(pid)) << run_.log();
    ::kill(pid, SIGTERM);
    EXPECT_EQ(run_.wait(pid, std::chrono::seconds(20)), 0);
}

TEST_F(Lifecycle, UsageErrorsExit2) {
    EXPECT_EQ(run_.wait(run_.spawn(""), std::chrono::seconds(10)), 1);  // empty path: unreadable
    int pid = run_.spawn(write_config(null_ports()), {"--log-level", "loud"});
    EXPECT_EQ(run_.wait(pid, std::chrono::seconds(10)), 2);
}

TEST_F(Lifecycle, LegacyVfsAreListedAsSwitchedByTheNicWithAWarning) {
    auto cfg = write_config(null_ports() +
                            "      - {name: v, type: vf, pf: pf0, mac: \"02:00:00:00:00:0b\"}\n"
                            "pfs:\n  - {name: pf0, device: ens9, num_vfs: 2}\n");
    int pid = run_.spawn(cfg);
    ASSERT_TRUE(wait_up(pid)) << run_.log();
    auto ports = jsonl::call(run_.socket(), "ports");
    ASSERT_TRUE(ports);
    ASSERT_EQ(ports->size(), 3u);
    const auto& v = (*ports)[2];
    EXPECT_EQ(v["name"], "g/v");
    EXPECT_EQ(v["role"], "switched by the NIC");
    EXPECT_EQ(v["vf"], 0);
    EXPECT_THAT(run_.log(), HasSubstr("g/v: a VF of pf0 in legacy eswitch mode is switched by "
                                      "the NIC"));
    ::kill(pid, SIGTERM);
    EXPECT_EQ(run_.wait(pid, std::chrono::seconds(20)), 0);
}

// A `vf: auto` NIC is the VF vf-manager gave it (vfs.json in the run directory), not the one
// config order gives (VF 0 here); a state file that can't be read is named, and config order
// holds.
TEST_F(Lifecycle, AnAutoVfIsTheOneVfManagerGaveIt) {
    const auto cfg =
        write_config(null_ports() +
                     "      - {name: v, type: vf, pf: pf0, mac: \"02:00:00:00:00:0b\"}\n"
                     "pfs:\n  - {name: pf0, device: ens9, num_vfs: 2}\n");
    const auto state = run_.dir() / "vfs.json";
    for (const auto& [text, vf] :
         {std::pair{std::string(R"({"version": 1, "assignments": [)"
                                R"({"pf": "0000:00:04.0", "vf": 1, "guest": "g", "nic": "v"}]})"),
                    1},
          std::pair{std::string("{not json"), 0}}) {
        std::ofstream(state) << text;
        int pid = run_.spawn(cfg);
        ASSERT_TRUE(wait_up(pid)) << run_.log();
        auto ports = jsonl::call(run_.socket(), "ports");
        ASSERT_TRUE(ports);
        ASSERT_EQ(ports->size(), 3u);
        EXPECT_EQ((*ports)[2]["vf"], vf) << text;
        ::kill(pid, SIGTERM);
        EXPECT_EQ(run_.wait(pid, std::chrono::seconds(20)), 0);
    }
    EXPECT_THAT(run_.log(), HasSubstr(state.string() + ": not a vfgate-vf state file"));
    EXPECT_THAT(run_.log(), HasSubstr("`vf: auto` NICs take VFs in config order"));
    fs::remove(state);
}

TEST_F(Lifecycle, PrintEalShowsTheArguments) {
    int pid = run_.spawn(write_config(null_ports()), {"--print-eal"});
    EXPECT_EQ(run_.wait(pid, std::chrono::seconds(10)), 0);
    EXPECT_THAT(run_.log(), HasSubstr("--no-huge"));
    EXPECT_THAT(run_.log(), HasSubstr("net_null0"));
}

}  // namespace
}  // namespace vfgate::test
