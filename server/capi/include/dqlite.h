/*
 * dqlite.h: the C interface of libdqlite.so.0 as built by dqlite-rs.
 *
 * This library embeds a dqlite-rs node (Raft-replicated SQLite, dqlite
 * wire protocol) behind the ABI of the C dqlite library, so that programs
 * written against dqlite's node API (go-dqlite's cgo bindings, its `app`
 * package, Debian's dqlite-demo) run unchanged on it. Every declaration
 * below has the signature, constants and error codes of the C library:
 * the node API of dqlite 1.18 plus the parts of the 1.11 header that later
 * versions dropped (`dqlite_node_enable_disk_mode`, `dqlite_vfs_*`).
 *
 * Differences from the C library are documented next to each function and
 * in server/capi/README.md of the dqlite-rs sources.
 */
#ifndef DQLITE_H
#define DQLITE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef DQLITE_API
#define DQLITE_API __attribute__((visibility("default")))
#endif

/* The dqlite release whose interface this library provides. */
#define DQLITE_VERSION_MAJOR 1
#define DQLITE_VERSION_MINOR 18
#define DQLITE_VERSION_RELEASE 6
#define DQLITE_VERSION_NUMBER                                            \
	(DQLITE_VERSION_MAJOR * 100 * 100 + DQLITE_VERSION_MINOR * 100 + \
	 DQLITE_VERSION_RELEASE)

/* Extended SQLite codes a client sees when leadership changes. */
#define SQLITE_IOERR_NOT_LEADER (SQLITE_IOERR | (40 << 8))
#define SQLITE_IOERR_LEADERSHIP_LOST (SQLITE_IOERR | (41 << 8))

/* DQLITE_VERSION_NUMBER of the library actually loaded. */
DQLITE_API int dqlite_version_number(void);

/* "1.18.6" followed by the dqlite-rs version. */
DQLITE_API extern const char *dqlite_version_string;

/* Return codes of the node functions. */
enum {
	DQLITE_OK = 0,
	DQLITE_ERROR, /* The operation failed: see dqlite_node_errmsg(). */
	DQLITE_MISUSE, /* Invalid argument, or called in the wrong state. */
	DQLITE_NOMEM /* Out of memory. */
};

/* A node: one member of a dqlite cluster, serving clients and peers. */
typedef struct dqlite_node dqlite_node;

/* Unique identifier of a node within its cluster. */
typedef unsigned long long dqlite_node_id;

/*
 * Allocate a node with the given id, the address other nodes and clients
 * reach it at, and the directory holding its data. Nothing is read or
 * written until dqlite_node_start(). On error *n is still set (unless
 * DQLITE_NOMEM), so that dqlite_node_errmsg() and dqlite_node_destroy()
 * can be called on it.
 */
DQLITE_API int dqlite_node_create(dqlite_node_id id,
				  const char *address,
				  const char *data_dir,
				  dqlite_node **n);

/* Stop the node if it runs, then free it. NULL is ignored. */
DQLITE_API void dqlite_node_destroy(dqlite_node *n);

/*
 * Bind the node's listening socket at once (it accepts from
 * dqlite_node_start() on). Forms: "1.2.3.4:port", "1.2.3.4" (port 8080),
 * "[::1]:port", "@name" (abstract Unix socket) and "@" (abstract Unix
 * socket named by the kernel). Unix sockets accept connections from this
 * process only.
 */
DQLITE_API int dqlite_node_set_bind_address(dqlite_node *n,
					    const char *address);

/*
 * The bound address, or NULL before dqlite_node_set_bind_address(). For an
 * abstract socket, "@" followed by its name. Valid until destroy.
 */
DQLITE_API const char *dqlite_node_get_bind_address(dqlite_node *n);

/*
 * Use f for every connection this node opens to another node (Raft
 * traffic, and the client connections of role management and handover).
 * f must store a connected stream socket (TCP or Unix) in *fd and return
 * 0; ownership of the descriptor passes to the library. Any other return
 * value counts as "peer unreachable". f may be called from any thread
 * the library owns.
 */
