// wtop's BPF program: aggregate write activity in the kernel.
//
// Options arrive as -D flags (see probes/program.py), never by string replacement:
//   WTOP_SELF_TGID   wtop's own process, left out of every figure
//   WTOP_SLOTS       power-of-two size of the per-thread start-time slot array
//   WTOP_MAP_SIZE    (process, descriptor) pairs tracked at once
//   WTOP_SLA_NS      latency threshold; writes slower than this are counted exactly
//   WTOP_DISKS       block devices counted each on its own (the rest are counted together)
//   FILTER_TGID      only this process
//   FILTER_COMM_0/1  only threads whose comm equals these two little-endian u64 words
//   FILTER_UID       only this user
//   FILTER_CGROUP    only this cgroup v2 id (the inode of its directory)
//   EXIT_<CALL>      trace this call (write, pwrite64, writev, pwritev, pwritev2)
//   ENTER_<CALL>     its sys_enter tracepoint exists: measure its latency and its fd
//   HAVE_EXEC        sched:sched_process_exec exists: follow renames on exec
//   HAVE_BLOCK       block:block_rq_issue and block_rq_complete exist: the disks view
//
// Cost model (ns added per write on the test VM, see bench/): every event does one
// inlined per-CPU array lookup for its counters and histograms and one array lookup for
// the start time; the exit also does one per-CPU hash lookup for the (process, fd) pair.
// Nothing is shared between CPUs on the hot path, so threads writing in parallel do not
// contend.

#define SIZE_BUCKETS 64
#define LAT_BUCKETS 64
#define CALLS 5 // write, pwrite64, writev, pwritev, pwritev2

// Per-CPU counters: one lookup gives everything the exit needs.
struct cpu_stats {
    u64 sizes[SIZE_BUCKETS];   // log2 histogram of successful write sizes (bpf_log2l)
    u64 lat[LAT_BUCKETS];      // log2 histogram of write latency in ns
    u64 lat_max;               // largest latency on this CPU in epoch lat_epoch (ns)
    u64 lat_epoch;             // the interval lat_max belongs to (see `epoch`)
    u64 sla_missed;            // writes slower than WTOP_SLA_NS
    u64 bytes;                 // all bytes written successfully
    u64 writes;                // all write calls that returned
    u64 errors;                // calls that returned < 0
    u64 skip_map_full;         // exits not attributed to a process: map full
    u64 skip_no_entry;         // exits with no start time of the same thread
    u64 lat_sum;               // sum of all latencies (ns): the histogram's exact _sum
    u64 call_writes[CALLS];    // calls by type
    u64 call_bytes[CALLS];     // bytes by call type
};
BPF_PERCPU_ARRAY(wtop_stats, struct cpu_stats, 1);

// Set by user space: the interval number, advanced after each read, so that the kernel
// starts a new maximum latency per interval without user space ever writing to `stats`;
// and the process whose page is open (drill-down), 0 for none.
struct wtop_ctl {
    u64 epoch;
    u32 focus;
    u32 pad;
};
BPF_ARRAY(wtop_epoch, struct wtop_ctl, 1);

// The writes of the focused process, counted a second time, by tgid: user space creates
// the (zeroed) entry before it names the process in wtop_ctl.focus, and deletes it after
// the focus moved on; a write in flight while the focus moves lands in its own process's
// entry, never in the next one. Only the focused process pays for the second count.
BPF_TABLE("percpu_hash", u32, struct cpu_stats, wtop_focus, 4);

// Cumulative counters per (process, file descriptor, thread, thread name at the time of the
// write). User space reads them without deleting, computes the interval as a difference, and
// sums them by process, by descriptor, by thread and by name (the seed's @[comm], exactly:
// a thread that renames itself starts a new entry), and deletes only the entries of processes
// that have exited, so nothing that arrives between a read and a clear is lost. fd is -1 when
// the start of the call was not seen. One lookup per write gives all four.
struct fd_key {
    u32 tgid;
    s32 fd;
    u32 tid;
    u32 pad;
    char comm[16];
};
struct fd_stats {
    u64 bytes;
    u64 writes;
    u64 errors;
    u64 calls[CALLS];
};
BPF_TABLE("percpu_hash", struct fd_key, struct fd_stats, wtop_procs, WTOP_MAP_SIZE);

