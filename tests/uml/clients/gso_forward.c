// gso_forward: a minimal userspace L2 forwarder between two tap character devices, written the
// way a VMM's tap backend is: TUNSETIFF(IFF_TAP|IFF_NO_PI|IFF_VNET_HDR), TUNSETOFFLOAD, then poll()
// on both fds and copy every frame, virtio_net_hdr included, to the other device unchanged.
//
//   gso_forward DEV_X DEV_Y OFFLOAD_FLAGS
//
// OFFLOAD_FLAGS is TUNSETOFFLOAD's argument for both fds (e.g. 0x7 = TUN_F_CSUM|TUN_F_TSO4|
// TUN_F_TSO6, or 0). Prints "gso_forward: ready" on stderr once both devices are set up, and on
// SIGUSR1 / at exit (SIGTERM, SIGINT) a line per direction on stdout:
//
//   gso_forward: X->Y frames=N bytes=B max_read=M max_frame=F gso_frames=G over_mtu=O write_errors=E
//
// max_read counts the 10-byte vnet header, max_frame does not (Ethernet frame only); gso_frames
// counts headers with gso_type != VIRTIO_NET_HDR_GSO_NONE, over_mtu frames longer than 1514.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define VNET_HDR_LEN 10
#define BUF_LEN (VNET_HDR_LEN + 65536 + 4096)

struct dir_stats {
    const char* name;
    unsigned long frames, bytes, gso_frames, over_mtu, write_errors, short_frames;
    long max_read, max_frame;
    int last_write_errno;
};

static volatile sig_atomic_t stop_flag, dump_flag;
static void on_stop(int sig) { (void)sig; stop_flag = 1; }
static void on_dump(int sig) { (void)sig; dump_flag = 1; }

static int open_tap(const char* path, unsigned offload) {
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "gso_forward: open %s: %s\n", path, strerror(errno));
        exit(2);
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        fprintf(stderr, "gso_forward: %s: TUNSETIFF(IFF_TAP|IFF_NO_PI|IFF_VNET_HDR): %s\n", path, strerror(errno));
        exit(2);
    }
    int hdr = 0;
    if (ioctl(fd, TUNGETVNETHDRSZ, &hdr) < 0 || hdr != VNET_HDR_LEN) {
        fprintf(stderr, "gso_forward: %s: TUNGETVNETHDRSZ: %s (got %d, want %d)\n", path,
                hdr ? "wrong size" : strerror(errno), hdr, VNET_HDR_LEN);
        exit(2);
    }
    if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)offload) < 0) {
        fprintf(stderr, "gso_forward: %s: TUNSETOFFLOAD(%#x): %s\n", path, offload, strerror(errno));
        exit(2);
    }
    fprintf(stderr, "gso_forward: %s: interface %.*s, offload %#x\n", path, IFNAMSIZ, ifr.ifr_name, offload);
    return fd;
}

static void dump(const struct dir_stats* s) {
    printf("gso_forward: %s frames=%lu bytes=%lu max_read=%ld max_frame=%ld gso_frames=%lu over_mtu=%lu "
           "short_frames=%lu write_errors=%lu",
           s->name, s->frames, s->bytes, s->max_read, s->max_frame, s->gso_frames, s->over_mtu, s->short_frames,
           s->write_errors);
    if (s->write_errors) printf(" last_write_error=%s", strerror(s->last_write_errno));
    printf("\n");
    fflush(stdout);
}

// Copy every frame that is ready on `from` to `to`. Returns -1 if `from` failed for good.
static int pump(int from, int to, struct dir_stats* s, uint8_t* buf) {
    for (int i = 0; i < 256; ++i) {
        ssize_t n = read(from, buf, BUF_LEN);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return 0;
            fprintf(stderr, "gso_forward: %s read: %s\n", s->name, strerror(errno));
            return -1;
        }
        if (n == 0) return 0;
        s->frames++;
        s->bytes += n;
        if (n > s->max_read) s->max_read = n;
        if (n <= VNET_HDR_LEN) {
            s->short_frames++;
            continue;
        }
        long frame = n - VNET_HDR_LEN;
        if (frame > s->max_frame) s->max_frame = frame;
        if (frame > 1514) s->over_mtu++;
        const struct virtio_net_hdr* h = (const struct virtio_net_hdr*)buf;
        if ((h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_NONE) s->gso_frames++;
        ssize_t w = write(to, buf, (size_t)n);
        if (w != n) {
            s->write_errors++;
            s->last_write_errno = w < 0 ? errno : EMSGSIZE;
        }
    }
    return 0;
}

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: gso_forward DEV_X DEV_Y OFFLOAD_FLAGS\n");
        return 2;
    }
    unsigned offload = (unsigned)strtoul(argv[3], NULL, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;  // no SA_RESTART: poll() returns EINTR
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_dump;
    sigaction(SIGUSR1, &sa, NULL);

    int fx = open_tap(argv[1], offload), fy = open_tap(argv[2], offload);
    struct dir_stats xy = {.name = "X->Y"}, yx = {.name = "Y->X"};
    uint8_t* buf = malloc(BUF_LEN);
    if (!buf) return 2;
    fprintf(stderr, "gso_forward: ready\n");

    int rc = 0;
    while (!stop_flag) {
        if (dump_flag) {
            dump_flag = 0;
            dump(&xy);
            dump(&yx);
        }
        struct pollfd p[2] = {{.fd = fx, .events = POLLIN}, {.fd = fy, .events = POLLIN}};
        int r = poll(p, 2, 1000);
        if (r < 0) {
            if (errno == EINTR) continue;
            perror("gso_forward: poll");
            rc = 1;
            break;
        }
        if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL) || p[1].revents & (POLLERR | POLLHUP | POLLNVAL)) {
            fprintf(stderr, "gso_forward: poll revents %#x %#x: device gone\n", p[0].revents, p[1].revents);
            rc = 1;
            break;
        }
        if ((p[0].revents & POLLIN) && pump(fx, fy, &xy, buf) < 0) { rc = 1; break; }
        if ((p[1].revents & POLLIN) && pump(fy, fx, &yx, buf) < 0) { rc = 1; break; }
    }
    dump(&xy);
    dump(&yx);
    return rc;
}
