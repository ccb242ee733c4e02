// wtop's BPF program: aggregate write activity in the kernel.
//
// Options arrive as -D flags (see probes/program.py), never by string replacement:
//   WTOP_SELF_TGID   wtop's own process, left out of every figure
//   WTOP_SLOTS       power-of-two size of the per-thread start-time slot array
//   WTOP_MAP_SIZE    (process, descriptor) pairs tracked at once
//   WTOP_SLA_NS      latency threshold of the data calls; slower ones are counted exactly
//   WTOP_SYNC_SLA_NS the same for the sync calls (fsync and its kin)
//   WTOP_DISKS       block devices counted each on its own (the rest are counted together)
//   FILTER_TGID      only this process
//   FILTER_COMM_0/1  only threads whose comm equals these two little-endian u64 words
//   FILTER_UID       only this user
//   FILTER_CGROUP    only this cgroup v2 id (the inode of its directory)
//   NR_<CALL>        this architecture's number of each traced system call (absent: not traced)
//   REG_*            where this architecture keeps a system call's arguments in pt_regs
//   HAVE_ENTER       raw_syscalls sys_enter is used: latency, and libaio's requests (without it,
//                    wtop --no-latency: each call is counted at its exit alone, its descriptor
//                    read from its registers there)
//   WTOP_BTF         the system calls' programs are loaded as BTF raw tracepoints (tp_btf):
//                    their pt_regs is a typed pointer, its registers are read by plain loads
//   WTOP_LOOP        the libaio and sendmmsg walks are bpf_loop callbacks (Linux 5.17), which
//                    the loader links (probes/progcache.py)
//   WTOP_PACE        with WTOP_BTF and HAVE_ENTER: a storm of calls is timed in part, PACE_RUN
//                    calls in a row under PACE_GAP_NS apart making one, one in at most
//                    1 << PACE_SHIFT_MAX timed (see wtop_pace; without it, wtop
//                    --time-every-call, every call is timed)
//   FOCUS_SLOTS      entries of wtop_focus, used in turn as a process's page opens (a power of two)
//   HAVE_EXEC        sched_process_exec: follow renames on exec
//   HAVE_RENAME      task:task_rename: follow prctl(PR_SET_NAME) and /proc/PID/comm
//   HAVE_BLOCK       block:block_rq_issue and block_rq_complete exist: the disks view
//   HAVE_DIRTY_FOLIO writeback:writeback_dirty_folio (HAVE_DIRTY_PAGE: its name before 5.17)
//
// Every traced system call goes through one pair of raw tracepoints (sys_enter, sys_exit):
// a call is a case of a switch on its number, and detaching two raw tracepoints is instant,
// where each per-call perf tracepoint took 30-80 ms to detach under a kernel-wide mutex.
// The enter keeps the start time, the call's type and its descriptor in a per-thread slot;
// the exit finds them there. Cost model (ns per call on the test VM, see bench/): every
// event does one inlined per-CPU array lookup for its counters and one array lookup for the
// slot; the exit also does one per-CPU hash lookup for the (process, fd) pair. Nothing is
// shared between CPUs on the hot path, so threads writing in parallel do not contend.

#define SIZE_BUCKETS 64
#define LAT_BUCKETS 64
#define CALLS 15  // the data calls: see CALLS in probes/program.py
#define SYNCS 6   // fsync, fdatasync, sync_file_range, msync, syncfs, sync
#define TYPES (CALLS + SYNCS)
#define FAMILIES 6 // write, copy, send, io_uring, aio, sync
#define F_SYNC 5
#define IO_URING 13
#define LIBAIO 14
#define SENDMMSG 12
#define COPY_FILE_RANGE 5
#define SPLICE 7
#define TEE 9
#define MSYNC 18
#define SYNC 20
// libaio's own calls: not counted as calls, they carry the asynchronous writes
#define IO_SUBMIT 21
#define IO_GETEVENTS 22
#define IO_PGETEVENTS 23
#define WTOP_INFLIGHT 16384 // io_uring and libaio writes in flight at once (more: skipped)
// iocbs per io_submit or io_getevents call; any beyond are counted as skipped. With bpf_loop
// (WTOP_LOOP) the verifier checks a loop's body once; without it, once per turn (128 is more
// than it accepts in one program, and checking the loop at load took 170 ms at 32, 490 ms at
// 64: most of a start).
#ifdef WTOP_LOOP
#define AIO_MAX 4096
#else
#define AIO_MAX 32
#endif
#define VLEN_MAX 1024 // UIO_MAXIOV: sendmmsg sends at most this many messages a call

// One family of calls (the write family, copies, sends, syncs): its histograms and counts.
struct fam_stats {
    u64 sizes[SIZE_BUCKETS]; // log2 histogram of the bytes each successful call moved
    u64 lat[LAT_BUCKETS];    // log2 histogram of latency in ns, enter to exit
    u64 lat_sum;             // sum of all latencies (ns): the histogram's exact _sum
    u64 lat_max;             // largest latency on this CPU in epoch lat_epoch (ns)
    u64 lat_epoch;           // the interval lat_max belongs to (see `epoch`)
    u64 sla_missed;          // calls slower than the family's SLA
    u64 calls;               // calls that returned
    u64 bytes;               // bytes moved by successful calls
    u64 errors;              // calls that returned < 0
};

// Per-CPU counters: one lookup gives everything the exit needs.
struct cpu_stats {
    struct fam_stats fam[FAMILIES];
    u64 bytes;                 // all bytes written by the data calls
    u64 writes;                // all data calls that returned
    u64 errors;                // data calls that returned < 0
    u64 skip_map_full;         // calls not attributed to a process: map full
    u64 skip_no_entry;         // calls whose enter was not seen (no latency, no descriptor)
    u64 call_writes[TYPES];    // calls by type
    u64 call_bytes[TYPES];     // bytes by call type
};
BPF_PERCPU_ARRAY(wtop_stats, struct cpu_stats, 1);

// Set by user space: the interval number, advanced after each read, so that the kernel
// starts a new maximum latency per interval without user space ever writing to `stats`;
// and the process whose page is open (drill-down), 0 for none, with the entry of wtop_focus
// that counts it.
struct wtop_ctl {
    u64 epoch;
    u32 focus;
    u32 slot;
};
BPF_ARRAY(wtop_epoch, struct wtop_ctl, 1);

// The calls of the focused process, counted a second time. The entries are used in turn:
// user space zeroes the next one and names the process in it (every CPU's copy), then names
// the process and the entry in wtop_ctl, and names nobody in the previous entry once the
// focus moved on. A call counts into the entry only if the entry names its process, so a
// call in flight while the focus moves lands in its own process's entry or nowhere, never in
// the next one's (unless it spans FOCUS_SLOTS - 1 moves of the focus, and then as one call).
// An array, not a hash by tgid: its lookup is inlined, where the hash's cost the focused
// process about 35 ns a call (bpf_stats here). Only the focused process pays for the count.
struct focus_stats { // FOCUS_SLOTS of them: a power of two, from program.py
    struct cpu_stats st; // first: at the entry's own address
    u32 tgid;            // the process this entry counts, 0 for none
    u32 pad;
};
BPF_PERCPU_ARRAY(wtop_focus, struct focus_stats, FOCUS_SLOTS);

// The focused process's second count, if tgid is the focused process and its entry names it.
static __always_inline struct cpu_stats *wtop_focused(u32 focus, u32 slot, u32 tgid)
{
    if (focus != tgid)
        return 0;
    u32 i = slot & (FOCUS_SLOTS - 1);
    struct focus_stats *f = wtop_focus.lookup(&i);
    return f && f->tgid == tgid ? &f->st : 0;
}