// Name and user of each process, written once when the process first appears and again
// when it calls exec (so `sh -c dd ...` shows as dd).
struct proc_info {
    u32 uid;
    u32 pad;
    char comm[16];
    u64 cgroup; // cgroup v2 id at the first write (and at exec): the containers view
};
BPF_HASH(wtop_info, u32, struct proc_info, WTOP_MAP_SIZE);

// Start times and descriptors by thread, in an array indexed by a multiplicative hash of
// the tid. Array lookups are inlined by the verifier, cheaper than a hash or task storage.
// The hash spreads consecutive tids (threads of one process) over different cache lines:
// with tid & mask, two threads writing on two CPUs shared a line and added ~50 ns per
// write (measured). Two threads that share a slot and are inside a write at the same
// moment cost one start time; the exit finds the other tid and counts skip_no_entry.
struct start_slot {
    u64 ts;
    u32 tid;
    s32 fd;
};
BPF_ARRAY(wtop_starts, struct start_slot, WTOP_SLOTS);

static __always_inline u32 wtop_slot(u32 tid)
{
    return (tid * 2654435761u) & (WTOP_SLOTS - 1);
}

static __always_inline int wtop_wanted(u64 pid_tgid)
{
    u32 tgid = pid_tgid >> 32;
    if (tgid == WTOP_SELF_TGID)
        return 0;
#ifdef FILTER_TGID
    if (tgid != FILTER_TGID)
        return 0;
#endif
#ifdef FILTER_UID
    if ((u32)bpf_get_current_uid_gid() != FILTER_UID)
        return 0;
#endif
#ifdef FILTER_CGROUP
    if (bpf_get_current_cgroup_id() != FILTER_CGROUP)
        return 0;
#endif
#ifdef FILTER_COMM_0
    u64 comm[2] = {};
    bpf_get_current_comm(&comm, sizeof(comm));
    if (comm[0] != FILTER_COMM_0 || comm[1] != FILTER_COMM_1)
        return 0;
#endif
    return 1;
}

static __always_inline int wtop_enter(s64 fd)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    if (!wtop_wanted(pid_tgid))
        return 0;
    u32 tid = (u32)pid_tgid;
    u32 slot = wtop_slot(tid);
    struct start_slot *s = wtop_starts.lookup(&slot);
    if (!s)
        return 0;
    s->tid = tid;
    s->fd = (s32)fd;
    s->ts = bpf_ktime_get_ns();
    return 0;
}

static __always_inline struct fd_stats *wtop_fd(struct fd_key *key, struct cpu_stats *cs)
{
    struct fd_stats *ps = wtop_procs.lookup(key);
    if (ps)
        return ps;
    struct fd_stats zero = {};
    // BPF_NOEXIST: another CPU may have created it meanwhile (-EEXIST), then look again.
    int err = wtop_procs.insert(key, &zero);
    ps = wtop_procs.lookup(key);
    if (!ps) {
        cs->skip_map_full++;
        return 0;
    }
    if (err == 0) {
        u32 tgid = key->tgid;
        if (!wtop_info.lookup(&tgid)) {
            struct proc_info pi = {};
            pi.uid = (u32)bpf_get_current_uid_gid();
            bpf_get_current_comm(&pi.comm, sizeof(pi.comm));
            pi.cgroup = bpf_get_current_cgroup_id();
            wtop_info.update(&tgid, &pi);
        }
    }
    return ps;
}

