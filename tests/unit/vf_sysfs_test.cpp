// vf-manager's sysfs adapter on fake sysfs and /proc trees, shaped like real PF drivers'.
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vfgate/vfmgr/host.hpp>

namespace vfgate::vfmgr {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FakeHost : public ::testing::Test {
  protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / ("vf_sysfs_test." + std::to_string(getpid()));
        fs::remove_all(root_);
        paths_.sys = (root_ / "sys").string();
        paths_.proc = (root_ / "proc").string();
        fs::create_directories(root_ / "sys/bus/pci/devices");
        fs::create_directories(root_ / "sys/bus/pci/drivers");
        fs::create_directories(root_ / "proc");
        write("sys/bus/pci/drivers_probe", "");
    }
    void TearDown() override { fs::remove_all(root_); }

    void write(const std::string& rel, const std::string& text) {
        fs::create_directories((root_ / rel).parent_path());
        std::ofstream(root_ / rel) << text;
    }
    std::string read(const std::string& rel) {
        std::ifstream in(root_ / rel);
        std::string s;
        std::getline(in, s);
        return s;
    }
    void link(const std::string& rel, const std::string& target) {
        fs::create_directories((root_ / rel).parent_path());
        fs::create_symlink(target, root_ / rel);
    }
    std::string dev(const std::string& pci) { return "sys/bus/pci/devices/" + pci; }
    void bind(const std::string& pci, const std::string& driver) {
        fs::create_directories(root_ / "sys/bus/pci/drivers" / driver);
        write("sys/bus/pci/drivers/" + driver + "/unbind", "");
        link(dev(pci) + "/driver", "../../drivers/" + driver);
    }
    // An igb-like PF: a netdev, VFs bound to igbvf with netdevs, IOMMU groups.
    void igb_pf(const std::string& pci, const std::string& netdev, int vfs) {
        pf("igb", "igbvf", 7, "0000:01:10.", pci, netdev, vfs);
    }
    // A PF of `driver` whose VFs (at VF_BUS + function) are bound to `vf_driver`.
    void pf(const std::string& driver, const std::string& vf_driver, int total,
            const std::string& vf_bus, const std::string& pci, const std::string& netdev, int vfs) {
        write(dev(pci) + "/sriov_totalvfs", std::to_string(total) + "\n");
        write(dev(pci) + "/sriov_numvfs", std::to_string(vfs) + "\n");
        write(dev(pci) + "/sriov_drivers_autoprobe", "1\n");
        bind(pci, driver);
        fs::create_directories(root_ / dev(pci) / "net" / netdev);
        write("sys/class/net/" + netdev + "/flags", "0x1003\n");
        write("sys/class/net/" + netdev + "/carrier", "1\n");
        for (int i = 0; i < vfs; ++i) {
            const std::string vf = vf_bus + std::to_string(2 * i);
            fs::create_directories(root_ / dev(vf));
            link(dev(pci) + "/virtfn" + std::to_string(i), "../" + vf);
            link(dev(vf) + "/iommu_group",
                 "../../../kernel/iommu_groups/" + std::to_string(10 + i));
            bind(vf, vf_driver);
            fs::create_directories(root_ / dev(vf) / "net" / (netdev + "v" + std::to_string(i)));
        }
    }

    fs::path root_;
    HostPaths paths_;
};

TEST_F(FakeHost, ReadsAnIgbPfAndItsVfs) {
    igb_pf("0000:01:00.0", "enp1s0", 2);
    fs::create_directories(root_ / dev("0000:00:1f.0"));  // a device without SR-IOV
    auto pfs = read_pfs(paths_, {});
    ASSERT_TRUE(pfs) << pfs.error().to_string();
    ASSERT_EQ(pfs->size(), 1U);
    const ObservedPf& pf = pfs->front();
    EXPECT_EQ(pf.pci, "0000:01:00.0");
    EXPECT_EQ(pf.netdev, "enp1s0");
    EXPECT_EQ(pf.driver, "igb");
    EXPECT_EQ(pf.total_vfs, 7U);
    EXPECT_EQ(pf.num_vfs, 2U);
    EXPECT_TRUE(pf.up);
    EXPECT_TRUE(pf.carrier);
    EXPECT_TRUE(pf.host_uses.empty());
    ASSERT_EQ(pf.vfs.size(), 2U);
    EXPECT_EQ(pf.vfs[1].pci, "0000:01:10.2");
    EXPECT_EQ(pf.vfs[1].driver, "igbvf");
    EXPECT_EQ(pf.vfs[1].netdev, "enp1s0v1");
    EXPECT_EQ(pf.vfs[1].iommu_group, 11);
    EXPECT_EQ(pf.vfs[1].holder, "");
}

