// test_frontend.cc — the front ends' acquisitions and their undo, on a real kernel.
//
// Usage: test_netns_frontend PATH-TO-TAPD [Catch2 arguments...]
//
// A front end acquires, in order, its channel (/dev/fuse or /dev/cuse), a libfuse session that takes the
// channel over, the event loop's watch, and (FUSE-mount mode) a mount of the channel on the directory.
// These tests make the steps fail for real, in this process — a missing directory, a regular file, a
// /dev/fuse that is not a FUSE device, no /dev/fuse or /dev/cuse at all — and check that the process is
// left with exactly the fds and the FUSE mounts it had before, and that a successful mount is undone
// when the front end goes. main() enters a throwaway network + mount namespace first, so whatever these
// tests mount or hide under /dev dies with it. A last case runs the daemon on a bad directory.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>

#include "cuse_session.h"
#include "fuse_mount.h"
#include "netns_test.h"
#include "tapcore/event_loop.h"

namespace {

using namespace netns_test;

// The fds this process has open (the directory stream's own fd not counted).
std::size_t open_fds() {
    DIR* d = ::opendir("/proc/self/fd");
    REQUIRE(d != nullptr);
    std::size_t n = 0;
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n - 1;
}

// The /proc/self/mountinfo lines of FUSE mounts (filesystem type fuse or fuse.*).
std::vector<std::string> fuse_mounts() {
    std::istringstream in(read_text("/proc/self/mountinfo"));
    std::vector<std::string> out;
    std::string line;
    while (std::getline(in, line)) {
        auto sep = line.find(" - ");
        if (sep == std::string::npos) continue;
        std::istringstream rest(line.substr(sep + 3));
        std::string fstype;
        rest >> fstype;
        if (fstype == "fuse" || fstype.rfind("fuse.", 0) == 0) out.push_back(line);
    }
    return out;
}

// What the process holds now; verify() checks that it holds the same later.
struct holdings {
    std::size_t fds = open_fds();
    std::vector<std::string> mounts = fuse_mounts();
    void verify() const {
        CHECK(open_fds() == fds);
        CHECK(fuse_mounts() == mounts);
    }
};

std::string make_dir() {
    char tmpl[] = "/tmp/tapd-frontend.XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    return tmpl;
}

// A mount this test made (under /dev): undone on every way out of the test.
class test_mount {
public:
    test_mount(const char* src, const char* target, const char* type, unsigned long flags) : target_(target) {
        INFO("mount " << src << " on " << target << ": " << std::strerror(errno));
        REQUIRE(::mount(src, target, type, flags, nullptr) == 0);
    }
    ~test_mount() { ::umount2(target_.c_str(), MNT_DETACH); }
    test_mount(const test_mount&) = delete;
    test_mount& operator=(const test_mount&) = delete;

private:
    std::string target_;
};

// Checks a failed fuse_mount::create: the errno, a message naming `what`, nothing left behind.
template <typename R>
void check_failed(const R& r, int code, const std::string& what, const holdings& before) {
    REQUIRE_FALSE(r);
    INFO("message: " << r.err().message);
    CHECK(r.err().code == code);
    CHECK(contains(r.err().message, what));
    before.verify();
}

}  // namespace

TEST_CASE("a FUSE mount that fails at the mount leaves no fd and no mount behind", "[badmount]") {
    tapd::event_loop loop;
    const std::string dir = make_dir();

    SECTION("the directory does not exist") {
        holdings before;
        auto m = tapd::fuse_mount::create(loop, dir + "/missing", {});
        check_failed(m, ENOENT, dir + "/missing", before);
    }
    SECTION("the mount point is a regular file") {
        const std::string file = dir + "/file";
        fd_guard f(::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        REQUIRE(f.get() >= 0);
        f.reset();
        holdings before;
        auto m = tapd::fuse_mount::create(loop, file, {});
        check_failed(m, ENOTDIR, file, before);
    }
    SECTION("/dev/fuse is not a FUSE device: channel and session exist when the mount fails") {
        test_mount fake("/dev/null", "/dev/fuse", nullptr, MS_BIND);
        holdings before;
        auto m = tapd::fuse_mount::create(loop, dir, {});
        check_failed(m, EINVAL, dir, before);
    }
}

TEST_CASE("without /dev/fuse or /dev/cuse the front ends fail with ENOENT and hold nothing", "[nochannel]") {
    tapd::event_loop loop;
    const std::string dir = make_dir();
    test_mount empty_dev("tapd-frontend-dev", "/dev", "tmpfs", MS_NOSUID);
    REQUIRE(::access("/dev/fuse", F_OK) != 0);
    REQUIRE(::access("/dev/cuse", F_OK) != 0);
    holdings before;

    auto m = tapd::fuse_mount::create(loop, dir, {});
    check_failed(m, ENOENT, "/dev/fuse", before);

    auto c = tapd::cuse_session::create_clone(
        loop, "tap", [] { return tapd::result<tapd::device*>(tapd::make_error(ENXIO, "unused")); },
        [](tapd::device*) {}, {});
    check_failed(c, ENOENT, "modprobe cuse", before);
}

TEST_CASE("a FUSE mount is what libfuse would mount, and goes with its front end", "[mount]") {
    tapd::event_loop loop;
    const std::string dir = make_dir();
    holdings before;

    auto m = tapd::fuse_mount::create(loop, dir, {});
    {
        INFO("message: " << (m ? "" : m.err().message));
        REQUIRE(m);
    }
    auto now = fuse_mounts();
    REQUIRE(now.size() == before.mounts.size() + 1);
    std::string line;
    for (const auto& l : now)
        if (contains(l, " " + dir + " ")) line = l;
    INFO("mountinfo: " << line);
    REQUIRE_FALSE(line.empty());
    // "<id> <parent> <dev> <root> <mount point> <options> ... - <type> <source> <super options>"
    CHECK(contains(line, " - fuse.tapd tapd "));
    CHECK(contains(line, "nosuid"));
    CHECK(contains(line, "nodev"));
    CHECK(contains(line, "user_id=" + std::to_string(::getuid())));
    CHECK(contains(line, "group_id=" + std::to_string(::getgid())));
    CHECK(contains(line, "allow_other"));
    CHECK(open_fds() == before.fds + 1);  // the channel

    m->reset();
    before.verify();
}

TEST_CASE("tapd on a bad mount directory exits 1 naming it, and leaves nothing behind", "[daemon_badmount]") {
    const std::string dir = make_dir() + "/missing";
    holdings before;
    // Bounded: a tapd that carried on past the failed mount would otherwise run until killed.
    std::string out = run("timeout 10 " + g_tapd + " --fuse-mount " + dir + " --device tap0 2>&1; echo \"exit=$?\"");
    INFO("tapd said:\n" << out);
    CHECK(contains(out, "exit=1"));
    CHECK(contains(out, dir));
    CHECK(contains(out, std::strerror(ENOENT)));
    CHECK_FALSE(interface_exists("tap0"));
    CHECK(fuse_mounts() == before.mounts);
}

int main(int argc, char** argv) {
    std::vector<char*> catch_args;
    if (int rc = netns_test::setup_tapd_test(argc, argv,
                                             {.needs_root = "(network and mount namespace, FUSE mounts)",
                                              .devices = {"/dev/fuse", "/dev/net/tun"},
                                              .tmpfs_name = "tapd-frontend-tmp"},
                                             catch_args))
        return rc;
    return Catch::Session().run(static_cast<int>(catch_args.size()), catch_args.data());
}