// Count one returned call into a set of counters. timed: 1 with its latency in delta, 0
// when the start was not seen (-1: the call has no enter tracepoint, nothing missed).
static __always_inline void wtop_count(struct cpu_stats *cs, long ret, u32 type, int timed, u64 delta, u64 e)
{
    if (timed > 0) {
        u32 b = bpf_log2l(delta);
        if (b >= LAT_BUCKETS)
            b = LAT_BUCKETS - 1;
        cs->lat[b]++;
        cs->lat_sum += delta;
        if (cs->lat_epoch != e) {
            cs->lat_epoch = e;
            cs->lat_max = 0;
        }
        if (delta > cs->lat_max)
            cs->lat_max = delta;
        if (delta > WTOP_SLA_NS)
            cs->sla_missed++;
    } else if (timed == 0) {
        cs->skip_no_entry++;
    }
    cs->writes++;
    if (type < CALLS)
        cs->call_writes[type]++;
    if (ret > 0) {
        u32 b = bpf_log2l((u64)ret);
        if (b >= SIZE_BUCKETS)
            b = SIZE_BUCKETS - 1;
        cs->sizes[b]++;
        cs->bytes += ret;
        if (type < CALLS)
            cs->call_bytes[type] += ret;
    } else if (ret < 0) {
        cs->errors++;
    }
}

// The exit of any write call. `type` and `entered` are constants: each call inlines it.
static __always_inline int wtop_exit(long ret, u32 type, int entered)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    if (!wtop_wanted(pid_tgid))
        return 0;
    u32 zero = 0;
    struct cpu_stats *cs = wtop_stats.lookup(&zero);
    if (!cs)
        return 0;
    struct wtop_ctl *ctl = wtop_epoch.lookup(&zero);
    u64 e = 0;
    u32 focus = 0;
    if (ctl) {
        e = ctl->epoch;
        focus = ctl->focus;
    }
    struct fd_key key = {.tgid = pid_tgid >> 32, .fd = -1, .tid = (u32)pid_tgid};
    int timed = -1;
    u64 delta = 0;
    if (entered) {
        u64 now = bpf_ktime_get_ns();
        u32 tid = (u32)pid_tgid;
        u32 slot = wtop_slot(tid);
        struct start_slot *s = wtop_starts.lookup(&slot);
        timed = 0;
        if (s && s->tid == tid && s->ts != 0 && now >= s->ts) {
            delta = now - s->ts;
            s->ts = 0;
            key.fd = s->fd;
            timed = 1;
        }
    }
    wtop_count(cs, ret, type, timed, delta, e);
    if (focus == key.tgid) {
        u32 tgid = key.tgid;
        struct cpu_stats *fs = wtop_focus.lookup(&tgid);
        if (fs)
            wtop_count(fs, ret, type, timed, delta, e);
    }
    bpf_get_current_comm(&key.comm, sizeof(key.comm));
    struct fd_stats *ps = wtop_fd(&key, cs);
    if (!ps)
        return 0;
    ps->writes++;
    if (type < CALLS)
        ps->calls[type]++;
    if (ret > 0)
        ps->bytes += ret;
    else if (ret < 0)
        ps->errors++;
    return 0;
}

#ifdef ENTER_WRITE
TRACEPOINT_PROBE(syscalls, sys_enter_write) { return wtop_enter(args->fd); }
#define ENTERED_WRITE 1
#else
#define ENTERED_WRITE 0
#endif
TRACEPOINT_PROBE(syscalls, sys_exit_write) { return wtop_exit(args->ret, 0, ENTERED_WRITE); }

#ifdef ENTER_PWRITE64
TRACEPOINT_PROBE(syscalls, sys_enter_pwrite64) { return wtop_enter(args->fd); }
#define ENTERED_PWRITE64 1
#else
#define ENTERED_PWRITE64 0
#endif
#ifdef EXIT_PWRITE64
TRACEPOINT_PROBE(syscalls, sys_exit_pwrite64) { return wtop_exit(args->ret, 1, ENTERED_PWRITE64); }
#endif

