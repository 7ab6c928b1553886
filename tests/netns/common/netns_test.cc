// netns_test.cc — the pieces tests/netns/*/test_*.cc share; see netns_test.h.
#include "netns_test.h"

#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace netns_test {

std::string g_tapd;
int g_tapd_fd = -1;
std::atomic<pid_t> g_tapd_pid{0};

long ms_since(clock_type::time_point t0) {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0).count());
}

// ---------------------------------------------------------------------------------------------------
// Before Catch runs
// ---------------------------------------------------------------------------------------------------

int skip_unless_root(const char* why) {
    if (geteuid() != 0) {
        std::printf("SKIP: needs root %s\n", why);
        return exit_skip;
    }
    return 0;
}

int skip_unless_usable(const char* path) {
    if (::access(path, R_OK | W_OK) != 0) {
        std::printf("SKIP: %s not usable: %s\n", path, std::strerror(errno));
        return exit_skip;
    }
    return 0;
}

int skip_unless_iproute2(const char* why) {
    if (std::system("ip -V >/dev/null 2>&1") != 0) {
        std::printf("SKIP: ip(8) from iproute2 is needed%s\n", why);
        return exit_skip;
    }
    return 0;
}

int enter_netns() {
    if (::unshare(CLONE_NEWNET) != 0) {
        std::printf("SKIP: unshare(CLONE_NEWNET): %s\n", std::strerror(errno));
        return exit_skip;
    }
    return 0;
}

int enter_netns_and_mountns(const char* tmpfs_name) {
    if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
        std::printf("SKIP: unshare(CLONE_NEWNET|CLONE_NEWNS): %s\n", std::strerror(errno));
        return exit_skip;
    }
    if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        std::printf("SKIP: making / private in the new mount namespace: %s\n", std::strerror(errno));
        return exit_skip;
    }
    if (::mount(tmpfs_name, "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m") != 0)
        std::fprintf(stderr, "note: private tmpfs on /tmp failed (%s); using the shared /tmp\n", std::strerror(errno));
    return 0;
}

int setup_tapd_test(int argc, char** argv, const tapd_test_setup& s, std::vector<char*>& catch_args) {
    if (int rc = skip_unless_root(s.needs_root)) return rc;
    for (const char* dev : s.devices)
        if (int rc = skip_unless_usable(dev)) return rc;
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s PATH-TO-TAPD [catch2 args]\n", argv[0]);
        return 2;
    }
    g_tapd = argv[1];
    if (::access(g_tapd.c_str(), X_OK) != 0) {
        std::fprintf(stderr, "%s: not executable: %s\n", g_tapd.c_str(), std::strerror(errno));
        return 2;
    }
    g_tapd_fd = ::open(g_tapd.c_str(), O_RDONLY | O_CLOEXEC);
    if (g_tapd_fd < 0) {
        std::fprintf(stderr, "%s: %s\n", g_tapd.c_str(), std::strerror(errno));
        return 2;
    }
    if (int rc = skip_unless_iproute2()) return rc;
    if (int rc = enter_netns_and_mountns(s.tmpfs_name)) return rc;
    if (s.prepare)
        if (int rc = s.prepare()) return rc;
    catch_args.assign({argv[0]});
    for (int i = 2; i < argc; ++i) catch_args.push_back(argv[i]);
    return 0;
}

// ---------------------------------------------------------------------------------------------------
// Shell and interface helpers
// ---------------------------------------------------------------------------------------------------

std::string run(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return out;
    std::array<char, 4096> buf{};
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    pclose(p);
    return out;
}