// Cumulative counters per (process, file descriptor, thread, thread name at the time of the
// call). User space reads them without deleting, computes the interval as a difference, and
// sums them by process, by descriptor, by thread and by name (the seed's @[comm], exactly:
// a thread that renames itself starts a new entry), and frees only the entries of processes
// that have exited, so nothing that arrives between a read and a clear is lost. fd is -1 when
// the start of the call was not seen, or the call has no descriptor (msync, sync). One
// entry per call gives all four.
struct fd_key {
    u32 tgid;
    s32 fd;
    u32 tid;
    u32 pad;
    char comm[16];
} __attribute__((aligned(8)));
struct fd_stats {
    u64 bytes;
    u64 writes;
    u64 errors;
    u64 calls[CALLS];
    u64 syncs;
};
// The counters live in an array of cells, each holding its own key (tgid 0: free), and a
// hash maps each key to its cell. A thread's slot remembers the cell of its last call: the
// next call of the same key checks the cell's key (four compares) and counts, where looking
// the key up in a hash took 50-60 ns a write (bpf_stats, this VM). A key's first call looks
// it up, or takes a cell: one user space freed (wtop_free, the cells of processes gone), else
// a fresh one (wtop_next, an atomic fetch-and-add: Linux 5.12; without it, user space queues
// every cell before the programs start, and wtop_next counts those taken).
// One value per entry, not one per CPU: an entry is its thread's, and a thread runs on one CPU
// at a time, so a call's plain adds race with nothing. What completes apart from its thread
// (io_uring, libaio: wtop_add_async) is counted in entries of its own (pad FOREIGN), with
// atomic adds. Per CPU, the map took 152 bytes x CPUs an entry: 640 MB of the kernel's per-CPU
// memory at 64 CPUs, as much again in the dashboard, all copied by each read.
// Preallocated (the hash: 4-7 ms of a start; per CPU it took 41-78): made on demand
// (BPF_F_NO_PREALLOC), about half the entries of 10,000 processes writing at once were lost,
// the kernel's allocator refilling its per-CPU cache only afterwards (tests/bpf/test_storm.py).
#define FOREIGN 1
struct cell {
    struct fd_stats st; // first: a cell's counters are at its own address (clang may otherwise
    struct fd_key key;  // add the offset before the null check, which the verifier refuses)
    u64 seen;           // the epoch of its last count: an interval reads only the cells counted
                        // lately (10,000 idle writers' cells took 5-7 ms a second to read, and
                        // as long again to compare with the last read), all of them only now
                        // and then (see Kernel.read_procs)
};
#ifdef WTOP_FETCH
// user space reads the cells in place (Linux 5.5), and frees a cell by writing to it
BPF_F_TABLE("array", int, struct cell, wtop_cells, WTOP_MAP_SIZE, BPF_F_MMAPABLE);
#else
BPF_ARRAY(wtop_cells, struct cell, WTOP_MAP_SIZE);
#endif
BPF_HASH(wtop_procs, struct fd_key, u32, WTOP_MAP_SIZE);
BPF_QUEUE(wtop_free, u32, WTOP_MAP_SIZE);
BPF_ARRAY(wtop_next, u64, 1); // cells taken fresh: user space reads cells below it

// Name and user of each process, written once when the process first appears and again
// when it calls exec (so `sh -c dd ...` shows as dd).
struct proc_info {
    u32 uid;
    u32 pad;
    char comm[16];
    u64 cgroup; // cgroup v2 id at the first write (and at exec): the containers view
};
BPF_HASH(wtop_info, u32, struct proc_info, WTOP_MAP_SIZE);

// Start times, call types and descriptors by thread, in an array indexed by a multiplicative
// hash of the tid. Array lookups are inlined by the verifier, cheaper than a hash or task
// storage. The hash spreads consecutive tids (threads of one process) over different cache
// lines: with tid & mask, two threads writing on two CPUs shared a line and added ~50 ns per
// write (measured). Two threads that share a slot and are inside a traced call at the same
// moment cost one start time; the exit finds the other tid, looks the call's number up in
// its registers and counts it without latency (skip_no_entry).
struct start_slot {
    u64 ts;
    u32 tid;
    s32 fd;
    u64 aux;  // sendmmsg: the user's array of messages, whose lengths the kernel fills in
    u32 type;
    u32 cell;     // the cell of the slot's last counted call (see wtop_cached)
    u64 pad[4];   // 64 bytes: one cache line a slot
};
BPF_ARRAY(wtop_starts, struct start_slot, WTOP_SLOTS);

static __always_inline struct start_slot *wtop_slot(u32 tid)
{
    u32 slot = (tid * 2654435761u) & (WTOP_SLOTS - 1);
    return wtop_starts.lookup(&slot);
}

// The type of a system call by its number, -1 for every call wtop does not trace. The
// numbers are this architecture's (program.py passes them): a switch the compiler turns
// into a few comparisons, paid by every system call on the machine.
static __always_inline int wtop_type(long nr)
{
    switch (nr) {
#ifdef NR_WRITE
    case NR_WRITE: return 0;
#endif
#ifdef NR_PWRITE64
    case NR_PWRITE64: return 1;
#endif
#ifdef NR_WRITEV
    case NR_WRITEV: return 2;
#endif
#ifdef NR_PWRITEV
    case NR_PWRITEV: return 3;
#endif
#ifdef NR_PWRITEV2
    case NR_PWRITEV2: return 4;
#endif
#ifdef NR_COPY_FILE_RANGE
    case NR_COPY_FILE_RANGE: return 5;
#endif
#ifdef NR_SENDFILE
    case NR_SENDFILE: return 6;
#endif
#ifdef NR_SPLICE
    case NR_SPLICE: return 7;
#endif
#ifdef NR_VMSPLICE
    case NR_VMSPLICE: return 8;
#endif
#ifdef NR_TEE
    case NR_TEE: return 9;
#endif
#ifdef NR_SENDTO
    case NR_SENDTO: return 10;
#endif
#ifdef NR_SENDMSG
    case NR_SENDMSG: return 11;
#endif
#ifdef NR_SENDMMSG
    case NR_SENDMMSG: return 12;
#endif
#ifdef NR_FSYNC
    case NR_FSYNC: return 15;
#endif
#ifdef NR_FDATASYNC
    case NR_FDATASYNC: return 16;
#endif
#ifdef NR_SYNC_FILE_RANGE
    case NR_SYNC_FILE_RANGE: return 17;
#endif
#ifdef NR_MSYNC
    case NR_MSYNC: return 18;
#endif
#ifdef NR_SYNCFS
    case NR_SYNCFS: return 19;
#endif
#ifdef NR_SYNC
    case NR_SYNC: return 20;
#endif
#ifdef NR_IO_SUBMIT
    case NR_IO_SUBMIT: return IO_SUBMIT;
#endif
#ifdef NR_IO_GETEVENTS
    case NR_IO_GETEVENTS: return IO_GETEVENTS;
#endif
#ifdef NR_IO_PGETEVENTS
    case NR_IO_PGETEVENTS: return IO_PGETEVENTS;
#endif
    }
    return -1;
}

static __always_inline u32 wtop_family(u32 type)
{
    if (type < 5)
        return 0; // write, pwrite64, writev, pwritev, pwritev2
    if (type < 10)
        return 1; // copy_file_range, sendfile, splice, vmsplice, tee
    if (type < IO_URING)
        return 2; // sendto, sendmsg, sendmmsg
    if (type == IO_URING)
        return 3;
    if (type == LIBAIO)
        return 4;
    return F_SYNC;
}