#ifdef ENTER_WRITEV
TRACEPOINT_PROBE(syscalls, sys_enter_writev) { return wtop_enter(args->fd); }
#define ENTERED_WRITEV 1
#else
#define ENTERED_WRITEV 0
#endif
#ifdef EXIT_WRITEV
TRACEPOINT_PROBE(syscalls, sys_exit_writev) { return wtop_exit(args->ret, 2, ENTERED_WRITEV); }
#endif

#ifdef ENTER_PWRITEV
TRACEPOINT_PROBE(syscalls, sys_enter_pwritev) { return wtop_enter(args->fd); }
#define ENTERED_PWRITEV 1
#else
#define ENTERED_PWRITEV 0
#endif
#ifdef EXIT_PWRITEV
TRACEPOINT_PROBE(syscalls, sys_exit_pwritev) { return wtop_exit(args->ret, 3, ENTERED_PWRITEV); }
#endif

#ifdef ENTER_PWRITEV2
// The generated args struct names the kernel type rwf_t, which BCC's headers lack; tracefs
// gives the field 8 bytes, and it is the last one. Scoped to this probe, so a header's own
// typedef can never collide with it.
#define rwf_t u64
TRACEPOINT_PROBE(syscalls, sys_enter_pwritev2) { return wtop_enter(args->fd); }
#undef rwf_t
#define ENTERED_PWRITEV2 1
#else
#define ENTERED_PWRITEV2 0
#endif
#ifdef EXIT_PWRITEV2
TRACEPOINT_PROBE(syscalls, sys_exit_pwritev2) { return wtop_exit(args->ret, 4, ENTERED_PWRITEV2); }
#endif

#ifdef HAVE_RENAME
// prctl(PR_SET_NAME) or a write to /proc/PID/comm: a process is shown under its main thread's
// current name, as ps shows it. Fires only on renames, never on the write path. (The writes
// themselves carry the writing thread's name at the time of the write in their key.)
TRACEPOINT_PROBE(task, task_rename)
{
#ifdef RENAME_HAS_PID
    u32 tid = args->pid;
#else
    u32 tid = (u32)bpf_get_current_pid_tgid();
#endif
    struct proc_info *pi = wtop_info.lookup(&tid); // a main thread's tid is its process's id
    if (pi)
        bpf_probe_read_kernel(&pi->comm, sizeof(pi->comm), args->newcomm);
    return 0;
}
#endif

#ifdef HAVE_EXEC
// exec changes the name a process is shown under; keep `info` current. Fires only on
// exec, never on the write path.
TRACEPOINT_PROBE(sched, sched_process_exec)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    struct proc_info *pi = wtop_info.lookup(&tgid);
    if (pi) {
        bpf_get_current_comm(&pi->comm, sizeof(pi->comm));
        pi->cgroup = bpf_get_current_cgroup_id();
    }
    return 0;
}
#endif

// -- the block layer: what reaches the disks ----------------------------------------------
//
// Fires per request, not per write(): nothing here is on the write() path. Write requests
// are those whose rwbs starts with W (or F for a preflush, then W); a cache flush request
// starts with F and carries no data. Latency is from issue to completion, matched by
// (device, first sector): tracepoints give no request pointer, and wtop reads no kernel
// structs. dev is the kernel's dev_t of the whole disk (major << 20 | minor).
//
// In-flight requests are kept in an array of slots indexed by a multiplicative hash of
// (device, sector), as the write start times are: an inlined array lookup instead of a
// hash map's update, lookup and delete (323 + 410 ns per request with a hash, measured by
// bpf_stats). Two requests in flight in the same slot cost the older one its latency,
// counted as no_issue; a slot is simply overwritten by the next issue, so nothing leaks.
#define RQ_BITS 15
struct rq_slot {
    u64 sector;
    u64 ts;
    u32 dev;
    u32 pad;
};
BPF_ARRAY(wtop_rq_start, struct rq_slot, 1 << RQ_BITS);

static __always_inline u32 wtop_rq_slot(u32 dev, u64 sector)
{
    return ((sector ^ ((u64)dev << 40)) * 0x9E3779B97F4A7C15ULL) >> (64 - RQ_BITS);
}

