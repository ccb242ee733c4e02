// wtop's BPF program: aggregate write() activity in the kernel.
//
// Options arrive as -D flags (see probes/program.py), never by string replacement:
//   WTOP_SELF_TGID   wtop's own process, left out of every figure
//   WTOP_SLOTS       power-of-two size of the per-thread start-time slot array
//   WTOP_SLA_NS      latency threshold; writes slower than this are counted exactly
//   FILTER_TGID      only this process
//   FILTER_COMM_0/1  only threads whose comm equals these two little-endian u64 words
//   FILTER_UID       only this user
//   HAVE_ENTER       syscalls:sys_enter_write exists: measure latency (else sizes and bytes only)
//   HAVE_EXEC        sched:sched_process_exec exists: follow renames on exec
//
// Cost model (ns added per write on the test VM, see bench/): every event does one
// inlined per-CPU array lookup for its counters and histograms and one array lookup for
// the start time; the exit also does one per-CPU hash lookup for the process. Nothing is
// shared between CPUs on the hot path, so threads writing in parallel do not contend.

#define SIZE_BUCKETS 64
#define LAT_BUCKETS 64

// Per-CPU counters: one lookup gives everything the exit needs.
struct cpu_stats {
    u64 sizes[SIZE_BUCKETS];   // log2 histogram of successful write sizes (bpf_log2l)
    u64 lat[LAT_BUCKETS];      // log2 histogram of write() latency in ns
    u64 lat_max;               // largest latency on this CPU in epoch lat_epoch (ns)
    u64 lat_epoch;             // the interval lat_max belongs to (see `epoch`)
    u64 sla_missed;            // writes slower than WTOP_SLA_NS
    u64 bytes;                 // all bytes written successfully
    u64 writes;                // all write() calls that returned
    u64 errors;                // calls that returned < 0
    u64 skip_map_full;         // exits not attributed to a process: process map full
    u64 skip_no_entry;         // exits with no start time of the same thread
    u64 lat_sum;               // sum of all latencies (ns): the histogram's exact _sum
};
BPF_PERCPU_ARRAY(wtop_stats, struct cpu_stats, 1);

// The interval number, advanced by user space after each read, so that the kernel starts
// a new maximum latency per interval without user space ever writing to `stats`.
BPF_ARRAY(wtop_epoch, u64, 1);

// Per-process cumulative counters. User space reads them without deleting, computes the
// interval as a difference, and deletes only the entries of processes that have exited,
// so nothing that arrives between a read and a clear is lost.
struct proc_stats {
    u64 bytes;
    u64 writes;
    u64 errors;
};
BPF_TABLE("percpu_hash", u32, struct proc_stats, wtop_procs, WTOP_MAX_PROCS);

// Name and user of each process, written once when the process first appears and again
// when it calls exec (so `sh -c dd ...` shows as dd).
struct proc_info {
    u32 uid;
    u32 pad;
    char comm[16];
};
BPF_HASH(wtop_info, u32, struct proc_info, WTOP_MAX_PROCS);

// Start times by thread, in an array indexed by a multiplicative hash of the tid. Array
// lookups are inlined by the verifier, cheaper than a hash or task storage. The hash spreads
// consecutive tids (threads of one process) over different cache lines: with tid & mask,
// two threads writing on two CPUs shared a line and added ~50 ns per write (measured).
// Two threads that share a slot and are inside write() at the same moment cost one start
// time; the exit finds the other tid and counts skip_no_entry, so the loss is visible.
struct start_slot {
    u64 ts;
    u32 tid;
    u32 pad;
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
#ifdef FILTER_COMM_0
    u64 comm[2] = {};
    bpf_get_current_comm(&comm, sizeof(comm));
    if (comm[0] != FILTER_COMM_0 || comm[1] != FILTER_COMM_1)
        return 0;
#endif
    return 1;
}

#ifdef HAVE_ENTER
TRACEPOINT_PROBE(syscalls, sys_enter_write)
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
    s->ts = bpf_ktime_get_ns();
    return 0;
}
#endif

static __always_inline struct proc_stats *wtop_proc(u32 tgid, struct cpu_stats *cs)
{
    struct proc_stats *ps = wtop_procs.lookup(&tgid);
    if (ps)
        return ps;
    struct proc_stats zero = {};
    // BPF_NOEXIST: another CPU may have created it meanwhile (-EEXIST), then look again.
    int err = wtop_procs.insert(&tgid, &zero);
    ps = wtop_procs.lookup(&tgid);
    if (!ps) {
        cs->skip_map_full++;
        return 0;
    }
    if (err == 0) {
        struct proc_info pi = {};
        pi.uid = (u32)bpf_get_current_uid_gid();
        bpf_get_current_comm(&pi.comm, sizeof(pi.comm));
        wtop_info.update(&tgid, &pi);
    }
    return ps;
}

TRACEPOINT_PROBE(syscalls, sys_exit_write)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    if (!wtop_wanted(pid_tgid))
        return 0;
    u32 zero = 0;
    struct cpu_stats *cs = wtop_stats.lookup(&zero);
    if (!cs)
        return 0;
    long ret = args->ret;
#ifdef HAVE_ENTER
    u64 now = bpf_ktime_get_ns();
    u32 tid = (u32)pid_tgid;
    u32 slot = wtop_slot(tid);
    struct start_slot *s = wtop_starts.lookup(&slot);
    if (s && s->tid == tid && s->ts != 0 && now >= s->ts) {
        u64 delta = now - s->ts;
        s->ts = 0;
        u32 b = bpf_log2l(delta);
        if (b >= LAT_BUCKETS)
            b = LAT_BUCKETS - 1;
        cs->lat[b]++;
        cs->lat_sum += delta;
        u64 *ep = wtop_epoch.lookup(&zero);
        u64 e = ep ? *ep : 0;
        if (cs->lat_epoch != e) {
            cs->lat_epoch = e;
            cs->lat_max = 0;
        }
        if (delta > cs->lat_max)
            cs->lat_max = delta;
        if (delta > WTOP_SLA_NS)
            cs->sla_missed++;
    } else {
        cs->skip_no_entry++;
    }
#endif
    cs->writes++;
    if (ret > 0) {
        u32 b = bpf_log2l((u64)ret);
        if (b >= SIZE_BUCKETS)
            b = SIZE_BUCKETS - 1;
        cs->sizes[b]++;
        cs->bytes += ret;
    } else if (ret < 0) {
        cs->errors++;
    }
    struct proc_stats *ps = wtop_proc(pid_tgid >> 32, cs);
    if (!ps)
        return 0;
    ps->writes++;
    if (ret > 0)
        ps->bytes += ret;
    else if (ret < 0)
        ps->errors++;
    return 0;
}

// exec changes the name a process is shown under; keep `info` current. Fires only on
// exec, never on the write path.
#ifdef HAVE_EXEC
TRACEPOINT_PROBE(sched, sched_process_exec)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    struct proc_info *pi = wtop_info.lookup(&tgid);
    if (pi)
        bpf_get_current_comm(&pi->comm, sizeof(pi->comm));
    return 0;
}
#endif
