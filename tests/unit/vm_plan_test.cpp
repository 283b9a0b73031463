// vm-launcher's planner: the QEMU command line from a config and hand-written host facts.
// Command lines are compared with golden files in tests/unit/golden/vm_plan/ (one argument a
// line; VFGATE_UPDATE_GOLDEN=1 rewrites them).
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vfgate/config/load.hpp>
#include <vfgate/vm-launcher/plan.hpp>

#include "../common/golden.hpp"

namespace vfgate::vm {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kGoldenDir = std::string(VFGATE_SOURCE_ROOT) + "/tests/unit/golden/vm_plan/";

config::Config load(const std::string& text) {
    config::LoadResult r = config::load_string(text, "test.yaml");
    if (!r.ok()) {
        for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
        return {};
    }
    return *r.config;
}

// Two guests: `small` boots a kernel with a vhost-user NIC and a dpdk NIC; `vnf` boots a disk
// image, pinned, with a VF.
std::string config_text(const std::string& small_extra = "", const std::string& vnf_extra = "") {
    return R"(version: 1
dataplane:
  hugepages: false
  control_socket: /run/vfgate test/dp.sock
  uplinks:
    - {name: up0, device: "net_null0"}
pfs:
  - {name: pf0, device: "0000:01:00.0", num_vfs: 4}
guests:
  - name: small
    vcpus: 1
    memory_mb: 256
    boot: {kernel: /img/vmlinuz, initrd: /img/initrd.gz, cmdline: "console=ttyS0 vfgate.ip=eth0,10.0.0.2/24"}
)" + small_extra +
           R"(
    nics:
      - {name: eth0, type: vhost-user, mac: "52:54:00:00:00:02", vlan: 100}
      - {name: wire, type: dpdk, devargs: "net_af_packet1,iface=veth1", mac: "52:54:00:00:00:03"}
  - name: vnf
    vcpus: 2
    memory_mb: 1024
    cpu_pinning: [2, 3]
    restart: always
    boot: {image: "/var/lib/vfgate/vnf,1.qcow2"}
)" + vnf_extra +
           R"(
    nics:
      - {name: data0, type: vf, pf: pf0, mac: "52:54:00:00:01:01", vlan: 200}
  - name: elsewhere
    nics:
      - {name: eth0, type: vhost-user, mac: "52:54:00:00:09:01"}
)";
}

HostFacts tcg_host() {
    HostFacts f;
    f.kvm = {false, "a guest kernel under KVM did not finish booting within 20 s"};
    f.cpus = {0, 1, 2, 3};
    f.mem_available_mb = 8192;
    f.files["/img/vmlinuz"] = {true, "", ""};
    f.files["/img/initrd.gz"] = {true, "", ""};
    f.files["/var/lib/vfgate/vnf,1.qcow2"] = {true, "qcow2", ""};
    f.vf_state_file = "/run/vfgate/vfs.json";
    VfDevice vf;
    vf.pci = "0000:01:10.2";
    vf.driver = "vfio-pci";
    vf.iommu_group = 17;
    f.vfs["data0"] = vf;
    return f;
}

HostFacts kvm_host() {
    HostFacts f = tcg_host();
    f.kvm = {true, "a guest kernel booted under KVM in 900 ms"};
    f.hugepage_dir = "/dev/hugepages";
    f.hugepages_free_mb = 4096;
    return f;
}

std::string lines(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) out += a + "\n";
    return out;
}

void expect_golden(const std::string& name, const std::string& text) {
    vfgate::testing::expect_golden(kGoldenDir + name + ".txt", text);
}

Result<GuestPlan> plan(const std::string& text, const std::string& guest, const HostFacts& f) {
    return plan_guest(load(text), guest, f, "/run/vfgate/guests");
}

TEST(VmPlan, KernelBootOnTcgWithVhostUserAndAnUnattachedDpdkNic) {
    auto p = plan(config_text(), "small", tcg_host());
    ASSERT_TRUE(p) << p.error().to_string();
    expect_golden("kernel_vhost_tcg", lines(p->argv));
    EXPECT_EQ(p->accel, config::Accel::kTcg);
    EXPECT_FALSE(p->hugepages);
    ASSERT_EQ(p->unattached.size(), 1U);
    EXPECT_EQ(p->unattached[0].nic, "wire");
    EXPECT_THAT(p->unattached[0].reason, HasSubstr("net_af_packet1,iface=veth1"));
    // accel auto on a host where KVM does not work: TCG, and the user is told why.
    ASSERT_EQ(p->warnings.size(), 1U);
    EXPECT_THAT(p->warnings[0], HasSubstr("KVM is unusable"));
    EXPECT_THAT(p->warnings[0], HasSubstr("within 20 s"));
    EXPECT_EQ(p->restart, config::RestartPolicy::kOnFailure);
    EXPECT_EQ(p->paths.qmp, "/run/vfgate/guests/small/qmp.sock");
}

TEST(VmPlan, ImageOnKvmWithHugepagesAVfAndPinning) {
    auto p = plan(config_text(), "vnf", kvm_host());
    ASSERT_TRUE(p) << p.error().to_string();
    expect_golden("image_vf_kvm_hugepages", lines(p->argv));
    EXPECT_EQ(p->accel, config::Accel::kKvm);
    EXPECT_TRUE(p->hugepages);
    EXPECT_EQ(p->cpu_pinning, (std::vector<int>{2, 3}));
    EXPECT_EQ(p->restart, config::RestartPolicy::kAlways);
    EXPECT_TRUE(p->warnings.empty());
}