DQLITE_API int dqlite_node_set_connect_func(dqlite_node *n,
					    int (*f)(void *arg,
						     const char *address,
						     int *fd),
					    void *arg);

/*
 * Expected round-trip time between nodes: heartbeats go out every 1.5x
 * this, elections start after 15x to 30x. Accepted: 1 ms to 1 hour.
 */
DQLITE_API int dqlite_node_set_network_latency(dqlite_node *n,
					       unsigned long long nanoseconds);
DQLITE_API int dqlite_node_set_network_latency_ms(dqlite_node *t,
						  unsigned milliseconds);

/* Failure domain reported to clients (used when placing voters). */
DQLITE_API int dqlite_node_set_failure_domain(dqlite_node *n,
					      unsigned long long code);

/* How many log entries to keep after a snapshot. */
enum {
	DQLITE_SNAPSHOT_TRAILING_STATIC = 0,
	DQLITE_SNAPSHOT_TRAILING_DYNAMIC = 1,
};

/*
 * Snapshot after `snapshot_threshold` entries and keep `snapshot_trailing`
 * entries behind a snapshot (trailing >= 4 and >= threshold). The dynamic
 * strategy is accepted and behaves as the static one: this library also
 * snapshots once the log outgrows the last snapshot.
 */
DQLITE_API int dqlite_node_set_snapshot_params(dqlite_node *n,
					       unsigned snapshot_threshold,
					       unsigned snapshot_trailing);
DQLITE_API int dqlite_node_set_snapshot_params_v2(dqlite_node *n,
						  unsigned snapshot_threshold,
						  unsigned snapshot_trailing,
						  int trailing_strategy);

/*
 * Block size of the C library's disk writes. Validated as there (512 B to
 * 256 KiB, powers of two) and otherwise without effect: this library's log
 * batches its own writes.
 */
DQLITE_API int dqlite_node_set_block_size(dqlite_node *n, size_t size);

/* Voters and stand-bys role management aims for (defaults 3 and 0). */
DQLITE_API int dqlite_node_set_target_voters(dqlite_node *n, int voters);
DQLITE_API int dqlite_node_set_target_standbys(dqlite_node *n, int standbys);

/* Accepted and recorded; this library has no thread pool to size. */
DQLITE_API int dqlite_node_set_pool_thread_count(dqlite_node *n,
						 unsigned thread_count);

/*
 * Accepted and recorded. This library never deletes log data on startup:
 * it cuts only a torn tail, and refuses to start on any other corruption.
 */
DQLITE_API int dqlite_node_set_auto_recovery(dqlite_node *n, bool enabled);

/* Accepted and recorded; snapshots are stored uncompressed. */
DQLITE_API int dqlite_node_set_snapshot_compression(dqlite_node *n,
						    bool enabled);

/*
 * While this node leads, keep the cluster at the target numbers of voters
 * and stand-bys among the nodes that answer.
 */
DQLITE_API int dqlite_node_enable_role_management(dqlite_node *n);

/* How long a statement waits for a busy database (default 0). */
DQLITE_API int dqlite_node_set_busy_timeout(dqlite_node *n, unsigned msecs);

/*
 * Not supported: always DQLITE_ERROR (dqlite 1.18.3 dropped disk mode too).
 * Declared for programs written against dqlite 1.11 to 1.18.2.
 */
DQLITE_API int dqlite_node_enable_disk_mode(dqlite_node *n);

/*
 * Start the node: lock the data directory, load the log, bootstrap a
 * one-voter cluster if the id is 1 or 0x2dc171858c3155be and the
 * directory is new, and serve the bound address. Returns once the node
 * serves (it does not wait for a leader). DQLITE_MISUSE without a bind
 * address.
 */
DQLITE_API int dqlite_node_start(dqlite_node *n);

/*
 * Hand this node's responsibilities to others before it goes away:
 * leadership to another voter, and its voter seat to the best online
 * non-voter (the node becomes a spare). Blocks; 0 once done.
 */
DQLITE_API int dqlite_node_handover(dqlite_node *n);

