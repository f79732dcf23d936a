/*
 * Smoke test of libdqlite.so.0 through its C header alone: what a C host
 * sees. Exits 0 on success; prints the failed check otherwise.
 *
 * Usage: smoke DATA_DIR
 */
#include <dqlite.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                          \
			exit(1);                                           \
		}                                                          \
	} while (0)

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w <= 0) {
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t n)
{
	char *p = buf;
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r <= 0) {
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Asks the node at abstract socket `name` (without '@') who leads; fills
 * `id` and `address`. Returns 0 on an answer. */
static int ask_leader(const char *name, uint64_t *id, char *address, size_t cap)
{
	struct sockaddr_un addr;
	socklen_t len;
	unsigned char buf[512];
	uint32_t words;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	strncpy(addr.sun_path + 1, name, sizeof addr.sun_path - 2);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	if (connect(fd, (struct sockaddr *)&addr, len) != 0) {
		close(fd);
		return -1;
	}
	/* Protocol version 1, then LEADER: one word of body, type 0. */
	unsigned char request[24] = {1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
	if (write_all(fd, request, sizeof request) != 0 ||
	    read_all(fd, buf, 8) != 0) {
		close(fd);
		return -1;
	}
	words = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 |
		(uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 24;
	CHECK(buf[4] == 1); /* SERVER */
	CHECK(words >= 2 && words * 8 <= sizeof buf);
	CHECK(read_all(fd, buf, words * 8) == 0);
	memcpy(id, buf, 8);
	snprintf(address, cap, "%s", (const char *)buf + 8);
	close(fd);
	return 0;
}

static int refuse(void *arg, const char *address, int *fd)
{
	(void)arg;
	(void)address;
	(void)fd;
	return 16;
}

int main(int argc, char **argv)
{
	dqlite_node *node;
	char name[64];
	char bind[80];
	uint64_t index, term;
	CHECK(argc == 2);

	CHECK(dqlite_version_number() == DQLITE_VERSION_NUMBER);
	CHECK(strncmp(dqlite_version_string, "1.18.6", 6) == 0);
	CHECK(dqlite_generate_node_id("127.0.0.1:9001") != 0);
	CHECK(strcmp(dqlite_node_errmsg(NULL), "node is NULL") == 0);
	dqlite_node_destroy(NULL);

	/* Settings are validated as the C library validates them. */
	CHECK(dqlite_node_create(1, "1", argv[1], &node) == 0);
	CHECK(dqlite_node_get_bind_address(node) == NULL);
	CHECK(dqlite_node_start(node) == DQLITE_MISUSE);
	CHECK(strlen(dqlite_node_errmsg(node)) > 0);
	CHECK(dqlite_node_stop(node) == DQLITE_MISUSE);
	CHECK(dqlite_node_set_block_size(node, 3000) == DQLITE_ERROR);
	CHECK(dqlite_node_set_block_size(node, 65536) == 0);
	CHECK(dqlite_node_set_network_latency_ms(node, 0) == DQLITE_MISUSE);
	CHECK(dqlite_node_set_snapshot_params(node, 1024, 2) == DQLITE_MISUSE);
	CHECK(dqlite_node_set_snapshot_params_v2(node, 1024, 1024, DQLITE_SNAPSHOT_TRAILING_DYNAMIC) == 0);
	CHECK(dqlite_node_enable_disk_mode(node) == 0);
	CHECK(dqlite_node_set_auto_recovery(node, false) == 0);
	CHECK(dqlite_node_set_busy_timeout(node, 5000) == 0);
	CHECK(dqlite_node_describe_last_entry(node, &index, &term) == 0);
	CHECK(index == 0 && term == 0);
	dqlite_node_destroy(node);

	/* A node serving an abstract socket; peers would be dialed through
	 * the connect function. */
	snprintf(name, sizeof name, "dqlite-smoke-%d", (int)getpid());
	snprintf(bind, sizeof bind, "@%s", name);
	CHECK(dqlite_node_create(1, bind, argv[1], &node) == 0);
	CHECK(dqlite_node_set_bind_address(node, bind) == 0);
	CHECK(strcmp(dqlite_node_get_bind_address(node), bind) == 0);
	CHECK(dqlite_node_set_connect_func(node, refuse, NULL) == 0);
	CHECK(dqlite_node_set_network_latency_ms(node, 5) == 0);
	CHECK(dqlite_node_start(node) == 0);
	CHECK(dqlite_node_set_bind_address(node, "@other") == DQLITE_MISUSE);
	CHECK(dqlite_node_describe_last_entry(node, &index, &term) == DQLITE_MISUSE);

	/* The node serves at once and elects itself within moments. */
	uint64_t leader = 0;
	char address[256] = "";
	for (int i = 0; i < 100 && leader != 1; i++) {
		if (ask_leader(name, &leader, address, sizeof address) != 0 ||
		    leader != 1) {
			struct timespec pause = {0, 50 * 1000 * 1000};
			nanosleep(&pause, NULL);
		}
	}
	CHECK(leader == 1);
	CHECK(strcmp(address, bind) == 0);

	/* A single node has nobody to hand over to. */
	CHECK(dqlite_node_handover(node) == DQLITE_ERROR);
	CHECK(dqlite_node_stop(node) == 0);
	CHECK(dqlite_node_stop(node) == DQLITE_MISUSE);
	dqlite_node_destroy(node);

	/* Stopped means released: the directory and the socket are free. */
	CHECK(dqlite_node_create(1, bind, argv[1], &node) == 0);
	CHECK(dqlite_node_set_bind_address(node, bind) == 0);
	CHECK(dqlite_node_start(node) == 0);
	CHECK(dqlite_node_stop(node) == 0);
	dqlite_node_destroy(node);
	CHECK(dqlite_node_create(1, "1", argv[1], &node) == 0);
	CHECK(dqlite_node_describe_last_entry(node, &index, &term) == 0);
	CHECK(index >= 1 && term >= 1);
	dqlite_node_destroy(node);

	printf("ok\n");
	return 0;
}
