/*
 * cuse_probe: a minimal CUSE echo device, to prove CUSE works where tests run (UML).
 *
 *   cuse_probe [DEVNAME [FUSE-OPTIONS...]]      (DEVNAME defaults to probe0)
 *
 * Bytes written to /dev/DEVNAME are kept (up to BUF_SIZE) and handed back by read(),
 * oldest first; read() of an empty device returns 0. FIONREAD is served as an
 * *unrestricted* ioctl through fuse_reply_ioctl_retry, the same path tapd needs for
 * TUNSETIFF, whose ioctl number does not describe its argument honestly.
 *
 * Build: cc -o cuse_probe cuse_probe.c $(pkg-config --cflags --libs fuse3)
 */
#define FUSE_USE_VERSION 31

#include <cuse_lowlevel.h>
#include <fuse_lowlevel.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#define BUF_SIZE 65536

/* Single-threaded session (-s below), so no locking. */
static char buf[BUF_SIZE];
static size_t buf_len;

static void probe_open(fuse_req_t req, struct fuse_file_info *fi)
{
	/* direct_io: no page cache between the client and our buffer. */
	fi->direct_io = 1;
	fi->nonseekable = 1;
	fuse_reply_open(req, fi);
}

static void probe_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi)
{
	char out[BUF_SIZE];
	(void)off;
	(void)fi;
	if (size > buf_len)
		size = buf_len;
	memcpy(out, buf, size);
	memmove(buf, buf + size, buf_len - size);
	buf_len -= size;
	fuse_reply_buf(req, out, size);
}

static void probe_write(fuse_req_t req, const char *data, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	(void)off;
	(void)fi;
	if (size > BUF_SIZE - buf_len) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	memcpy(buf + buf_len, data, size);
	buf_len += size;
	fuse_reply_write(req, size);
}

static void probe_ioctl(fuse_req_t req, int cmd, void *arg, struct fuse_file_info *fi,
			unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	(void)fi;
	(void)flags;
	(void)in_buf;
	(void)in_bufsz;
	if ((unsigned)cmd != FIONREAD) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	if (out_bufsz < sizeof(int)) {
		/* Unrestricted ioctl: the kernel sent no buffer; tell it which user memory to map. */
		struct iovec iov = { arg, sizeof(int) };
		fuse_reply_ioctl_retry(req, NULL, 0, &iov, 1);
		return;
	}
	int n = (int)buf_len;
	fuse_reply_ioctl(req, 0, &n, sizeof(n));
}

static const struct cuse_lowlevel_ops probe_ops = {
	.open = probe_open,
	.read = probe_read,
	.write = probe_write,
	.ioctl = probe_ioctl,
};

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "probe0";
	char devname[128];
	snprintf(devname, sizeof(devname), "DEVNAME=%s", name);
	const char *dev_info_argv[] = { devname };

	struct cuse_info ci;
	memset(&ci, 0, sizeof(ci));
	ci.dev_info_argc = 1;
	ci.dev_info_argv = dev_info_argv;
	ci.flags = CUSE_UNRESTRICTED_IOCTL;

	/* Foreground, single-threaded; pass any extra FUSE options through. */
	char *fargv[64] = { argv[0], "-f", "-s" };
	int fargc = 3;
	for (int i = 2; i < argc && fargc < 63; i++)
		fargv[fargc++] = argv[i];
	fargv[fargc] = NULL;

	return cuse_lowlevel_main(fargc, fargv, &ci, &probe_ops, NULL);
}