int sh(const std::string& cmd) {
    int st = std::system(cmd.c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

bool mounted(const std::string& dir) {
    std::istringstream in(read_text("/proc/self/mounts"));
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream l(line);
        std::string src, target;
        l >> src >> target;
        if (target == dir) return true;
    }
    return false;
}

int ifindex_of(const std::string& name) { return static_cast<int>(::if_nametoindex(name.c_str())); }
bool interface_exists(const std::string& name) { return ifindex_of(name) != 0; }

std::optional<mac_t> if_mac(const std::string& name) {
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return std::nullopt;
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    int rc = ::ioctl(s, SIOCGIFHWADDR, &ifr);
    ::close(s);
    if (rc < 0) return std::nullopt;
    mac_t m{};
    std::memcpy(m.data(), ifr.ifr_hwaddr.sa_data, 6);
    return m;
}

std::optional<if_counters> if_stats(const std::string& name) {
    // "  name: rx_bytes rx_packets rx_errs rx_drop fifo frame compressed multicast tx_bytes tx_packets
    //  tx_errs tx_drop ..."
    std::istringstream in(read_text("/proc/self/net/dev"));
    std::string line;
    while (std::getline(in, line)) {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::istringstream n(line.substr(0, colon));
        std::string ifname;
        n >> ifname;
        if (ifname != name) continue;
        std::istringstream v(line.substr(colon + 1));
        unsigned long long f[12] = {};
        for (auto& x : f) v >> x;
        if (!v) return std::nullopt;
        return if_counters{.rx_packets = f[1], .rx_dropped = f[3], .tx_packets = f[9], .tx_dropped = f[11]};
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------------
// Frame building and parsing
// ---------------------------------------------------------------------------------------------------

void put16(bytes& b, std::uint16_t v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
}

std::uint16_t get16(const bytes& b, std::size_t off) {
    return static_cast<std::uint16_t>((b.at(off) << 8) | b.at(off + 1));
}

std::string mac_str(const mac_t& m) {
    char s[18];
    std::snprintf(s, sizeof s, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return s;
}

std::string hex(const bytes& b, std::size_t max) {
    std::string s;
    char h[4];
    for (std::size_t i = 0; i < b.size() && i < max; ++i) {
        std::snprintf(h, sizeof h, "%02x", b[i]);
        s += h;
        if (i % 2) s += ' ';
    }
    if (b.size() > max) s += "...";
    return s;
}

void eth_header(bytes& f, const mac_t& dst, const mac_t& src, std::uint16_t type) {
    put(f, dst);
    put(f, src);
    put16(f, type);
}

bytes arp_request(const mac_t& sender_mac, const ip4_t& sender_ip, const ip4_t& target) {
    bytes f;
    eth_header(f, bcast_mac, sender_mac, ETH_P_ARP);
    put16(f, 1);       // htype Ethernet
    put16(f, 0x0800);  // ptype IPv4
    f.push_back(6);
    f.push_back(4);
    put16(f, 1);  // request
    put(f, sender_mac);
    put(f, sender_ip);
    put(f, mac_t{});
    put(f, target);
    return f;
}

bytes with_vnet(const bytes& frame, std::size_t hdr) {
    bytes b(hdr, 0);
    b.insert(b.end(), frame.begin(), frame.end());
    return b;
}

bool vnet_hdr_plain(const bytes& b, std::size_t hdr) {
    if (b.size() < hdr) return false;
    if (b[0] != 0 && b[0] != 2) return false;
    for (std::size_t i = 1; i < hdr; ++i)
        if (b[i] != 0) return false;
    return true;
}

// ---------------------------------------------------------------------------------------------------
// RAII bits and the watchdog
// ---------------------------------------------------------------------------------------------------

void fd_guard::reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

watchdog::watchdog(pid_t pid, std::chrono::milliseconds limit) : thread_([this, pid, limit] {
    std::unique_lock lk(m_);
    if (!cv_.wait_for(lk, limit, [this] { return disarmed_; })) {
        fired_ = true;
        if (pid > 0) ::kill(pid, SIGKILL);
    }
}) {}

void watchdog::disarm() {
    {
        std::lock_guard lk(m_);
        disarmed_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

// ---------------------------------------------------------------------------------------------------
// The fixture
// ---------------------------------------------------------------------------------------------------

tapd_process::~tapd_process() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int st;
        ::waitpid(pid_, &st, 0);
        pid_ = -1;
    }
    g_tapd_pid = 0;
    if (!dir_.empty()) {
        if (mounted(dir_)) ::umount2(dir_.c_str(), MNT_DETACH);
        ::rmdir(dir_.c_str());
    }
    if (!log_.empty()) ::unlink(log_.c_str());
}

void tapd_process::start(const std::vector<std::string>& devices) {
    std::string tmpl_s = "/tmp/" + tmp_prefix_ + ".XXXXXX";
    std::vector<char> tmpl(tmpl_s.begin(), tmpl_s.end());
    tmpl.push_back('\0');
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir_ = tmpl.data();
    log_ = dir_ + ".stderr";
    int errfd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(errfd >= 0);
    std::vector<std::string> args = {g_tapd, "--fuse-mount", dir_};
    for (const auto& d : devices) {
        args.push_back("--device");
        args.push_back(d);
    }
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // Dies with the test (e.g. a CTest timeout), so no tapd outlives it.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        ::dup2(errfd, 2);
        int devnull = ::open("/dev/null", O_RDWR);
        ::dup2(devnull, 0);
        ::dup2(devnull, 1);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::fexecve(g_tapd_fd, argv.data(), environ);
        std::fprintf(stderr, "exec %s: %s\n", g_tapd.c_str(), std::strerror(errno));
        ::_exit(127);
    }
    ::close(errfd);
    pid_ = pid;
    g_tapd_pid = pid;

    // Ready within 10 s, and still alive.
    auto t0 = clock_type::now();
    bool ready = false;
    while (ms_since(t0) < 10000) {
        if (contains(log(), "tapd: ready")) {
            ready = true;
            break;
        }
        int st;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            pid_ = -1;
            g_tapd_pid = 0;
            break;
        }
        std::this_thread::sleep_for(10ms);
    }
    INFO("tapd stderr:\n" << log());
    REQUIRE(ready);
    REQUIRE(mounted(dir_));
}

long tapd_process::stop_and_verify(std::chrono::milliseconds limit) {
    REQUIRE(pid_ > 0);
    auto t0 = clock_type::now();
    REQUIRE(::kill(pid_, SIGTERM) == 0);
    int st = 0;
    bool exited = false;
    while (ms_since(t0) < limit.count()) {
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            exited = true;
            break;
        }
        std::this_thread::sleep_for(5ms);
    }
    long took = ms_since(t0);
    if (exited) {
        pid_ = -1;
        g_tapd_pid = 0;
    }
    INFO("tapd stderr:\n" << log());
    CHECK(exited);
    if (exited) {
        CHECK(WIFEXITED(st));
        CHECK(WEXITSTATUS(st) == 0);
    }
    CHECK(contains(log(), "tapd: stopped"));
    CHECK_FALSE(mounted(dir_));
    return took;
}

void tapd_process::kill_hard() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
}