struct disk_stats {
    u64 lat[LAT_BUCKETS];  // log2 histogram of issue -> completion, ns
    u64 bytes;             // bytes of write requests completed without error
    u64 ios;               // write requests completed
    u64 errors;            // write requests completed with an error
    u64 flushes;           // cache flush requests issued
    u64 lat_sum;
    u64 lat_max;
    u64 lat_epoch;
    u64 no_issue;          // completions whose issue was not seen (before wtop, or map full)
};
// By the kernel's dev_t; key 0 is created by user space and counts the devices beyond
// WTOP_DISKS (and requests with no disk), so no byte goes uncounted.
BPF_TABLE("percpu_hash", u32, struct disk_stats, wtop_disks, WTOP_DISKS);
BPF_PERCPU_ARRAY(wtop_disk_zero, struct disk_stats, 1);

#ifdef HAVE_BLOCK
static __always_inline struct disk_stats *wtop_disk(u32 dev)
{
    struct disk_stats *ds = wtop_disks.lookup(&dev);
    if (ds)
        return ds;
    // a zeroed value without 700 bytes of stack: a per-CPU entry of its own, never written
    u32 zero = 0;
    struct disk_stats *z = wtop_disk_zero.lookup(&zero);
    if (!z)
        return 0;
    wtop_disks.insert(&dev, z);
    ds = wtop_disks.lookup(&dev);
    if (ds)
        return ds;
    u32 other = 0;
    return wtop_disks.lookup(&other);
}

TRACEPOINT_PROBE(block, block_rq_issue)
{
    char c0 = args->rwbs[0];
    char c1 = args->rwbs[1];
    if (c0 == 'W' || (c0 == 'F' && c1 == 'W')) {
        u32 dev = args->dev;
        u64 sector = args->sector;
        u32 slot = wtop_rq_slot(dev, sector);
        struct rq_slot *s = wtop_rq_start.lookup(&slot);
        if (s) {
            s->dev = dev;
            s->sector = sector;
            s->ts = bpf_ktime_get_ns();
        }
    } else if (c0 == 'F') {
        struct disk_stats *ds = wtop_disk(args->dev);
        if (ds)
            ds->flushes++;
    }
    return 0;
}

TRACEPOINT_PROBE(block, block_rq_complete)
{
    char c0 = args->rwbs[0];
    char c1 = args->rwbs[1];
    if (!(c0 == 'W' || (c0 == 'F' && c1 == 'W')))
        return 0;
    // An empty write is the shell of a flush (fsync's REQ_PREFLUSH): the block layer issues
    // a flush request in its place (counted at issue) and ends the shell without issuing it.
    if (args->nr_sector == 0)
        return 0;
    u32 dev = args->dev;
    struct disk_stats *ds = wtop_disk(dev);
    if (!ds)
        return 0;
    ds->ios++;
    if (args->error)
        ds->errors++;
    else
        ds->bytes += (u64)args->nr_sector << 9;
    u64 sector = args->sector;
    u32 slot = wtop_rq_slot(dev, sector);
    struct rq_slot *s = wtop_rq_start.lookup(&slot);
    if (!s || s->ts == 0 || s->dev != dev || s->sector != sector) {
        ds->no_issue++;
        return 0;
    }
    u64 now = bpf_ktime_get_ns();
    u64 delta = now > s->ts ? now - s->ts : 0;
    s->ts = 0;
    u32 b = bpf_log2l(delta);
    if (b >= LAT_BUCKETS)
        b = LAT_BUCKETS - 1;
    ds->lat[b]++;
    ds->lat_sum += delta;
    u32 zero = 0;
    struct wtop_ctl *ctl = wtop_epoch.lookup(&zero);
    u64 e = ctl ? ctl->epoch : 0;
    if (ds->lat_epoch != e) {
        ds->lat_epoch = e;
        ds->lat_max = 0;
    }
    if (delta > ds->lat_max)
        ds->lat_max = delta;
    return 0;
}
#endif