// One saved register of a system call (its pt_regs, `off` bytes in). As a BTF raw tracepoint
// (tp_btf, Linux 5.5) the program's pt_regs is a pointer the verifier knows the type of, and a
// register is one load, which the JIT guards against faults: no helper call (bpf_probe_read
// costs ~50 ns a call here, and the exit of every system call on the machine made one). The
// load is written in assembly so that BCC leaves it as it is (it rewrites C dereferences into
// bpf_probe_read). Without BTF the program is a plain raw tracepoint and reads through the
// helper. `off` is a constant.
#define WTOP_STR2(x) #x
#define WTOP_STR(x) WTOP_STR2(x)
#ifdef WTOP_BTF
#define WTOP_LOAD(t, base, off)                                                                \
    ({                                                                                         \
        t _v;                                                                                  \
        asm volatile("%[v] = *(" #t " *)(%[p] + " WTOP_STR(off) ")" : [v] "=r"(_v) : [p] "r"(base)); \
        _v;                                                                                    \
    })
#else
#define WTOP_LOAD(t, base, off)                                            \
    ({                                                                     \
        t _v = 0;                                                          \
        bpf_probe_read_kernel(&_v, sizeof(_v), (char *)(base) + (off));    \
        _v;                                                                \
    })
#endif
#define WTOP_REG(base, off) WTOP_LOAD(u64, base, off)
// the call's number: an int on arm64 (syscallno), the low half of orig_ax on x86_64
#define WTOP_NR(base) ((s32)WTOP_LOAD(u32, base, REG_NR))

// The descriptor a call writes to, from its saved registers, which the call leaves as they
// were but for its return value's (arm64's first argument is read from orig_x0): at its
// enter, or at an exit whose enter was not seen. copy_file_range and splice write to their
// third argument, tee to its second; msync and sync have none.
#define WTOP_FD(reg, type)                                                                     \
    ((type) == MSYNC || (type) == SYNC ? -1                                                    \
     : (type) == COPY_FILE_RANGE || (type) == SPLICE ? (s32)reg(REG_ARG2)                      \
     : (type) == TEE ? (s32)reg(REG_ARG1) : (s32)reg(REG_ARG0))

// A 64-bit process (32-bit ones number their calls differently: the kernel's own
// per-call tracepoints leave them out too).
static __always_inline int wtop_native(void *regs)
{
    return (WTOP_REG(regs, REG_MODE) & REG_MODE_MASK) == REG_MODE_NATIVE;
}

static __always_inline int wtop_wanted(u64 pid_tgid)
{
    u32 tgid = pid_tgid >> 32;
    u32 self = WTOP_SELF_TGID;
#ifdef FILTER_TGID
    // kept a comparison with a number to patch (probes/progcache.py puts wtop's own id in):
    // knowing both constants, the compiler would drop it as moot beside the filter's
    asm volatile("" : "+r"(self));
#endif
    if (tgid == self)
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

// A process's name, user and cgroup, from the current task: the one that wrote, that execs,
// or that forks (a child has its parent's name, ids and cgroup).
static __always_inline void wtop_describe(struct proc_info *pi)
{
    bpf_get_current_comm(&pi->comm, sizeof(pi->comm));
    pi->uid = (u32)bpf_get_current_uid_gid();
    pi->cgroup = bpf_get_current_cgroup_id();
}

// A new process (for io_uring and libaio the one that submitted: a completion may run
// anywhere).
static __always_inline void wtop_note_process(u32 tgid)
{
    if (wtop_info.lookup(&tgid))
        return;
    struct proc_info pi = {};
    wtop_describe(&pi);
    wtop_info.update(&tgid, &pi);
}

// One returned call into its (process, descriptor, thread, name) entry, in epoch e.
static __always_inline void wtop_add(struct fd_stats *ps, long ret, u32 type, u64 e)
{
    ((struct cell *)ps)->seen = e; // ps is its cell (see struct cell)
    if (type >= CALLS) {
        ps->syncs++;
        return;
    }
    ps->writes++;
    ps->calls[type]++;
    if (ret > 0)
        ps->bytes += ret;
    else if (ret < 0)
        ps->errors++;
}

// The same for a write that completed apart from the thread that asked for it, in the
// thread's FOREIGN entry, which completions on several CPUs may share.
static __always_inline void wtop_add_async(struct fd_stats *ps, long ret, u32 type, u64 e)
{
    ((struct cell *)ps)->seen = e;
    __sync_fetch_and_add(&ps->writes, 1);
    __sync_fetch_and_add(&ps->calls[type], 1);
    if (ret > 0)
        __sync_fetch_and_add(&ps->bytes, ret);
    else if (ret < 0)
        __sync_fetch_and_add(&ps->errors, 1);
}

// The cell of a (process, descriptor, thread, name), taken if new; *made says whether this
// call took it, *at which cell it is. 0 when no cell is left (counted).
static __always_inline struct fd_stats *wtop_entry(struct fd_key *key, struct cpu_stats *cs, int *made, u32 *at)
{
    u32 *ip = wtop_procs.lookup(key);
    u32 i;
    struct cell *c;
    if (ip) {
        i = *ip;
        c = wtop_cells.lookup(&i);
        if (!c)
            return 0;
        *at = i;
        return &c->st;
    }
    u32 zero = 0;
    u64 *next = wtop_next.lookup(&zero);
    if (!next)
        return 0;
#ifdef WTOP_FETCH
    if (wtop_free.pop(&i) != 0) {
        if (*next >= WTOP_MAP_SIZE) {
            cs->skip_map_full++;
            return 0;
        }
        i = (u32)__sync_fetch_and_add(next, 1);
    }
#else
    if (wtop_free.pop(&i) != 0) {
        cs->skip_map_full++;
        return 0;
    }
    __sync_fetch_and_add(next, 1); // the cells were queued in order: those below it are taken
#endif
    c = wtop_cells.lookup(&i);
    if (!c) { // beyond the array: i came from a fetch-and-add that raced past the end
        cs->skip_map_full++;
        return 0;
    }
    // The key's cell is claimed in the hash first (BPF_NOEXIST: a completion on another CPU
    // may have claimed one for the same key meanwhile), then the cell is given its key.
    if (wtop_procs.insert(key, &i) != 0) {
        wtop_free.push(&i, 0);
        ip = wtop_procs.lookup(key);
        if (!ip) {
            cs->skip_map_full++;
            return 0;
        }
        i = *ip;
        c = wtop_cells.lookup(&i);
        if (!c)
            return 0;
        *at = i;
        return &c->st;
    }
    // tgid last: a cell whose tgid is 0 is free, and user space reads cells as they are
    c->key.tid = key->tid;
    c->key.pad = key->pad;
    __builtin_memcpy(c->key.comm, key->comm, sizeof(c->key.comm));
#ifdef WTOP_FETCH
    // tgid and fd in one exchange (an atomic that fetches, on the key's first 8 bytes): it
    // orders the stores above before it, and the counts after it, on every CPU (x86 orders
    // plain stores anyway; arm64 does not)
    __sync_lock_test_and_set((u64 *)&c->key, ((u64)(u32)key->fd << 32) | key->tgid);
#else
    c->key.fd = key->fd;
    asm volatile("" ::: "memory");
    c->key.tgid = key->tgid;
#endif
    *made = 1;
    *at = i;
    return &c->st;
}

static __always_inline struct fd_stats *wtop_fd(struct fd_key *key, struct cpu_stats *cs, u32 *at)
{
    int made = 0;
    struct fd_stats *ps = wtop_entry(key, cs, &made, at);
    if (ps && made)
        wtop_note_process(key->tgid);
    return ps;
}

// The cell the thread's slot remembers, if it holds this key.
static __always_inline struct fd_stats *wtop_cached(u32 i, struct fd_key *key)
{
    struct cell *c = wtop_cells.lookup(&i);
    if (!c)
        return 0;
    u64 *a = (u64 *)&c->key, *b = (u64 *)key;
    if (a[0] != b[0] || a[1] != b[1] || a[2] != b[2] || a[3] != b[3])
        return 0;
    return &c->st;
}

// The log2 bucket of a value, as BCC's bpf_log2l counts it (floor(log2(v)) + 1; 0 and 1 in
// bucket 1), without a branch. BCC's compares and jumps at each of its five steps, and the
// verifier follows every way through them, for each histogram of each call: that was 9 in 10
// of the paths it walked (at load, sys_exit took 83 ms with them and 17 without; raw_tail_exit
// 219 and 40).
// Each step here is arithmetic: x != 0 is (x | -x) >> 63 for x < 2^63, and the step shifts by
// 32, 16, ... when the value is that wide. Written in assembly: clang turns (x | -x) >> 63 back
// into a compare and a jump. Values of 2^63 and more (no count of bytes or nanoseconds is)
// would wrap to bucket 0; the mask is what tells the verifier the bucket is in range.
static __always_inline u32 wtop_log2(u64 v)
{
    u64 r = 0, s, x;
#define WTOP_LOG2_STEP(k, lg)                                                                  \
    "%[x] = %[v]\n\t%[x] >>= " #k "\n\t%[s] = %[x]\n\t%[s] = -%[s]\n\t%[s] |= %[x]\n\t"       \
    "%[s] >>= 63\n\t%[s] <<= " #lg "\n\t%[v] >>= %[s]\n\t%[r] |= %[s]\n\t"
    asm volatile(WTOP_LOG2_STEP(32, 5) WTOP_LOG2_STEP(16, 4) WTOP_LOG2_STEP(8, 3) WTOP_LOG2_STEP(4, 2)
                 WTOP_LOG2_STEP(2, 1) "%[v] >>= 1\n\t%[r] |= %[v]"
                 : [v] "+r"(v), [r] "+r"(r), [s] "=&r"(s), [x] "=&r"(x));
#undef WTOP_LOG2_STEP
    return (u32)(r + 1) & 63;
}

// One call's latency into its family's histogram, sum, maximum and SLA count.
static __always_inline void wtop_time(struct fam_stats *fs, u64 delta, u64 e, u64 sla)
{
    u32 b = wtop_log2(delta); // < 64: LAT_BUCKETS
    fs->lat[b]++;
    fs->lat_sum += delta;
    if (fs->lat_epoch != e) {
        fs->lat_epoch = e;
        fs->lat_max = 0;
    }
    if (delta > fs->lat_max)
        fs->lat_max = delta;
    if (delta > sla)
        fs->sla_missed++;
}

// Count one returned call into a set of counters. timed: 1 with its latency in delta, 0
// when the start was not seen, -1 when nothing could time it (no sys_enter), 2 when its enter
// chose not to (see wtop_pace). `type` is a constant in each inlined copy of the write path.
static __always_inline void wtop_count(struct cpu_stats *cs, long ret, u32 type, int timed, u64 delta, u64 e)
{
    u32 f = wtop_family(type);
    if (f >= FAMILIES || type >= TYPES)
        return;
    struct fam_stats *fs = &cs->fam[f];
    if (timed == 1) {
        wtop_time(fs, delta, e, f == F_SYNC ? WTOP_SYNC_SLA_NS : WTOP_SLA_NS);
    } else if (timed == 0) {
        cs->skip_no_entry++;
    }
    fs->calls++;
    cs->call_writes[type]++;
    if (f != F_SYNC)
        cs->writes++;
    if (ret > 0 && f != F_SYNC) {
        u32 b = wtop_log2((u64)ret); // < 64: SIZE_BUCKETS
        fs->sizes[b]++;
        fs->bytes += ret;
        cs->bytes += ret;
        cs->call_bytes[type] += ret;
    } else if (ret < 0) {
        fs->errors++;
        if (f != F_SYNC)
            cs->errors++;
    }
}

// The writing thread's name: bpf_get_current_comm is a helper call, and a costly one (40 ns
// of a write by bpf_stats here, where a plain helper call costs about 12). It is kept per
// CPU, for the thread that last returned there: a thread writing many times in its time on
// a CPU reads it once. Per CPU because sys_exit runs once at a time on a CPU (the kernel skips
// a program that would start again on a CPU where it is running), so nothing writes the name
// kept there while it is copied out. (It was kept in the thread's slot, which two threads may
// share, their tids hashed alike: one wrote its name there while the other copied it out; a
// test catches that with every thread in one slot.) Every way a name changes (prctl,
// /proc/PID/comm, exec) passes task:task_rename, and a new task may take a dead thread's id:
// both move wtop_names_gen on, and every CPU reads the name again. Without task_rename the
// name is read on every call.
#ifdef HAVE_RENAME
struct comm_seen {
    u32 tid;
    u32 pad;
    u64 gen;
    char comm[16];
};
BPF_PERCPU_ARRAY(wtop_comm_seen, struct comm_seen, 1);
BPF_ARRAY(wtop_names_gen, u64, 1);
#endif

static __always_inline void wtop_comm(u32 tid, char *out)
{
#ifdef HAVE_RENAME
    u32 zero = 0;
    struct comm_seen *c = wtop_comm_seen.lookup(&zero);
    u64 *gen = wtop_names_gen.lookup(&zero);
    if (c && gen) {
        u64 g = *gen; // before the name is read: a rename after this moves it on for the next call
        if (c->tid != tid || c->gen != g) {
            bpf_get_current_comm(c->comm, sizeof(c->comm));
            c->tid = tid;
            c->gen = g;
        }
        __builtin_memcpy(out, c->comm, 16);
        return;
    }
#endif
    bpf_get_current_comm(out, 16);
}

// A thread's name may have changed, or its id gone to a new thread: every name kept is read
// again.
static __always_inline void wtop_forget_names(void)
{
#ifdef HAVE_RENAME
    u32 zero = 0;
    u64 *gen = wtop_names_gen.lookup(&zero);
    if (gen)
        __sync_fetch_and_add(gen, 1);
#endif
}

// Who the current task is (bpf_get_current_pid_tgid), without the helper call when it can:
// at sys_enter that call took 16-19 ns of a write here (bpf_stats: the first helper calls
// after a system call's entry are dear, with this CPU's return thunks), at sys_exit about 3.
// The task is known by its saved registers' address (the program's own argument): the top of
// its kernel stack, its own as long as it lives. Kept per CPU, for the task that last came
// this way, with the names' generation: a task that ended can leave its stack to a new one
// only through task_newtask, which moves the generation on (as does an exec, which may change
// a thread's ids, through its rename), so an entry of an older generation is read again. One
// cache for each program (sys_enter, sys_exit), for the same reason as wtop_comm: each runs
// once at a time on a CPU, but the two may interleave there where the system call tracepoints
// run preemptibly.
#if defined(WTOP_BTF) && defined(HAVE_RENAME) && defined(HAVE_NEWTASK)
struct who {
    u64 regs;
    u64 gen;
    u64 pid_tgid;
};
BPF_PERCPU_ARRAY(wtop_who_enter, struct who, 1);
BPF_PERCPU_ARRAY(wtop_who_exit, struct who, 1);
#define WTOP_WHO
#endif

static __always_inline u64 wtop_pid_tgid(void *regs, int exit)
{
#ifdef WTOP_WHO
    u32 zero = 0;
    struct who *w = exit ? wtop_who_exit.lookup(&zero) : wtop_who_enter.lookup(&zero);
    u64 *gen = wtop_names_gen.lookup(&zero);
    if (w && gen) {
        u64 g = *gen; // before the ids are read: a new task after this moves it on
        if (w->regs == (u64)regs && w->gen == g)
            return w->pid_tgid;
        u64 id = bpf_get_current_pid_tgid();
        w->regs = (u64)regs;
        w->gen = g;
        w->pid_tgid = id;
        return id;
    }
#endif
    return bpf_get_current_pid_tgid();
}

// A returned call: count it. fd is -1 when unknown; timed as for wtop_count (-1: this
// kernel has no sys_enter to time it with, nothing was missed).
static __always_inline int wtop_exit(u64 pid_tgid, long ret, u32 type, s32 fd, int timed, u64 delta, struct start_slot *s)
{
    // copy_file_range that copied nothing (cp's last call, at the end of the file) is no
    // call by the kernel's own count (/proc/PID/io syscw): it returns before counting.
    if (type == COPY_FILE_RANGE && ret == 0)
        return 0;
    u32 zero = 0;
    struct cpu_stats *cs = wtop_stats.lookup(&zero);
    if (!cs)
        return 0;
    struct wtop_ctl *ctl = wtop_epoch.lookup(&zero);
    u64 e = 0;
    u32 focus = 0, slot = 0;
    if (ctl) {
        e = ctl->epoch;
        focus = ctl->focus;
        slot = ctl->slot;
    }
    struct fd_key key = {.tgid = pid_tgid >> 32, .fd = fd, .tid = (u32)pid_tgid};
    wtop_count(cs, ret, type, timed, delta, e);
    struct cpu_stats *fs = wtop_focused(focus, slot, key.tgid);
    if (fs)
        wtop_count(fs, ret, type, timed, delta, e);
    wtop_comm(key.tid, key.comm);
    struct fd_stats *ps = s ? wtop_cached(s->cell, &key) : 0;
    if (!ps) {
        u32 at = 0;
        ps = wtop_fd(&key, cs, &at);
        if (!ps)
            return 0;
        if (s)
            s->cell = at;
    }
    wtop_add(ps, ret, type, e);
    return 0;
}

// -- io_uring and libaio: writes that complete apart from the call that asked for them ---
//
// io_uring: a request is seen at submission (the task that submits it: the ring's owner,
// or its SQPOLL thread, a thread of the same process) and at completion, wherever that runs
// (iou-wrk-* workers, task work, interrupts): matched by the request's address, counted by
// the completion's result, timed from one to the other, charged to the submitter.
// Only operations that move data out are kept (see wtop_uring_op).
struct uring_start {
    u64 ts;
    u32 tgid;
    u32 tid;
    char comm[16];
};
BPF_HASH(wtop_uring, u64, struct uring_start, WTOP_INFLIGHT);

// IORING_OP_*: WRITEV 2, WRITE_FIXED 5, SENDMSG 9, WRITE 23, SEND 26, SPLICE 30, TEE 33,
// SEND_ZC 47, SENDMSG_ZC 48, WRITEV_FIXED 61 (include/uapi/linux/io_uring.h).
static __always_inline int wtop_uring_op(u32 op)
{
    switch (op) {
    case 2: case 5: case 9: case 23: case 26: case 30: case 33: case 47: case 48: case 61:
        return 1;
    }
    return 0;
}

static __always_inline int wtop_uring_submit(u64 req, u32 op)
{
    if (!wtop_uring_op(op))
        return 0;
    u64 pid_tgid = bpf_get_current_pid_tgid();
    if (!wtop_wanted(pid_tgid))
        return 0;
    struct uring_start st = {.tgid = pid_tgid >> 32, .tid = (u32)pid_tgid};
    bpf_get_current_comm(&st.comm, sizeof(st.comm));
    wtop_note_process(st.tgid);
    st.ts = bpf_ktime_get_ns();
    if (wtop_uring.update(&req, &st)) {
        u32 zero = 0;
        struct cpu_stats *cs = wtop_stats.lookup(&zero);
        if (cs)
            cs->skip_map_full++;
    }
    return 0;
}

#ifdef HAVE_URING_SUBMIT_REQ
TRACEPOINT_PROBE(io_uring, io_uring_submit_req) { return wtop_uring_submit((u64)args->req, args->opcode); }
#endif
#ifdef HAVE_URING_SUBMIT_SQE
TRACEPOINT_PROBE(io_uring, io_uring_submit_sqe) { return wtop_uring_submit((u64)args->req, args->opcode); }
#endif

// One asynchronous write that completed, for the process that submitted it.
struct async_done {
    u64 delta;
    s64 ret;
    u32 tgid;
    u32 tid;
    s32 fd;
    u32 type;
    char comm[16];
};

// Count it (inlined: BCC links no BPF-to-BPF calls).
static __always_inline int wtop_async_done(struct async_done *d)
{
    u32 zero = 0;
    struct cpu_stats *cs = wtop_stats.lookup(&zero);
    if (!cs)
        return 0;
    struct wtop_ctl *ctl = wtop_epoch.lookup(&zero);
    u64 e = ctl ? ctl->epoch : 0;
    u32 type = d->type;
    long ret = d->ret;
    u32 tgid = d->tgid;
    wtop_count(cs, ret, type, 1, d->delta, e);
    struct cpu_stats *fs = ctl ? wtop_focused(ctl->focus, ctl->slot, tgid) : 0;
    if (fs)
        wtop_count(fs, ret, type, 1, d->delta, e);
    struct fd_key key = {.tgid = tgid, .fd = d->fd, .tid = d->tid, .pad = FOREIGN};
    __builtin_memcpy(key.comm, d->comm, sizeof(key.comm));
    int made = 0;
    u32 at;
    struct fd_stats *ps = wtop_entry(&key, cs, &made, &at);
    if (ps && type < CALLS)
        wtop_add_async(ps, ret, type, e);
    return 0;
}

#ifdef HAVE_URING_COMPLETE
TRACEPOINT_PROBE(io_uring, io_uring_complete)
{
    u64 req = (u64)args->req;
    struct uring_start *st = wtop_uring.lookup(&req);
    if (!st)
        return 0; // not a write, filtered out, or submitted before wtop started
    u64 now = bpf_ktime_get_ns();
    struct async_done d = {.ret = args->res, .tgid = st->tgid, .tid = st->tid, .fd = -1, .type = IO_URING};
    d.delta = now > st->ts ? now - st->ts : 0;
    __builtin_memcpy(d.comm, st->comm, sizeof(d.comm));
    wtop_uring.delete(&req);
    return wtop_async_done(&d);
}
#endif

// libaio: io_submit hands the kernel an array of iocb pointers; each write (IOCB_CMD_PWRITE 1,
// IOCB_CMD_PWRITEV 8) is remembered by (process, iocb address) with its descriptor and the
// time; io_getevents (or io_pgetevents) returns struct io_event {data, obj, res, res2} for
// each completed iocb, obj its address: the write is counted there, by its result. (struct
// iocb is the kernel's user ABI: aio_lio_opcode at byte 16, aio_fildes at 20.)
struct aio_key {
    u64 iocb;
    u32 tgid;
    u32 pad;
};
struct aio_start {
    u64 ts;
    u32 tid;
    s32 fd;
    char comm[16];
};
BPF_HASH(wtop_aio, struct aio_key, struct aio_start, WTOP_INFLIGHT);

// -- what sys_exit leaves to programs of their own ------------------------------------------
//
// The calls whose counting walks an array (libaio's iocbs and events, sendmmsg's messages),
// and the calls whose enter wtop did not see, are counted by programs reached by a tail call
// from sys_exit: the verifier checks each program on its own, side by side with the others
// (sys_exit with all of it inside took 220-280 ms to check, most of wtop's start). Those
// programs call no further: a program in wtop_tails that tail-called through wtop_tails would
// make a cycle of references the kernel breaks only when the last fd closes, and on Linux
// 6.18 a wtop killed with SIGKILL left the map behind, empty, for good. sys_exit hands the
// call over in a per-CPU cursor: the programs run with migration disabled, one at a time per
// CPU.
struct cursor {
    u64 array;  // io_submit: the iocb pointers; io_getevents: the io_event array; sendmmsg: its messages
    u64 now;
    u64 pid_tgid;
    s64 n;      // what the call returned (io_submit, io_getevents, sendmmsg: how many)
    u64 noted;  // io_submit: the process is known to wtop_info
    u64 e;      // io_getevents: the epoch of the latency maxima
    u64 sum;    // sendmmsg: the bytes of its messages so far
    u64 delta;  // a counted call: its latency
    s32 fd;     // a counted call: its descriptor (-1: unknown)
    u32 type;   // a counted call: its type
    s32 timed;  // a counted call: as for wtop_count
    u32 pad;
    char comm[16]; // io_submit: the submitting thread's name
};
BPF_PERCPU_ARRAY(wtop_cursor, struct cursor, 1);

static __always_inline struct cursor *wtop_cur(void)
{
    u32 zero = 0;
    return wtop_cursor.lookup(&zero);
}
// 0: raw_tail_aio_submit, 1: raw_tail_aio_reap, 2: raw_tail_exit (user space fills it in)
BPF_PROG_ARRAY(wtop_tails, 3);
#define TAIL_SUBMIT 0
#define TAIL_REAP 1
#define TAIL_EXIT 2

#ifdef WTOP_LOOP
// bpf_loop's callbacks. BCC compiles each function on its own and knows nothing of callbacks:
// a program names its callback by a marker (WTOP_CALLBACK), and the loader places the
// callback's code after the program's and points the marker at it (probes/progcache.py,
// CALLBACKS, in this order). bpf_loop passes a callback a context as well: none is used, and
// BCC would rewrite a second parameter as a kprobe's register, so it is left out.
#define WTOP_CALLBACK(n) ((void *)(0x7EADCA1100000000ULL | (n)))
#endif

// The turns of `call` (on i) from i = 0 until it returns 1, at most max: a bpf_loop over the
// callback numbered cb (which makes the same call), or else a loop the verifier walks turn by
// turn.
#ifdef WTOP_LOOP
#define WTOP_WALK(max, cb, call) bpf_loop(max, WTOP_CALLBACK(cb), 0, 0)
#else
#define WTOP_WALK(max, cb, call)                                                                \
    _Pragma("clang loop unroll(disable)") for (int i = 0; i < (max); i++) {                    \
        if (call)                                                                               \
            break;                                                                              \
    }
#endif

// Tail-call the program in slot `tail`, the cursor filled in. Only if that fails does this
// return, and the calls it would have counted are counted as skipped.
static __always_inline int wtop_hand_over(void *ctx, u32 tail, u64 calls)
{
    wtop_tails.call(ctx, tail);
    u32 zero = 0;
    struct cpu_stats *cs = wtop_stats.lookup(&zero);
    if (cs)
        cs->skip_no_entry += calls;
    return 0;
}

static __always_inline int wtop_aio_start(void *ctx, u32 tail, u64 pid_tgid, u64 array, long n, u64 now)
{
    if (n <= 0 || !array)
        return 0;
    struct cursor *c = wtop_cur();
    if (!c)
        return 0;
    c->array = array;
    c->now = now;
    c->pid_tgid = pid_tgid;
    c->n = n;
    return wtop_hand_over(ctx, tail, n);
}

// What is beyond AIO_MAX is counted as skipped: seen, not attributed.
static __always_inline void wtop_aio_beyond(struct cursor *c)
{
    if (c->n <= AIO_MAX)
        return;
    u32 zero = 0;
    struct cpu_stats *cs = wtop_stats.lookup(&zero);
    if (cs)
        cs->skip_no_entry += c->n - AIO_MAX;
}

// One iocb of an io_submit: a write is remembered until its completion is reaped. 1: stop.
static __always_inline long wtop_aio_submit_one(u32 i, struct cursor *c)
{
    if (i >= c->n)
        return 1;
    u64 iocb = 0;
    bpf_probe_read_user(&iocb, sizeof(iocb), (void *)(c->array + (u64)i * 8));
    u32 op_fd[2] = {};
    if (!iocb || bpf_probe_read_user(op_fd, sizeof(op_fd), (void *)(iocb + 16)))
        return 0;
    u16 op = op_fd[0] & 0xffff;
    if (op != 1 && op != 8)
        return 0;
    struct aio_key k = {.iocb = iocb, .tgid = c->pid_tgid >> 32};
    struct aio_start st = {.ts = c->now, .tid = (u32)c->pid_tgid, .fd = (s32)op_fd[1]};
    __builtin_memcpy(st.comm, c->comm, sizeof(st.comm));
    if (wtop_aio.update(&k, &st)) {
        u32 zero = 0;
        struct cpu_stats *cs = wtop_stats.lookup(&zero);
        if (cs)
            cs->skip_map_full++;
    }
    if (!c->noted) {
        wtop_note_process(k.tgid);
        c->noted = 1;
    }
    return 0;
}

#ifdef WTOP_LOOP
int wtop_cb_aio_submit(u32 i)
{
    struct cursor *c = wtop_cur();
    return c ? wtop_aio_submit_one(i, c) : 1;
}
#endif

int raw_tail_aio_submit(struct bpf_raw_tracepoint_args *ctx)
{
    struct cursor *c = wtop_cur();
    if (!c)
        return 0;
    bpf_get_current_comm(c->comm, sizeof(c->comm));
    c->noted = 0;
    WTOP_WALK(AIO_MAX, 0, wtop_aio_submit_one(i, c));
    wtop_aio_beyond(c);
    return 0;
}

// One libaio write, counted lean (it runs AIO_MAX times in one program, and the verifier
// walks every iteration): the totals, the aio family's histograms, the process's
// descriptor. (Not into a focused process's second count: its page shows libaio writes
// among its calls, not in its own histograms.)
static __always_inline void wtop_aio_count(struct cpu_stats *cs, struct fd_key *key, long ret, u64 delta, u64 e)
{
    struct fam_stats *fs = &cs->fam[4];
    wtop_time(fs, delta, e, WTOP_SLA_NS);
    fs->calls++;
    cs->writes++;
    cs->call_writes[LIBAIO]++;
    if (ret > 0) {
        u32 b = wtop_log2((u64)ret);
        fs->sizes[b]++;
        fs->bytes += ret;
        cs->bytes += ret;
        cs->call_bytes[LIBAIO] += ret;
    } else if (ret < 0) {
        fs->errors++;
        cs->errors++;
    }
    int made = 0;
    u32 at;
    struct fd_stats *ps = wtop_entry(key, cs, &made, &at);
    if (ps)
        wtop_add_async(ps, ret, LIBAIO, e);
}

// One completion of an io_getevents: counted if it is a write wtop saw submitted. 1: stop.
static __always_inline long wtop_aio_reap_one(u32 i, struct cursor *c, struct cpu_stats *cs)
{
    if (i >= c->n)
        return 1;
    u64 ev[3] = {}; // data, obj, res
    if (bpf_probe_read_user(ev, sizeof(ev), (void *)(c->array + (u64)i * 32)))
        return 0;
    struct aio_key k = {.iocb = ev[1], .tgid = c->pid_tgid >> 32};
    struct aio_start *st = wtop_aio.lookup(&k);
    if (!st)
        return 0; // a read, or submitted before wtop started
    struct fd_key key = {.tgid = k.tgid, .fd = st->fd, .tid = st->tid, .pad = FOREIGN};
    __builtin_memcpy(key.comm, st->comm, sizeof(key.comm));
    u64 delta = c->now > st->ts ? c->now - st->ts : 0;
    wtop_aio.delete(&k);
    wtop_aio_count(cs, &key, (long)ev[2], delta, c->e);
    return 0;
}

#ifdef WTOP_LOOP
int wtop_cb_aio_reap(u32 i)
{
    u32 zero = 0;
    struct cursor *c = wtop_cur();
    struct cpu_stats *cs = wtop_stats.lookup(&zero);
    return c && cs ? wtop_aio_reap_one(i, c, cs) : 1;
}
#endif

int raw_tail_aio_reap(struct bpf_raw_tracepoint_args *ctx)
{
    u32 zero = 0;
    struct cursor *c = wtop_cur();
    if (!c)
        return 0;
    struct cpu_stats *cs = wtop_stats.lookup(&zero);
    if (!cs)
        return 0;
    struct wtop_ctl *ctl = wtop_epoch.lookup(&zero);
    c->e = ctl ? ctl->epoch : 0;
    WTOP_WALK(AIO_MAX, 1, wtop_aio_reap_one(i, c, cs));
    wtop_aio_beyond(c);
    return 0;
}

// -- sendmmsg, and the calls whose enter was not seen -------------------------------------
//
// sendmmsg returns how many messages it sent; the bytes are in each message's msg_len, which
// the kernel has just written into the caller's array (struct mmsghdr: a 56-byte struct
// msghdr, then unsigned int msg_len, 64 bytes in all). The sum is kept in the cursor, not in a
// register: each way out of the loop then leaves the same state for the verifier.
static __always_inline long wtop_mmsg_one(u32 i, struct cursor *c)
{
    if (i >= c->n)
        return 1;
    u32 len = 0;
    bpf_probe_read_user(&len, sizeof(len), (void *)(c->array + (u64)i * 64 + 56));
    c->sum += len;
    return 0;
}

#ifdef WTOP_LOOP
int wtop_cb_mmsg(u32 i)
{
    struct cursor *c = wtop_cur();
    return c ? wtop_mmsg_one(i, c) : 1;
}
#endif

// A returned call that sys_exit handed over: a sendmmsg, or a call whose enter was not seen
// (its type then found in its registers). Its type is read from the cursor, a number the
// verifier knows only the range of: coming straight from the switch on the call's number, it
// was another constant on each way, and the counting was checked once for each.
int raw_tail_exit(struct bpf_raw_tracepoint_args *ctx)
{
    struct cursor *c = wtop_cur();
    if (!c)
        return 0;
    u32 type = c->type;
    if (type >= IO_SUBMIT)
        return 0;
    long ret = c->n;
    if (type == SENDMMSG && ret > 0 && c->array) {
        c->sum = 0;
        WTOP_WALK(VLEN_MAX, 2, wtop_mmsg_one(i, c));
        ret = c->sum;
    }
    u32 tid = (u32)c->pid_tgid;
    struct start_slot *s = wtop_slot(tid); // the thread's own slot keeps its name, if it has one
    if (s && s->tid != tid)
        s = 0;
    return wtop_exit(c->pid_tgid, ret, type, c->fd, c->timed, c->delta, s);
}

// Hand a returned call to raw_tail_exit.
static __always_inline int wtop_exit_apart(void *ctx, u64 pid_tgid, long ret, u32 type, s32 fd, int timed, u64 delta, u64 aux)
{
    struct cursor *c = wtop_cur();
    if (!c)
        return 0;
    c->pid_tgid = pid_tgid;
    c->n = ret;
    c->type = type;
    c->fd = fd;
    c->timed = timed;
    c->delta = delta;
    c->array = aux;
    return wtop_hand_over(ctx, TAIL_EXIT, 1);
}

#ifdef HAVE_ENTER
#if defined(WTOP_PACE) && defined(WTOP_BTF)
// The pace of timing, per CPU. Timing a call costs two clock reads, about as much again as
// the two tracepoints themselves (bench part 1: the reads alone 1.9-2.2x the floor on an AMD
// EPYC VM). A storm of data calls on a CPU, PACE_RUN timed ones in a row each less than
// PACE_GAP_NS after the last (a loop of small writes to a pipe, a socket or /dev/null), has
// then one in 2, 4 or 8 of its calls timed (1 << shift), evenly; the others are counted in
// full at their exit, from their registers, without latency. A shorter burst, or calls
// further apart, are all timed; so are the sync calls, io_uring and libaio. Only timed calls
// measure the pace (the gap between two covers 1 << shift calls): a gap over 4 x
// PACE_GAP_NS times twice as many, one over 64 x (the storm is over) every call, so at most 7
// calls after a storm go untimed.
// (PACE_GAP_NS, PACE_RUN and PACE_SHIFT_MAX come from program.py)
struct pace {
    u64 last;  // when this CPU last timed a data call
    u32 skip;  // data calls to leave untimed before the next timed one
    u32 shift; // one in 1 << shift timed
    u32 fast;  // timed calls in a row that came less than PACE_GAP_NS apart
    u32 pad;
};
BPF_PERCPU_ARRAY(wtop_pace, struct pace, 1);
#define WTOP_PACED
#endif

// Every system call's entry: one switch for the calls wtop does not trace.
RAW_TRACEPOINT_PROBE(sys_enter)
{
    int type = wtop_type((long)ctx->args[1]);
    if (type < 0)
        return 0;
    void *regs = (void *)ctx->args[0];
    u64 pid_tgid = wtop_pid_tgid(regs, 0);
    if (!wtop_wanted(pid_tgid))
        return 0;
#ifdef WTOP_PACED
    struct pace *p = 0;
    if (type <= SENDMMSG) {
        u32 zero = 0;
        p = wtop_pace.lookup(&zero);
        if (p && p->skip) {
            p->skip--;
            // Not timed: the thread's slot says so (its tid, no start), and the exit counts
            // the call from its registers. (A thread sharing the slot, in a call of its own,
            // then has its call counted that way too, untimed.)
            struct start_slot *s = wtop_slot((u32)pid_tgid);
            if (s) {
                s->tid = (u32)pid_tgid;
                s->ts = 0;
            }
            return 0;
        }
    }
#endif
#ifdef WTOP_BTF
    if (!regs)
        return 0;
#define REG(off) WTOP_REG(regs, off)
#else
    // The registers wtop needs, in one read (one helper call): the arguments and what tells
    // a 64-bit process (REG_LO and REG_WORDS span them, see program.py).
    u64 r[REG_WORDS] = {};
    bpf_probe_read_kernel(r, sizeof(r), (char *)regs + REG_LO);
#define REG(off) r[((off) - REG_LO) / 8]
#endif
    if ((REG(REG_MODE) & REG_MODE_MASK) != REG_MODE_NATIVE)
        return 0;
    s32 fd = WTOP_FD(REG, type);
    u64 aux = 0;
    if (type == SENDMMSG)
        aux = REG(REG_ARG1);
    else if (type == IO_SUBMIT) // io_submit(ctx, nr, iocbpp)
        aux = REG(REG_ARG2);
    else if (type >= IO_GETEVENTS) // io_getevents(ctx, min_nr, nr, events, timeout)
        aux = REG(REG_ARG3);
#undef REG
    u32 tid = (u32)pid_tgid;
    struct start_slot *s = wtop_slot(tid);
    if (!s)
        return 0;
    s->tid = tid;
    s->type = type;
    s->fd = fd;
    s->aux = aux;
    u64 now = bpf_ktime_get_ns();
    s->ts = now;
#ifdef WTOP_PACED
    if (p) {
        u64 gap = now - p->last;
        u32 shift = p->shift;
        p->last = now;
        if (gap < PACE_GAP_NS) {
            if (p->fast < PACE_RUN)
                p->fast++;
            else if (shift < PACE_SHIFT_MAX)
                shift++;
        } else {
            p->fast = 0;
            if (gap > PACE_GAP_NS * 64)
                shift = 0;
            else if (gap > PACE_GAP_NS * 4 && shift > 0)
                shift--;
        }
        p->shift = shift;
        p->skip = (1u << shift) - 1;
    }
#endif
    return 0;
}
#endif

// Every system call's exit. A traced call whose enter was seen is in the thread's slot; a
// thread whose slot holds no call in flight made no traced call; any other exit (another
// thread's slot: a collision, or wtop started during the call) looks its call's number up
// in the registers (the kernel keeps it there).
RAW_TRACEPOINT_PROBE(sys_exit)
{
    void *regs = (void *)ctx->args[0];
#ifdef WTOP_BTF
    if (!regs)
        return 0;
    // A call wtop does not trace (most calls on a machine) leaves at once, on its number: one
    // guarded load here, where the thread's slot costs a helper call and a lookup (20 ns a
    // call by bpf_stats, on every getppid, futex, read... of the machine).
    if (wtop_type(WTOP_NR(regs)) < 0)
        return 0;
#endif
    u64 pid_tgid;
    long ret = (long)ctx->args[1];
    // What the call was, from its slot or from its registers; then one way to count it (one
    // copy of the counting code for the verifier to check, not one per way in).
    u32 type; // unsigned: one comparison bounds it for the verifier, on every way in
    s32 fd = -1;
    int timed = -1; // no sys_enter on this kernel: nothing to time, nothing missed
    u64 delta = 0;
    u64 aux = 0;
    struct start_slot *mine = 0;
#ifdef HAVE_ENTER
    pid_tgid = wtop_pid_tgid(regs, 1);
    u32 tid = (u32)pid_tgid;
    struct start_slot *s = wtop_slot(tid);
    if (!s)
        return 0;
    timed = 0;
    int own = s->tid == tid;
    if (own && s->ts == 0) {
#ifdef WTOP_BTF
        // A traced call (its number said so above) in the thread's own slot, with no start:
        // its enter chose not to time it (wtop_pace), or a thread sharing the slot cleared
        // it (its exit read the slot as its own just before this thread's enter filled it).
        // Counted from the registers, untimed, not lost.
        own = 0;
#ifdef WTOP_PACED
        timed = 2;
#endif
#else
        return 0; // the thread's own slot with no call of wtop's in flight: not traced (the
                  // plain programs look at the call's number only below: every call comes here)
#endif
    }
    if (own) {
        u64 now = bpf_ktime_get_ns();
        delta = now >= s->ts ? now - s->ts : 0;
        type = s->type;
        fd = s->fd;
        aux = s->aux;
        s->ts = 0;
        if (type == IO_SUBMIT)
            return wtop_aio_start(ctx, TAIL_SUBMIT, pid_tgid, aux, ret, now);
        if (type >= IO_GETEVENTS)
            return wtop_aio_start(ctx, TAIL_REAP, pid_tgid, aux, ret, now);
        if (type == SENDMMSG)
            return wtop_exit_apart(ctx, pid_tgid, ret, type, fd, 1, delta, aux);
        timed = 1;
        mine = s;
    } else
#endif
    {
        int t = wtop_type(WTOP_NR(regs));
        // (An idle slot is not claimed here for this thread: another thread's enter may be
        // filling it at this moment on another CPU, and its call would then look like this
        // thread's. Only a traced call's enter writes a slot.)
        if (t < 0 || t >= IO_SUBMIT) // libaio's calls matter only with their enter
            return 0;
        type = t;
#ifndef HAVE_ENTER
        pid_tgid = wtop_pid_tgid(regs, 1);
#endif
        if (!wtop_wanted(pid_tgid) || !wtop_native(regs))
            return 0;
#define EXIT_REG(off) WTOP_REG(regs, off)
        fd = WTOP_FD(EXIT_REG, type);
#undef EXIT_REG
        // sendmmsg's array is its second argument, still in its register (x86_64, arm64)
        if (type == SENDMMSG) {
            aux = WTOP_REG(regs, REG_ARG1);
            return wtop_exit_apart(ctx, pid_tgid, ret, type, fd, timed, 0, aux);
        }
#if defined(WTOP_PACED) || !defined(HAVE_ENTER)
        // Calls left untimed on purpose (wtop_pace), and every call under --no-latency (no
        // enter), come this way often: counted here, not handed over. The thread's slot keeps
        // the cell of its last call (wtop_cached checks its whole key: a thread sharing the
        // slot costs a lookup, never a wrong cell). The type goes through the per-CPU cursor
        // so that the verifier checks the counting once, for a type in a range, not once for
        // each constant the switch gave.
        struct cursor *c = wtop_cur();
        if (!c)
            return 0;
        c->type = type;
        type = *(volatile u32 *)&c->type;
#ifdef HAVE_ENTER
        mine = s;
#else
        mine = wtop_slot((u32)pid_tgid);
#endif
#else
        return wtop_exit_apart(ctx, pid_tgid, ret, type, fd, timed, 0, aux);
#endif
    }
    return wtop_exit(pid_tgid, ret, type, fd, timed, delta, mine);
}

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
    wtop_forget_names(); // its next call reads its new name
    struct proc_info *pi = wtop_info.lookup(&tid); // a main thread's tid is its process's id
    if (pi)
        bpf_probe_read_kernel(&pi->comm, sizeof(pi->comm), args->newcomm);
    return 0;
}
#endif

#ifdef HAVE_NEWTASK
// A new task may take the id of one that ended (ids wrap at pid_max, 32768 by default): what
// wtop kept under that id is the dead one's. The names kept are forgotten (the new thread's
// first write reads its own; a fork inherits its parent's name with no rename), and
// a new process's entry in `info` is made its own: its name, its creator's user and cgroup,
// as the child inherits them. Fires on fork and clone, never on the write path. (The slot's
// call in flight is left alone: a thread that shares the slot may be filling it meanwhile.)
#define WTOP_CLONE_THREAD 0x00010000
TRACEPOINT_PROBE(task, task_newtask)
{
    u32 tid = args->pid;
    wtop_forget_names();
    if (args->clone_flags & WTOP_CLONE_THREAD)
        return 0;
    struct proc_info *pi = wtop_info.lookup(&tid);
    if (pi)
        wtop_describe(pi); // the parent: the child is its copy
    return 0;
}
#endif

#ifdef HAVE_EXEC
// exec changes the name a process is shown under, and may follow a change of its user
// (su, setpriv, a daemon's wrapper: set the ids, then exec); keep `info` current. Fires only
// on exec, never on the write path; raw (it reads only the current task's own fields
// through helpers), so it detaches at once.
RAW_TRACEPOINT_PROBE(sched_process_exec)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    struct proc_info *pi = wtop_info.lookup(&tgid);
    if (pi)
        wtop_describe(pi);
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
    u32 b = wtop_log2(delta); // < 64: LAT_BUCKETS
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

// ---- pages made dirty ------------------------------------------------------------------------
// Folios made dirty, by process and by the device behind them (the first 8 bytes of the
// name of the file's backing device, "254:0"): which processes user space reads the kernel's
// own write_bytes of (a store into a shared mapping makes no system call), and how to share
// what they dirtied between devices. Counted in folios: the tracepoint carries no size, and
// a large folio is many pages; the bytes themselves come from the kernel's accounting
// (probes/dirtied.py). Cumulative, like every counter here; user space deletes the entries of
// processes that are gone. The current task is the one that dirtied the folio (a write's,
// or a page fault's on a shared mapping). One value an entry, added to atomically (a
// process's threads share it): per CPU, the map took 8 bytes x CPUs an entry, and creating
// it 10 ms of each start on 2 CPUs (0.5 ms now), more with more CPUs.
struct dirty_key {
    u32 tgid;
    u32 pad;
    u64 bdi;
};
#define WTOP_DIRTY 16384 // (process, device) pairs that dirtied pages and still exist; beyond: skipped
BPF_TABLE("hash", struct dirty_key, u64, wtop_dirty, WTOP_DIRTY);

#if defined(HAVE_DIRTY_FOLIO) || defined(HAVE_DIRTY_PAGE)
static __always_inline int wtop_dirtied(const char *bdi)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    if (!wtop_wanted(pid_tgid))
        return 0;
    struct dirty_key k = {};
    k.tgid = pid_tgid >> 32;
    __builtin_memcpy(&k.bdi, bdi, sizeof(k.bdi));
    u64 *n = wtop_dirty.lookup(&k);
    if (!n) {
        u64 none = 0;
        // BPF_NOEXIST: another thread may have made it meanwhile (-EEXIST), then look again
        if (wtop_dirty.insert(&k, &none) == 0)
            wtop_note_process(k.tgid);
        n = wtop_dirty.lookup(&k);
        if (!n) {
            u32 zero = 0;
            struct cpu_stats *cs = wtop_stats.lookup(&zero);
            if (cs)
                cs->skip_map_full++;
            return 0;
        }
    }
    __sync_fetch_and_add(n, 1);
    return 0;
}
#endif
#ifdef HAVE_DIRTY_FOLIO
TRACEPOINT_PROBE(writeback, writeback_dirty_folio) { return wtop_dirtied(args->name); }
#endif
#ifdef HAVE_DIRTY_PAGE
TRACEPOINT_PROBE(writeback, writeback_dirty_page) { return wtop_dirtied(args->name); }
#endif