/*
 * Stop the node: close every connection, stop Raft, flush the log and
 * release the data directory. Bounded; DQLITE_ERROR if the node could not
 * stop in time.
 */
DQLITE_API int dqlite_node_stop(dqlite_node *n);

/* A cluster member, for dqlite_node_recover(). */
struct dqlite_node_info {
	dqlite_node_id id;
	const char *address;
};
typedef struct dqlite_node_info dqlite_node_info;

/*
 * A cluster member with its role, for dqlite_node_recover_ext(). `size`
 * is the struct's size (a later, larger version must zero its new
 * fields); `address` holds a `const char *`; `dqlite_role` is 0 (voter),
 * 1 (stand-by) or 2 (spare).
 */
struct dqlite_node_info_ext {
	uint64_t size;
	uint64_t id;
	uint64_t address;
	uint64_t dqlite_role;
};
typedef struct dqlite_node_info_ext dqlite_node_info_ext;
#define DQLITE_NODE_INFO_EXT_SZ_ORIG 32U

/*
 * On a node that is not running, force the cluster configuration to the
 * given members (all voters for dqlite_node_recover()), for a cluster that
 * lost its majority. Afterwards copy this node's data directory to the
 * other listed nodes and start them.
 */
DQLITE_API int dqlite_node_recover(dqlite_node *n,
				   dqlite_node_info infos[],
				   int n_info);
DQLITE_API int dqlite_node_recover_ext(dqlite_node *n,
				       dqlite_node_info_ext infos[],
				       int n_info);

/*
 * Index and term of the last entry in a stopped node's log (or of its
 * snapshot when the log is empty; 0 and 0 for a new node). DQLITE_MISUSE
 * while the node runs.
 */
DQLITE_API int dqlite_node_describe_last_entry(dqlite_node *n,
					       uint64_t *last_entry_index,
					       uint64_t *last_entry_term);

/*
 * Message describing the last failure of a node function; "node is NULL"
 * for NULL. The pointer stays valid (its text may change) until destroy.
 */
DQLITE_API const char *dqlite_node_errmsg(dqlite_node *n);

/* A random node id derived from the address and the current time. */
DQLITE_API dqlite_node_id dqlite_generate_node_id(const char *address);

/*
 * The VFS interface of dqlite 1.11 (removed in dqlite 1.18.2). This
 * library's VFS runs on its own SQLite, which the host cannot share: every
 * function returns DQLITE_ERROR (dqlite_vfs_close does nothing).
 */
struct dqlite_vfs_frame {
	unsigned long page_number;
	void *data;
};
typedef struct dqlite_vfs_frame dqlite_vfs_frame;

struct dqlite_buffer {
	void *base;
	size_t len;
};

DQLITE_API int dqlite_vfs_init(sqlite3_vfs *vfs, const char *name);
DQLITE_API void dqlite_vfs_close(sqlite3_vfs *vfs);
DQLITE_API int dqlite_vfs_poll(sqlite3_vfs *vfs,
			       const char *filename,
			       dqlite_vfs_frame **frames,
			       unsigned *n);
DQLITE_API int dqlite_vfs_apply(sqlite3_vfs *vfs,
				const char *filename,
				unsigned n,
				unsigned long *page_numbers,
				void *frames);
DQLITE_API int dqlite_vfs_abort(sqlite3_vfs *vfs, const char *filename);
DQLITE_API int dqlite_vfs_snapshot(sqlite3_vfs *vfs,
				   const char *filename,
				   void **data,
				   size_t *n);
DQLITE_API int dqlite_vfs_shallow_snapshot(sqlite3_vfs *vfs,
					   const char *filename,
					   struct dqlite_buffer bufs[],
					   unsigned n);
DQLITE_API int dqlite_vfs_num_pages(sqlite3_vfs *vfs,
				    const char *filename,
				    unsigned *n);
DQLITE_API int dqlite_vfs_restore(sqlite3_vfs *vfs,
				  const char *filename,
				  const void *data,
				  size_t n);

#endif /* DQLITE_H */