bool tapd_process::alive() {
    if (pid_ <= 0) return false;
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        g_tapd_pid = 0;
        return false;
    }
    return true;
}

int tapd_process::open_file(const std::string& node, int flags) const {
    return ::open(path(node).c_str(), flags | O_CLOEXEC);
}

thread_guard::~thread_guard() {
    if (th_.joinable()) {
        t_.kill_hard();
        th_.join();
    }
}

// ---------------------------------------------------------------------------------------------------
// Waiting on observable state
// ---------------------------------------------------------------------------------------------------

void thread_id::publish() { tid_ = ::gettid(); }

bool wait_blocked(const thread_id& th, task_state::syscall_id sc, int fd, std::chrono::milliseconds limit) {
    return wait_until([&] { return task_state::blocked_in(th.get(), sc, fd); }, limit);
}

int round_trip(int fd) {
    int sz = 0;
    return ::ioctl(fd, TUNGETVNETHDRSZ, &sz) == 0 ? 0 : errno;
}

// ---------------------------------------------------------------------------------------------------
// I/O on a device file
// ---------------------------------------------------------------------------------------------------

io_result write_buf(int fd, const bytes& b, std::chrono::milliseconds limit) {
    watchdog wd(g_tapd_pid.load(), limit);
    errno = 0;
    ssize_t n = ::write(fd, b.data(), b.size());
    int e = errno;
    wd.disarm();
    if (wd.fired()) FAIL_CHECK("write() hung for " << limit.count() << " ms: tapd killed");
    return {static_cast<long>(n), n < 0 ? e : 0};
}

read_result read_frame(int fd, std::chrono::milliseconds limit, std::size_t cap) {
    read_result r;
    r.data.resize(cap);
    watchdog wd(g_tapd_pid.load(), limit);
    ssize_t n = ::read(fd, r.data.data(), r.data.size());
    int e = errno;
    wd.disarm();
    r.timed_out = wd.fired();
    if (n < 0) {
        r.err = e;
        r.data.clear();
    } else {
        r.data.resize(static_cast<std::size_t>(n));
    }
    return r;
}

}  // namespace netns_test