TEST_F(FakeHost, PfsOfSeveralDriversSortedByAddress) {
    // An ixgbe port with VFs still on the host's ixgbevf, a ConnectX (mlx5_core) port whose VFs
    // went to vfio-pci (no netdev), and a second ixgbe port without VFs.
    pf("ixgbe", "ixgbevf", 63, "0000:3b:10.", "0000:3b:00.0", "ens1f0", 2);
    pf("mlx5_core", "vfio-pci", 8, "0000:5e:00.", "0000:5e:00.1", "ens2f1", 1);
    fs::remove_all(root_ / dev("0000:5e:00.0") / "net");
    pf("ixgbe", "ixgbevf", 63, "0000:3b:11.", "0000:3b:00.1", "ens1f1", 0);
    auto pfs = read_pfs(paths_, {});
    ASSERT_TRUE(pfs) << pfs.error().to_string();
    ASSERT_EQ(pfs->size(), 3U);
    EXPECT_EQ((*pfs)[0].pci, "0000:3b:00.0");
    EXPECT_EQ((*pfs)[0].total_vfs, 63U);
    EXPECT_EQ((*pfs)[0].vfs[1].driver, "ixgbevf");
    EXPECT_EQ((*pfs)[0].vfs[1].pci, "0000:3b:10.2");
    EXPECT_EQ((*pfs)[1].pci, "0000:3b:00.1");
    EXPECT_TRUE((*pfs)[1].vfs.empty());
    EXPECT_EQ((*pfs)[2].driver, "mlx5_core");
    ASSERT_EQ((*pfs)[2].vfs.size(), 1U);
    EXPECT_EQ((*pfs)[2].vfs[0].pci, "0000:5e:00.0");
    EXPECT_EQ((*pfs)[2].vfs[0].driver, "vfio-pci");
    EXPECT_EQ((*pfs)[2].vfs[0].netdev, "");
}

TEST_F(FakeHost, NumVfsBeyondTheVirtfnLinksReadsWhatExists) {
    igb_pf("0000:01:00.0", "enp1s0", 2);
    write(dev("0000:01:00.0") + "/sriov_numvfs", "3\n");  // a VF the kernel hasn't linked yet
    auto pfs = read_pfs(paths_, {});
    ASSERT_TRUE(pfs);
    EXPECT_EQ(pfs->front().num_vfs, 3U);
    EXPECT_EQ(pfs->front().vfs.size(), 2U);
}

TEST_F(FakeHost, NoPciBusIsAnErrorNamingTheDirectory) {
    fs::remove_all(root_ / "sys/bus/pci/devices");
    auto pfs = read_pfs(paths_, {});
    ASSERT_FALSE(pfs);
    EXPECT_THAT(pfs.error().to_string(), HasSubstr("sys/bus/pci/devices"));
}

TEST_F(FakeHost, PfOnAUserspaceDriverHasNoNetdev) {
    write(dev("0000:02:00.0") + "/sriov_totalvfs", "64\n");
    write(dev("0000:02:00.0") + "/sriov_numvfs", "0\n");
    bind("0000:02:00.0", "vfio-pci");
    auto pfs = read_pfs(paths_, {});
    ASSERT_TRUE(pfs);
    ASSERT_EQ(pfs->size(), 1U);
    EXPECT_EQ(pfs->front().driver, "vfio-pci");
    EXPECT_EQ(pfs->front().netdev, "");
    EXPECT_FALSE(pfs->front().up);
}

