// reconcile and release (vfgate/vfmgr/reconcile.hpp) on a fake sysfs and /proc: what is said,
// what is returned, what the state file ends up holding.
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vfgate/config/load.hpp>
#include <vfgate/vfmgr/reconcile.hpp>

namespace vfgate::vfmgr {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class Reconcile : public ::testing::Test {
  protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / ("vf_reconcile_test." + std::to_string(getpid()));
        fs::remove_all(root_);
        opts_.paths.sys = (root_ / "sys").string();
        opts_.paths.proc = (root_ / "proc").string();
        opts_.state_file = (root_ / "vfs.json").string();
        opts_.warn = [this](const std::string& w) { warned_.push_back(w); };
        fs::create_directories(root_ / "proc");
        pf("0000:01:00.0", "vfgtest0", 0);
    }
    // An SR-IOV PF, up, whose netdev the kernel doesn't know: its VFs' attributes can't be
    // read (a warning, not an error).
    void pf(const std::string& pci, const std::string& netdev, int vfs) {
        const fs::path dev = root_ / "sys/bus/pci/devices" / pci;
        fs::create_directories(dev / "net" / netdev);
        std::ofstream(dev / "sriov_totalvfs") << "7\n";
        std::ofstream(dev / "sriov_numvfs") << vfs << "\n";
        std::ofstream(dev / "sriov_drivers_autoprobe") << "1\n";
        fs::create_directories(root_ / "sys/class/net" / netdev);
        std::ofstream(root_ / "sys/class/net" / netdev / "flags") << "0x1003\n";
        std::ofstream(root_ / "sys/class/net" / netdev / "carrier") << "1\n";
        for (int i = 0; i < vfs; ++i) {
            const std::string vf = pci.substr(0, pci.size() - 4) + "10." + std::to_string(i);
            fs::create_directories(root_ / "sys/bus/pci/devices" / vf);
            fs::create_directory_symlink("../" + vf, dev / ("virtfn" + std::to_string(i)));
        }
    }
    void TearDown() override { fs::remove_all(root_); }

    static config::Config config(const std::string& pfs) {
        auto r = config::load_string("version: 1\npfs:\n" + pfs);
        EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].to_string());
        return r.ok() ? *r.config : config::Config{};
    }

    fs::path root_;
    ReconcileOptions opts_;
    std::vector<std::string> warned_;
    std::vector<std::string> said_;
    Say say_ = [this](const std::string& line) { said_.push_back(line); };
};

TEST_F(Reconcile, ObserveWarnsOfAttributesItCannotRead) {
    pf("0000:02:00.0", "vfgtest1", 1);
    auto o = observe(opts_, opts_.warn);
    ASSERT_TRUE(o) << o.error().to_string();
    ASSERT_EQ(o->pfs.size(), 2u);
    ASSERT_EQ(o->pfs[1].vfs.size(), 1u);
    EXPECT_FALSE(o->pfs[1].vfs[0].attrs);
    ASSERT_EQ(warned_.size(), 1u);
    EXPECT_THAT(warned_[0], testing::StartsWith("0000:02:00.0: "));
}

TEST_F(Reconcile, AHostAsDeclaredHasNothingToDo) {
    auto cfg = config("  - {name: pf0, device: \"0000:01:00.0\", num_vfs: 0}\n");
    auto p = plan_config(cfg, *observe(opts_, {}), opts_);
    ASSERT_TRUE(p) << p.error().to_string();
    EXPECT_THAT(p->actions, IsEmpty());
    auto r = reconcile(cfg, opts_, say_);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->done, 0u);
    EXPECT_EQ(r->notes, p->notes);
    ASSERT_FALSE(said_.empty());
    EXPECT_EQ(said_.back(), "nothing to do");
    EXPECT_FALSE(fs::exists(opts_.state_file)) << "nothing done, nothing written";
}

TEST_F(Reconcile, WhatStandsInTheWayIsTheError) {
    auto cfg = config("  - {name: pf0, device: \"0000:02:00.0\", num_vfs: 2}\n");
    auto r = reconcile(cfg, opts_, say_);
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr("no SR-IOV PF on this host for pf0"));
    EXPECT_THAT(said_, IsEmpty());
}

TEST_F(Reconcile, ReleasingAGuestWithoutVfsIsNotFound) {
    auto r = release("web", opts_, say_);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::kNotFound);
    EXPECT_THAT(said_, IsEmpty());
}

}  // namespace
}  // namespace vfgate::vfmgr
