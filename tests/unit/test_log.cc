// test_log.cc — the one log (log.h): plain "tapd: ..." lines, with the journal's priority prefixes only
// when the sink is the stream systemd's JOURNAL_STREAM names.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "tapcore/log.h"

using namespace tapd;

namespace {

// A pipe as the log's sink; restores stderr and JOURNAL_STREAM afterwards.
struct captured_log {
    int fds[2] = {-1, -1};
    std::string saved_env;
    bool had_env = false;
    captured_log() {
        REQUIRE(::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
        if (const char* e = std::getenv("JOURNAL_STREAM")) {
            had_env = true;
            saved_env = e;
        }
    }
    ~captured_log() {
        if (had_env)
            ::setenv("JOURNAL_STREAM", saved_env.c_str(), 1);
        else
            ::unsetenv("JOURNAL_STREAM");
        log::init(2);
        ::close(fds[0]);
        ::close(fds[1]);
    }
    // Makes JOURNAL_STREAM name this pipe (as systemd does for a service's stderr), or something else.
    void journal(bool ours) {
        struct stat st {};
        REQUIRE(::fstat(fds[1], &st) == 0);
        std::string v = std::to_string(st.st_dev) + ":" + std::to_string(ours ? st.st_ino : st.st_ino + 1);
        ::setenv("JOURNAL_STREAM", v.c_str(), 1);
    }
    std::string read_all() {
        std::string s;
        char buf[4096];
        ssize_t n;
        while ((n = ::read(fds[0], buf, sizeof buf)) > 0) s.append(buf, static_cast<std::size_t>(n));
        return s;
    }
};

}  // namespace

TEST_CASE("log: plain lines when the sink is not the journal", "[log]") {
    captured_log c;
    ::unsetenv("JOURNAL_STREAM");
    log::init(c.fds[1]);
    log::err("broken");
    log::info("ready");
    CHECK(c.read_all() == "tapd: broken\ntapd: ready\n");

    c.journal(false);  // the journal, but some other stream: a terminal the service was moved to, say
    log::init(c.fds[1]);
    log::warning("w");
    CHECK(c.read_all() == "tapd: w\n");
}

TEST_CASE("log: priority prefixes of sd-daemon.h when the sink is the journal", "[log]") {
    captured_log c;
    c.journal(true);
    log::init(c.fds[1]);
    log::err("e");
    log::warning("w");
    log::info("i");
    log::debug("d");
    log::writef(log::level::warning, "fmt %d %s", 42, "x");
    CHECK(c.read_all() == "<3>tapd: e\n<4>tapd: w\n<6>tapd: i\n<7>tapd: d\n<4>tapd: fmt 42 x\n");
    CHECK(log::prefix(log::level::err) == "<3>");
    CHECK(log::prefix(log::level::debug) == "<7>");
}

TEST_CASE("log: writef truncates long lines instead of allocating", "[log]") {
    captured_log c;
    ::unsetenv("JOURNAL_STREAM");
    log::init(c.fds[1]);
    std::string big(3000, 'z');
    log::writef(log::level::info, "%s", big.c_str());
    std::string got = c.read_all();
    CHECK(got.size() == std::string("tapd: ").size() + 1023 + 1);
    CHECK(got.back() == '\n');
}