TEST_F(FakeHost, MarksWhatTheHostUses) {
    igb_pf("0000:01:00.0", "enp1s0", 0);
    HostNet net;
    net.default_route = {"enp1s0"};
    net.addresses["enp1s0"] = {"192.0.2.10"};
    auto pfs = read_pfs(paths_, net);
    ASSERT_TRUE(pfs);
    EXPECT_THAT(pfs->front().host_uses,
                ElementsAre("carries the default route", "has address 192.0.2.10"));
}

TEST_F(FakeHost, FindsTheProcessHoldingAVfsVfioGroup) {
    igb_pf("0000:01:00.0", "enp1s0", 2);
    write("proc/4242/comm", "qemu-system-x86\n");
    link("proc/4242/fd/17", "/dev/vfio/11");
    link("proc/4242/fd/3", "/dev/null");
    link("proc/self", "4242");  // not a pid directory name
    auto pfs = read_pfs(paths_, {});
    ASSERT_TRUE(pfs);
    EXPECT_EQ(pfs->front().vfs[0].holder, "");
    EXPECT_EQ(pfs->front().vfs[1].holder, "qemu-system-x86 (pid 4242)");
}

TEST_F(FakeHost, ReadsDefaultRoutesFromProc) {
    write("proc/net/route",
          "Iface\tDestination\tGateway\tFlags\n"
          "eth0\t00000000\t0102000A\t0003\n"
          "eth1\t0000000A\t00000000\t0001\n");
    write("proc/net/ipv6_route",
          "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
          "fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth2\n"
          "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 "
          "00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth3\n");
    HostNet net = read_host_net(paths_);
    EXPECT_THAT(net.default_route, ElementsAre("eth0", "eth2"));
}

TEST_F(FakeHost, NumVfsGoesThroughZero) {
    igb_pf("0000:01:00.0", "enp1s0", 2);
    ASSERT_TRUE(set_num_vfs(paths_, "0000:01:00.0", 3));
    EXPECT_EQ(read(dev("0000:01:00.0") + "/sriov_numvfs"), "3");
    ASSERT_TRUE(set_autoprobe(paths_, "0000:01:00.0", false));
    EXPECT_EQ(read(dev("0000:01:00.0") + "/sriov_drivers_autoprobe"), "0");
}

TEST_F(FakeHost, WriteFailureNamesTheFile) {
    auto r = set_num_vfs(paths_, "0000:09:00.0", 2);  // no such device
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr("0000:09:00.0/sriov_numvfs"));
}

TEST_F(FakeHost, BindWritesOverrideUnbindsAndProbes) {
    igb_pf("0000:01:00.0", "enp1s0", 1);
    auto vf = vf_pci(paths_, "0000:01:00.0", 0);
    ASSERT_TRUE(vf);
    EXPECT_EQ(*vf, "0000:01:10.0");
    // The fake kernel binds nothing: the adapter notices and says so.
    auto r = bind_driver(paths_, *vf, "vfio-pci");
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(),
                HasSubstr("bind 0000:01:10.0 to vfio-pci: the device is bound to igbvf after "
                          "probing (is the vfio-pci module loaded?)"));
    EXPECT_EQ(read(dev(*vf) + "/driver_override"), "vfio-pci");
    EXPECT_EQ(read("sys/bus/pci/drivers/igbvf/unbind"), "0000:01:10.0");
    EXPECT_EQ(read("sys/bus/pci/drivers_probe"), "0000:01:10.0");
    // Already bound to the driver: nothing to do.
    EXPECT_TRUE(bind_driver(paths_, *vf, "igbvf"));
}

TEST_F(FakeHost, MissingVf) {
    igb_pf("0000:01:00.0", "enp1s0", 1);
    auto vf = vf_pci(paths_, "0000:01:00.0", 5);
    ASSERT_FALSE(vf);
    EXPECT_THAT(vf.error().to_string(), HasSubstr("virtfn5"));
}

}  // namespace
}  // namespace vfgate::vfmgr