TEST(VmPlan, ARawImageAndTcgAskedForExplicitly) {
    HostFacts f = kvm_host();
    f.files["/var/lib/vfgate/vnf,1.qcow2"].format = "raw";
    auto p = plan(config_text("", "    accel: tcg\n"), "vnf", f);
    ASSERT_TRUE(p) << p.error().to_string();
    const std::string argv = lines(p->argv);
    EXPECT_THAT(argv, HasSubstr("file=/var/lib/vfgate/vnf,,1.qcow2,format=raw,if=virtio\n"));
    EXPECT_THAT(argv, HasSubstr("-accel\ntcg\n-cpu\nmax\n"));
    EXPECT_TRUE(p->warnings.empty()) << "tcg was asked for: nothing to warn about";
}

TEST(VmPlan, TooFewHugepagesFallsBackToSharedMemoryWithAWarning) {
    HostFacts f = kvm_host();
    f.hugepages_free_mb = 512;
    auto p = plan(config_text(), "vnf", f);
    ASSERT_TRUE(p) << p.error().to_string();
    EXPECT_FALSE(p->hugepages);
    EXPECT_THAT(lines(p->argv), HasSubstr("memory-backend-memfd,id=mem0,size=1024M,share=on\n"));
    ASSERT_EQ(p->warnings.size(), 1U);
    EXPECT_THAT(p->warnings[0], HasSubstr("512 MiB of hugepages free, the guest needs 1024"));
}

TEST(VmPlan, KvmAskedForWhereItDoesNotWorkIsAnError) {
    auto p = plan(config_text("    accel: kvm\n"), "small", tcg_host());
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().message(),
              "guests[0] (small): accel: kvm, but KVM is unusable on this host: a guest kernel "
              "under KVM did not finish booting within 20 s; expected accel: auto or tcg here");
}

TEST(VmPlan, EveryProblemOfAGuestIsReportedAtOnce) {
    HostFacts f = tcg_host();
    f.files.erase("/img/vmlinuz");
    f.files["/img/initrd.gz"].error = "Permission denied (EACCES)";
    f.cpus = {0, 1};
    f.mem_available_mb = 100;
    auto p = plan(config_text(), "small", f);
    ASSERT_FALSE(p);
    const std::string m = p.error().message();
    EXPECT_THAT(m, HasSubstr("guests[0] (small): memory_mb: 256 MiB, but the host has 100 MiB "
                             "available and 0 MiB of hugepages free"));
    EXPECT_THAT(m, HasSubstr("guests[0] (small): boot.kernel: /img/vmlinuz: no such file"));
    EXPECT_THAT(m, HasSubstr("guests[0] (small): boot.initrd: /img/initrd.gz: Permission denied"));
    auto pinned = plan(config_text(), "vnf", f);
    ASSERT_FALSE(pinned);
    EXPECT_THAT(pinned.error().message(),
                HasSubstr("guests[1] (vnf): cpu_pinning: CPU 2, 3 not on this host; expected CPUs "
                          "among 0, 1"));
}

TEST(VmPlan, AVfMustBeAssignedOnVfioAndAloneInItsGroup) {
    HostFacts f = tcg_host();
    f.vfs.clear();
    auto none = plan(config_text(), "vnf", f);
    ASSERT_FALSE(none);
    EXPECT_THAT(none.error().message(),
                HasSubstr("guests[1] (vnf): nics data0: no VF assigned to it in "
                          "/run/vfgate/vfs.json; expected `vfgate-vf apply`"));

    f = tcg_host();
    f.vfs["data0"].driver = "igbvf";
    auto host_driver = plan(config_text(), "vnf", f);
    ASSERT_FALSE(host_driver);
    EXPECT_THAT(host_driver.error().message(),
                HasSubstr("nics data0: VF 0000:01:10.2 is bound to igbvf; expected vfio-pci"));

    f = tcg_host();
    f.vfs["data0"].group_peers = {{"0000:01:10.4", "igbvf"}, {"0000:00:01.0", "pcieport"}};
    auto shared = plan(config_text(), "vnf", f);
    ASSERT_FALSE(shared);
    EXPECT_THAT(shared.error().message(),
                HasSubstr("VF 0000:01:10.2 shares IOMMU group 17 with 0000:01:10.4, bound to "
                          "igbvf"));
    EXPECT_THAT(shared.error().message(), Not(HasSubstr("pcieport")));

    f = tcg_host();
    f.vfs["data0"].iommu_group.reset();
    auto no_iommu = plan(config_text(), "vnf", f);
    ASSERT_FALSE(no_iommu);
    EXPECT_THAT(no_iommu.error().message(), HasSubstr("has no IOMMU group"));
}

TEST(VmPlan, GuestsWithoutBootAndUnknownGuestsAreRefusedByName) {
    auto elsewhere = plan(config_text(), "elsewhere", tcg_host());
    ASSERT_FALSE(elsewhere);
    EXPECT_THAT(elsewhere.error().message(),
                HasSubstr("guests[2] (elsewhere) has no boot section: it is managed elsewhere"));
    auto unknown = plan(config_text(), "nope", tcg_host());
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().message(),
              "no guest 'nope' in the config; expected one of small, vnf, elsewhere");
    EXPECT_EQ(unknown.error().kind(), ErrorKind::kNotFound);
}

TEST(VmPlan, TheSameInputGivesTheSameCommandLine) {
    auto a = plan(config_text(), "vnf", kvm_host());
    auto b = plan(config_text(), "vnf", kvm_host());
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->argv, b->argv);
}

TEST(VmPlan, QemuEscapeDoublesCommas) {
    EXPECT_EQ(qemu_escape("a,b,,c"), "a,,b,,,,c");
    EXPECT_EQ(qemu_escape("plain"), "plain");
}

}  // namespace
}  // namespace vfgate::vm
