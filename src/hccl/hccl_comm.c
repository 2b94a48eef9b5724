/* HCCL communicators, in-process transport (docs/hccl.md; layer spec 12.2, decision 17): the registry of
 * named groups, the four ways to build one, the rank handles and the bounded rendezvous (hccl_internal.h). */
#define _DEFAULT_SOURCE /* realpath, clock_gettime, pthread_condattr_setclock */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/error.h"
#include "common/handle_set.h"
#include "hccl/hccl_internal.h"
#include "runtime/acl_internal.h"

#define MR_HCCL_DEFAULT_TIMEOUT_MS 120000
#define MR_HCCL_KEY_MAX 160

struct mr_hccl_group {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    uint32_t n;
    char name[COMM_NAME_MAX_LENGTH];
    char key[MR_HCCL_KEY_MAX]; /* root-info id or rank table path; "" for HcclCommInitAll */
    long timeout_ms;
    void *net;                 /* network transport state (mr_hccl_net), NULL in process; fixed           */
    int refs;                  /* handles + finds; under mr_registry_mu                                    */
    mr_hccl_group *next;       /* registry list; under mr_registry_mu                                      */
    /* under mu: */
    uint32_t joined;           /* ranks that joined (root info, rank table)                                */
    uint32_t handles;          /* live rank handles                                                        */
    int complete;              /* every rank joined once                                                   */
    uint64_t gen;              /* rendezvous generation                                                    */
    uint32_t arrived;
    HcclResult broken;         /* HCCL_SUCCESS while usable                                                */
    char broken_msg[192];
    uint8_t *taken;            /* [n] rank joined                                                          */
    const mr_hccl_post **posts; /* [n]                                                                     */
    HcclResult *votes;         /* [n] mr_hccl_round_vote                                                   */
    const char **vote_msgs;    /* [n]                                                                      */
};

typedef struct mr_hccl_comm {
    mr_hccl_group *g;
    uint32_t rank;
} mr_hccl_comm;

static pthread_mutex_t mr_registry_mu = PTHREAD_MUTEX_INITIALIZER;
static mr_hccl_group *mr_registry;
static atomic_ullong mr_hccl_next_id;
static mr_handle_set mr_comms = MR_HANDLE_SET_INIT;

const mr_hccl_net_ops *mr_hccl_net; /* set by a network transport's library when it loads */

void *mr_hccl_group_net(const mr_hccl_group *g) { return g->net; }

HcclResult mr_hccl_fail(HcclResult code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mr_error_push("%s (%s)", msg, HcclGetErrorString(code));
    return code;
}

const char *HcclGetErrorString(HcclResult code)
{
    static const char *const names[] = {
        "HCCL_SUCCESS",        "HCCL_E_PARA",          "HCCL_E_PTR",         "HCCL_E_MEMORY",
        "HCCL_E_INTERNAL",     "HCCL_E_NOT_SUPPORT",   "HCCL_E_NOT_FOUND",   "HCCL_E_UNAVAIL",
        "HCCL_E_SYSCALL",      "HCCL_E_TIMEOUT",       "HCCL_E_OPEN_FILE_FAILURE", "HCCL_E_TCP_CONNECT",
        "HCCL_E_ROCE_CONNECT", "HCCL_E_TCP_TRANSFER",  "HCCL_E_ROCE_TRANSFER", "HCCL_E_RUNTIME",
        "HCCL_E_DRV",          "HCCL_E_PROFILING",     "HCCL_E_CCE",         "HCCL_E_NETWORK",
        "HCCL_E_AGAIN",        "HCCL_E_REMOTE",        "HCCL_E_SUSPENDING"};
    if ((unsigned)code < sizeof names / sizeof names[0]) return names[code];
    return "unknown HcclResult";
}

/* MOEROUTE_HCCL_TIMEOUT_MS, else HCCL_CONNECT_TIMEOUT (seconds), else 120 s. */
static long mr_hccl_timeout_ms(void)
{
    const char *v = getenv("MOEROUTE_HCCL_TIMEOUT_MS");
    long scale = 1;
    if (!v || !*v) v = getenv("HCCL_CONNECT_TIMEOUT"), scale = 1000;
    if (v && *v) {
        char *end = NULL;
        long t = strtol(v, &end, 10);
        if (end && *end == 0 && t > 0 && t <= 86400000 / scale) return t * scale;
    }
    return MR_HCCL_DEFAULT_TIMEOUT_MS;
}

/* ---- groups and the registry ------------------------------------------------------------------------- */

static mr_hccl_group *mr_group_new(uint32_t n, const char *key)
{
    mr_hccl_group *g = mr_calloc(1, sizeof *g);
    if (!g) return NULL;
    g->taken = mr_calloc(n, 1);
    g->posts = mr_calloc(n, sizeof *g->posts);
    g->votes = mr_calloc(n, sizeof *g->votes);
    g->vote_msgs = mr_calloc(n, sizeof *g->vote_msgs);
    pthread_condattr_t attr;
    int ok = g->taken && g->posts && g->votes && g->vote_msgs && pthread_condattr_init(&attr) == 0;
    if (ok) {
        ok = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&g->cv, &attr) == 0;
        pthread_condattr_destroy(&attr);
    }
    if (!ok) {
        mr_free(g->taken);
        mr_free(g->posts);
        mr_free(g->votes);
        mr_free(g->vote_msgs);
        mr_free(g);
        return NULL;
    }
    pthread_mutex_init(&g->mu, NULL);
    g->n = n;
    g->timeout_ms = mr_hccl_timeout_ms();
    snprintf(g->key, sizeof g->key, "%s", key);
    snprintf(g->name, sizeof g->name, "moeroute_hccl_%d_%llu", (int)getpid(),
             (unsigned long long)atomic_fetch_add(&mr_hccl_next_id, 1));
    return g;
}

static void mr_group_free(mr_hccl_group *g)
{
    if (g->net) mr_hccl_net->leave(g->net);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    mr_free(g->taken);
    mr_free(g->posts);
    mr_free(g->votes);
    mr_free(g->vote_msgs);
    mr_free(g);
}

/* under mr_registry_mu */
static void mr_registry_unlink(mr_hccl_group *g)
{
    for (mr_hccl_group **p = &mr_registry; *p; p = &(*p)->next)
        if (*p == g) {
            *p = g->next;
            g->next = NULL;
            return;
        }
}

/* under mr_registry_mu */
static void mr_group_unref_locked(mr_hccl_group *g)
{
    if (--g->refs == 0) mr_group_free(g);
}

mr_hccl_group *mr_hccl_group_find(const char *name)
{
    mr_hccl_group *found = NULL;
    pthread_mutex_lock(&mr_registry_mu);
    for (mr_hccl_group *g = mr_registry; g && name; g = g->next)
        if (strcmp(g->name, name) == 0) {
            found = g;
            found->refs++;
            break;
        }
    pthread_mutex_unlock(&mr_registry_mu);
    return found;
}

void mr_hccl_group_release(mr_hccl_group *g)
{
    pthread_mutex_lock(&mr_registry_mu);
    mr_group_unref_locked(g);
    pthread_mutex_unlock(&mr_registry_mu);
}

uint32_t mr_hccl_group_size(const mr_hccl_group *g) { return g->n; }

static HcclResult mr_comm_new(mr_hccl_group *g, uint32_t rank, HcclComm *out)
{
    mr_hccl_comm *c = mr_malloc(sizeof *c);
    if (c && mr_handle_set_add(&mr_comms, c) != 0) {
        mr_free(c);
        c = NULL;
    }
    if (!c) return HCCL_E_MEMORY;
    c->g = g;
    c->rank = rank;
    *out = c;
    return HCCL_SUCCESS;
}

/* A live handle's group and rank, read with the handle set locked (the handle cannot be destroyed
 * meanwhile; its group outlives it while referenced). */
typedef struct mr_comm_peek {
    mr_hccl_group *g;
    uint32_t rank;
} mr_comm_peek;

static int mr_comm_read(const void *handle, void *ctx)
{
    const mr_hccl_comm *c = handle;
    mr_comm_peek *p = ctx;
    p->g = c->g;
    p->rank = c->rank;
    return 0;
}

static HcclResult mr_comm_get(HcclComm comm, const char *api, mr_comm_peek *p)
{
    if (!comm) return mr_hccl_fail(HCCL_E_PTR, "%s: comm is NULL", api);
    if (!mr_handle_set_visit(&mr_comms, comm, mr_comm_read, p))
        return mr_hccl_fail(HCCL_E_PARA, "%s: %p is not a live communicator handle", api, comm);
    return HCCL_SUCCESS;
}

/* Group and rank of a handle, for the collectives (hccl_coll.c). */
HcclResult mr_hccl_comm_group(HcclComm comm, const char *api, mr_hccl_group **g, uint32_t *rank)
{
    mr_comm_peek p;
    HcclResult st = mr_comm_get(comm, api, &p);
    if (st == HCCL_SUCCESS) *g = p.g, *rank = p.rank;
    return st;
}

/* ---- the bounded rendezvous ---------------------------------------------------------------------------- */

static void mr_deadline(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

/* under g->mu: break the group for every rank, now and later */
static void mr_group_break(mr_hccl_group *g, HcclResult code, const char *msg)
{
    if (g->broken != HCCL_SUCCESS) return;
    g->broken = code;
    snprintf(g->broken_msg, sizeof g->broken_msg, "%s", msg);
    pthread_cond_broadcast(&g->cv);
}

/* under g->mu: arrive and wait until all n ranks have arrived (bounded). */
static HcclResult mr_group_wait_all(mr_hccl_group *g, const char *api)
{
    if (g->broken != HCCL_SUCCESS)
        return mr_hccl_fail(g->broken, "%s: communicator %s is unusable: %s", api, g->name, g->broken_msg);
    const uint64_t gen = g->gen;
    if (++g->arrived == g->n) {
        g->arrived = 0;
        g->gen++;
        pthread_cond_broadcast(&g->cv);
        return HCCL_SUCCESS;
    }
    struct timespec deadline;
    mr_deadline(&deadline, g->timeout_ms);
    while (g->gen == gen && g->broken == HCCL_SUCCESS) {
        int rc = pthread_cond_timedwait(&g->cv, &g->mu, &deadline);
        if (rc == ETIMEDOUT && g->gen == gen && g->broken == HCCL_SUCCESS) {
            char msg[160];
            snprintf(msg, sizeof msg, "only %u of %u ranks made the matching call within %ld ms", g->arrived, g->n,
                     g->timeout_ms);
            mr_group_break(g, HCCL_E_TIMEOUT, msg);
        }
    }
    if (g->gen != gen) return HCCL_SUCCESS;
    return mr_hccl_fail(g->broken, "%s: communicator %s: %s", api, g->name, g->broken_msg);
}

int mr_hccl_overlaps_reads(const mr_hccl_post *const *all, uint32_t n, const void *lo, const void *hi)
{
    const char *a = lo, *b = hi;
    if (a == b) return 0;
    for (uint32_t r = 0; r < n; r++)
        if (all[r]->read_lo != all[r]->read_hi && a < all[r]->read_hi && all[r]->read_lo < b) return 1;
    return 0;
}

HcclResult mr_hccl_round_begin(mr_hccl_group *g, uint32_t rank, const mr_hccl_post *mine, const char *api,
                               const mr_hccl_post *const **all)
{
    pthread_mutex_lock(&g->mu);
    if (g->posts[rank] && g->broken == HCCL_SUCCESS) {
        char msg[160];
        snprintf(msg, sizeof msg, "two threads called as rank %u at once", rank);
        mr_group_break(g, HCCL_E_PARA, msg);
    }
    if (g->broken == HCCL_SUCCESS) g->posts[rank] = mine;
    HcclResult st = mr_group_wait_all(g, api);
    pthread_mutex_unlock(&g->mu);
    if (st != HCCL_SUCCESS) {
        pthread_mutex_lock(&g->mu);
        if (g->posts[rank] == mine) g->posts[rank] = NULL;
        pthread_mutex_unlock(&g->mu);
        return st;
    }
    /* Every rank sees the same posts and reaches the same verdict. */
    const mr_hccl_post *const *p = g->posts;
    if (mine->refused != HCCL_SUCCESS) st = mine->refused; /* its own message is already recorded */
    for (uint32_t r = 0; r < g->n && st == HCCL_SUCCESS; r++) {
        if (p[r]->refused != HCCL_SUCCESS)
            st = mr_hccl_fail(HCCL_E_REMOTE, "%s: rank %u of %s refused its arguments: %s", api, r, g->name,
                              p[r]->message ? p[r]->message : "(no message)");
    }
    for (uint32_t r = 1; r < g->n && st == HCCL_SUCCESS; r++) {
        if (p[r]->kind != p[0]->kind)
            st = mr_hccl_fail(HCCL_E_PARA, "%s: the ranks of %s made different calls (rank 0 and rank %u differ)", api,
                              g->name, r);
        else if (p[r]->sig_size != p[0]->sig_size || memcmp(p[r]->sig, p[0]->sig, p[0]->sig_size) != 0)
            st = mr_hccl_fail(HCCL_E_PARA,
                              "%s: the ranks of %s passed different attributes (rank %u differs from rank 0: count, "
                              "data type, operation, root or operator attributes)",
                              api, g->name, r);
    }
    if (st != HCCL_SUCCESS) {
        mr_hccl_round_end(g, rank, api);
        return st;
    }
    *all = p;
    return HCCL_SUCCESS;
}

HcclResult mr_hccl_round_vote(mr_hccl_group *g, uint32_t rank, HcclResult mine, const char *message, const char *api)
{
    pthread_mutex_lock(&g->mu);
    g->votes[rank] = mine;
    g->vote_msgs[rank] = message;
    HcclResult st = mr_group_wait_all(g, api);
    pthread_mutex_unlock(&g->mu);
    if (st != HCCL_SUCCESS) return st;
    if (mine != HCCL_SUCCESS) return mine; /* its own message is already recorded */
    for (uint32_t r = 0; r < g->n; r++) /* written before the barrier, rewritten only after the round's end */
        if (g->votes[r] != HCCL_SUCCESS)
            return mr_hccl_fail(HCCL_E_REMOTE, "%s: rank %u of %s failed: %s", api, r, g->name,
                                g->vote_msgs[r] ? g->vote_msgs[r] : "(no message)");
    return HCCL_SUCCESS;
}

HcclResult mr_hccl_round_end(mr_hccl_group *g, uint32_t rank, const char *api)
{
    pthread_mutex_lock(&g->mu);
    HcclResult st = mr_group_wait_all(g, api);
    g->posts[rank] = NULL;
    pthread_mutex_unlock(&g->mu);
    return st;
}

/* ---- building communicators ------------------------------------------------------------------------------ */

HcclResult HcclCommInitAll(uint32_t ndev, int32_t *devices, HcclComm *comms)
{
    static const char api[] = "HcclCommInitAll";
    if (!devices || !comms) return mr_hccl_fail(HCCL_E_PTR, "%s: devices or comms is NULL", api);
    const int32_t count = mr_device_count();
    if (ndev == 0 || ndev > (uint32_t)count)
        return mr_hccl_fail(HCCL_E_PARA, "%s: ndev = %u must be in [1, %d] (the logical devices)", api, ndev,
                            (int)count);
    for (uint32_t i = 0; i < ndev; i++) {
        if (devices[i] < 0 || devices[i] >= count)
            return mr_hccl_fail(HCCL_E_PARA, "%s: devices[%u] = %d is not a device (0..%d; MOEROUTE_DEVICE_COUNT)", api,
                                i, (int)devices[i], (int)count - 1);
        for (uint32_t j = 0; j < i; j++)
            if (devices[j] == devices[i])
                return mr_hccl_fail(HCCL_E_PARA, "%s: device %d is listed twice (devices[%u] and devices[%u])", api,
                                    (int)devices[i], j, i);
    }
    mr_hccl_group *g = mr_group_new(ndev, "");
    HcclComm *made = mr_calloc(ndev, sizeof *made);
    HcclResult st = g && made ? HCCL_SUCCESS : HCCL_E_MEMORY;
    uint32_t i = 0;
    for (; i < ndev && st == HCCL_SUCCESS; i++) st = mr_comm_new(g, i, &made[i]);
    if (st != HCCL_SUCCESS) {
        while (i-- > 0)
            if (made[i]) mr_handle_set_remove(&mr_comms, made[i]), mr_free(made[i]);
        if (g) mr_group_free(g);
        mr_free(made);
        return mr_hccl_fail(HCCL_E_MEMORY, "%s: out of memory", api);
    }
    g->joined = g->handles = ndev;
    g->complete = 1;
    memset(g->taken, 1, ndev);
    pthread_mutex_lock(&mr_registry_mu);
    g->refs = (int)ndev;
    g->next = mr_registry;
    mr_registry = g;
    pthread_mutex_unlock(&mr_registry_mu);
    memcpy(comms, made, ndev * sizeof *made);
    mr_free(made);
    return HCCL_SUCCESS;
}

/* Join the group registered under `key` (created for n ranks by the first rank) as `rank`; wait, bounded,
 * until all n ranks have joined. */
static HcclResult mr_join(const char *api, const char *key, uint32_t n, uint32_t rank, HcclComm *comm)
{
    pthread_mutex_lock(&mr_registry_mu);
    mr_hccl_group *g = mr_registry;
    while (g && strcmp(g->key, key) != 0) g = g->next;
    if (!g) {
        g = mr_group_new(n, key);
        if (!g) {
            pthread_mutex_unlock(&mr_registry_mu);
            return mr_hccl_fail(HCCL_E_MEMORY, "%s: out of memory", api);
        }
        g->next = mr_registry;
        mr_registry = g;
    }
    g->refs++;
    pthread_mutex_unlock(&mr_registry_mu);

    HcclResult st = HCCL_SUCCESS;
    pthread_mutex_lock(&g->mu);
    if (g->n != n)
        st = mr_hccl_fail(HCCL_E_PARA, "%s: nRanks = %u, but the communicator was started with %u ranks", api, n, g->n);
    else if (g->complete)
        st = mr_hccl_fail(HCCL_E_PARA, "%s: every rank of this communicator has joined already (re-initialisation)",
                          api);
    else if (g->taken[rank])
        st = mr_hccl_fail(HCCL_E_PARA, "%s: rank %u has joined already", api, rank);
    mr_hccl_comm *c = NULL;
    if (st == HCCL_SUCCESS) {
        st = mr_comm_new(g, rank, (HcclComm *)&c);
        if (st != HCCL_SUCCESS) mr_hccl_fail(st, "%s: out of memory", api);
    }
    if (st == HCCL_SUCCESS) {
        g->taken[rank] = 1;
        g->joined++;
        g->handles++;
        if (g->joined == n) {
            g->complete = 1;
            pthread_cond_broadcast(&g->cv);
        }
        struct timespec deadline;
        mr_deadline(&deadline, g->timeout_ms);
        while (!g->complete)
            if (pthread_cond_timedwait(&g->cv, &g->mu, &deadline) == ETIMEDOUT && !g->complete) {
                st = mr_hccl_fail(HCCL_E_TIMEOUT, "%s: only %u of %u ranks joined within %ld ms", api, g->joined, n,
                                  g->timeout_ms);
                g->taken[rank] = 0;
                g->joined--;
                g->handles--;
                break;
            }
    }
    const int orphan = st != HCCL_SUCCESS && g->handles == 0;
    pthread_mutex_unlock(&g->mu);
    if (st != HCCL_SUCCESS && c) mr_handle_set_remove(&mr_comms, c), mr_free(c);
    pthread_mutex_lock(&mr_registry_mu);
    if (st != HCCL_SUCCESS) {
        if (orphan) mr_registry_unlink(g);
        mr_group_unref_locked(g); /* a joined rank keeps its reference */
    }
    pthread_mutex_unlock(&mr_registry_mu);
    if (st == HCCL_SUCCESS) *comm = c;
    return st;
}

/* A rank of a communicator over processes: this process holds one rank of it. */
static HcclResult mr_join_net(const char *api, uint32_t n, const HcclRootInfo *info, uint32_t rank, HcclComm *comm)
{
    void *net = NULL;
    char name[COMM_NAME_MAX_LENGTH];
    HcclResult st = mr_hccl_net->join(info, n, rank, mr_hccl_timeout_ms(), &net, name, api);
    if (st != HCCL_SUCCESS) return st;
    mr_hccl_group *g = mr_group_new(n, "");
    mr_hccl_comm *c = NULL;
    if (g) st = mr_comm_new(g, rank, (HcclComm *)&c);
    if (!g || st != HCCL_SUCCESS) {
        if (g) mr_group_free(g);
        mr_hccl_net->leave(net);
        return mr_hccl_fail(HCCL_E_MEMORY, "%s: out of memory", api);
    }
    g->net = net;
    memcpy(g->name, name, sizeof g->name);
    g->joined = g->handles = 1;
    g->complete = 1;
    g->taken[rank] = 1;
    pthread_mutex_lock(&mr_registry_mu);
    g->refs = 1;
    g->next = mr_registry;
    mr_registry = g;
    pthread_mutex_unlock(&mr_registry_mu);
    *comm = c;
    return HCCL_SUCCESS;
}

/* Root info token: magic, version, the creating process and a process-unique id. */
#define MR_ROOT_MAGIC "moeroute-hccl-root"
typedef struct mr_root_token {
    char magic[20];
    uint32_t version;
    int32_t pid;
    uint64_t id;
} mr_root_token;

HcclResult HcclGetRootInfo(HcclRootInfo *rootInfo)
{
    if (!rootInfo) return mr_hccl_fail(HCCL_E_PTR, "HcclGetRootInfo: rootInfo is NULL");
    if (mr_hccl_net) { /* a multi-process job: the network transport's token */
        HcclResult st = mr_hccl_net->root_info(rootInfo);
        if (st != HCCL_E_NOT_SUPPORT) return st;
    }
    mr_root_token t;
    memset(&t, 0, sizeof t);
    memcpy(t.magic, MR_ROOT_MAGIC, sizeof MR_ROOT_MAGIC);
    t.version = 1;
    t.pid = (int32_t)getpid();
    t.id = atomic_fetch_add(&mr_hccl_next_id, 1);
    memset(rootInfo, 0, sizeof *rootInfo);
    memcpy(rootInfo->internal, &t, sizeof t);
    return HCCL_SUCCESS;
}

HcclResult HcclCommInitRootInfo(uint32_t nRanks, const HcclRootInfo *rootInfo, uint32_t rank, HcclComm *comm)
{
    static const char api[] = "HcclCommInitRootInfo";
    if (!rootInfo || !comm) return mr_hccl_fail(HCCL_E_PTR, "%s: rootInfo or comm is NULL", api);
    if (nRanks == 0 || rank >= nRanks)
        return mr_hccl_fail(HCCL_E_PARA, "%s: rank %u is not in [0, nRanks = %u)", api, rank, nRanks);
    if (mr_hccl_net && mr_hccl_net->owns(rootInfo)) return mr_join_net(api, nRanks, rootInfo, rank, comm);
    mr_root_token t;
    memcpy(&t, rootInfo->internal, sizeof t);
    if (memcmp(t.magic, MR_ROOT_MAGIC, sizeof MR_ROOT_MAGIC) != 0 || t.version != 1)
        return mr_hccl_fail(HCCL_E_PARA, "%s: rootInfo was not made by HcclGetRootInfo", api);
    if (t.pid != (int32_t)getpid())
        return mr_hccl_fail(HCCL_E_NOT_SUPPORT,
                            "%s: rootInfo comes from another process (pid %d); this moeroute has the in-process "
                            "transport only (ranks are threads of one process)",
                            api, (int)t.pid);
    char key[MR_HCCL_KEY_MAX];
    snprintf(key, sizeof key, "root:%llu", (unsigned long long)t.id);
    return mr_join(api, key, nRanks, rank, comm);
}

HcclResult HcclGetCommName(HcclComm comm, char *commName)
{
    mr_comm_peek p;
    HcclResult st = mr_comm_get(comm, "HcclGetCommName", &p);
    if (st != HCCL_SUCCESS) return st;
    if (!commName) return mr_hccl_fail(HCCL_E_PTR, "HcclGetCommName: commName is NULL");
    memcpy(commName, p.g->name, sizeof p.g->name); /* fixed after creation */
    return HCCL_SUCCESS;
}

HcclResult HcclGetRankSize(HcclComm comm, uint32_t *rankSize)
{
    mr_comm_peek p;
    HcclResult st = mr_comm_get(comm, "HcclGetRankSize", &p);
    if (st != HCCL_SUCCESS) return st;
    if (!rankSize) return mr_hccl_fail(HCCL_E_PTR, "HcclGetRankSize: rankSize is NULL");
    *rankSize = p.g->n;
    return HCCL_SUCCESS;
}

HcclResult HcclGetRankId(HcclComm comm, uint32_t *rank)
{
    mr_comm_peek p;
    HcclResult st = mr_comm_get(comm, "HcclGetRankId", &p);
    if (st != HCCL_SUCCESS) return st;
    if (!rank) return mr_hccl_fail(HCCL_E_PTR, "HcclGetRankId: rank is NULL");
    *rank = p.rank;
    return HCCL_SUCCESS;
}

static int mr_comm_take(const void *handle, void *ctx)
{
    mr_comm_read(handle, ctx);
    return 1; /* remove from the live set */
}

HcclResult HcclCommDestroy(HcclComm comm)
{
    static const char api[] = "HcclCommDestroy";
    if (!comm) return mr_hccl_fail(HCCL_E_PTR, "%s: comm is NULL", api);
    mr_comm_peek p;
    if (!mr_handle_set_visit(&mr_comms, comm, mr_comm_take, &p))
        return mr_hccl_fail(HCCL_E_PARA, "%s: %p is not a live communicator handle", api, comm);
    mr_free(comm);
    mr_hccl_group *g = p.g;
    pthread_mutex_lock(&mr_registry_mu);
    pthread_mutex_lock(&g->mu);
    g->handles--;
    if (g->handles > 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "rank %u has destroyed its handle", p.rank);
        mr_group_break(g, HCCL_E_REMOTE, msg);
    } else {
        mr_registry_unlink(g); /* the name is forgotten with the last handle */
    }
    pthread_mutex_unlock(&g->mu);
    mr_group_unref_locked(g);
    pthread_mutex_unlock(&mr_registry_mu);
    return HCCL_SUCCESS;
}

/* ---- rank table (HcclCommInitClusterInfo) ------------------------------------------------------------------ */

const mr_hccl_table_ops *mr_hccl_table_net; /* set by a network transport's library when it loads */

/* The string value of the next "key" at or after *at, as an integer; -1 when absent or malformed. */
static long mr_json_int_after(const char *text, const char *key, const char **at)
{
    char quoted[48];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    const char *k = strstr(*at, quoted);
    if (!k) return -1;
    const char *v = k + strlen(quoted);
    while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r') v++;
    if (*v++ != ':') return -2;
    while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r') v++;
    int quotedv = *v == '"';
    if (quotedv) v++;
    char *end = NULL;
    long r = strtol(v, &end, 10);
    if (end == v || r < 0 || (quotedv && *end != '"')) return -2;
    *at = end;
    (void)text;
    return r;
}

/* Record this process's refusal of the table (the first one counts). */
static void mr_table_refuse(mr_hccl_table_claim *c, HcclResult code, const char *fmt, ...) MR_PRINTF(3, 4);
static void mr_table_refuse(mr_hccl_table_claim *c, HcclResult code, const char *fmt, ...)
{
    if (c->refused != HCCL_SUCCESS) return;
    c->refused = (int32_t)code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof c->message, fmt, ap);
    va_end(ap);
}

static uint64_t mr_fnv1a(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) h = (h ^ (v >> (8 * i) & 0xff)) * 0x100000001b3ull;
    return h;
}

/* Read the rank table at `path` (version 1.0; docs/hccl.md) for `rank`: the claim (rank count, digest of the
 * server count and the (rank_id, device_id) entries in file order, or the refusal) and the key of its
 * in-process group. Several servers only when `multi_server` (ranks in other processes). */
static void mr_table_read(const char *api, const char *path, const HcclComm *comm, uint32_t rank, int multi_server,
                          mr_hccl_table_claim *claim, char key[MR_HCCL_KEY_MAX])
{
    memset(claim, 0, sizeof *claim);
    claim->rank = rank;
    key[0] = 0;
    if (!path || !comm || strlen(path) >= 4096) {
        mr_table_refuse(claim, path && comm ? HCCL_E_PARA : HCCL_E_PTR,
                        "%s: clusterInfo or comm is NULL, or the path is 4096 bytes or longer", api);
        return;
    }
    char *real = realpath(path, NULL);
    FILE *f = real ? fopen(real, "rb") : NULL;
    char *text = f ? mr_malloc(1 << 20) : NULL;
    size_t len = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
    if (f) fclose(f);
    if (real) snprintf(key, MR_HCCL_KEY_MAX, "table:%s", real);
    free(real);
    if (!f || !text) {
        mr_table_refuse(claim, f ? HCCL_E_MEMORY : HCCL_E_OPEN_FILE_FAILURE, "%s: %s %s", api,
                        f ? "out of memory reading" : "cannot open the rank table", path);
        return;
    }
    text[len] = 0;
    /* the devices' rank_id values must be 0..n-1, each once (n <= 64) */
    const char *at = text;
    long servers = mr_json_int_after(text, "server_count", &at);
    if (servers < 1)
        mr_table_refuse(claim, HCCL_E_PARA, "%s: %s: no server_count of 1 or more (a string)", api, path);
    else if (servers > 1 && !multi_server)
        mr_table_refuse(claim, HCCL_E_NOT_SUPPORT,
                        "%s: %s: server_count must be \"1\" here (ranks are threads of this process); a table of "
                        "several servers needs the MPI transport (libmoeroute_mpi under mpirun)",
                        api, path);
    uint64_t seen_mask = 0, digest = mr_fnv1a(0xcbf29ce484222325ull, (uint64_t)servers);
    uint32_t n = 0, seen_rank = 0;
    at = text;
    while (claim->refused == HCCL_SUCCESS) {
        long dev = mr_json_int_after(text, "device_id", &at);
        if (dev == -1) break;
        long r = mr_json_int_after(text, "rank_id", &at);
        if (dev < 0 || r < 0 || r >= 64 || dev >= mr_device_count() || (seen_mask >> r & 1))
            mr_table_refuse(claim, HCCL_E_PARA,
                            "%s: %s: device entry %u is malformed (device_id within the logical devices, rank_id "
                            "unique and below 64, both as strings)",
                            api, path, n);
        else
            seen_mask |= 1ull << r, n++, digest = mr_fnv1a(mr_fnv1a(digest, (uint64_t)r), (uint64_t)dev);
        if (r == (long)rank) seen_rank = 1;
    }
    mr_free(text);
    if (n == 0 || seen_mask != (n == 64 ? ~0ull : (1ull << n) - 1))
        mr_table_refuse(claim, HCCL_E_PARA, "%s: %s: the rank_id values must be 0..n-1 for n devices", api, path);
    if (!seen_rank) mr_table_refuse(claim, HCCL_E_PARA, "%s: rank %u is not a rank_id of %s", api, rank, path);
    claim->n = n;
    claim->digest = digest;
}

HcclResult HcclCommInitClusterInfo(const char *clusterInfo, uint32_t rank, HcclComm *comm)
{
    static const char api[] = "HcclCommInitClusterInfo";
    /* In a job of several processes (libmoeroute_mpi under mpirun) the table's ranks are the job's processes:
     * every process states its claim, refused or not, so that every process returns within the bounded wait. */
    const int over_net = mr_hccl_table_net && mr_hccl_table_net->active();
    mr_hccl_table_claim claim;
    char key[MR_HCCL_KEY_MAX];
    mr_table_read(api, clusterInfo, comm, rank, over_net, &claim, key);
    if (over_net) {
        HcclRootInfo info;
        HcclResult st = mr_hccl_table_net->agree(&claim, mr_hccl_timeout_ms(), &info, api);
        return st != HCCL_SUCCESS ? st : mr_join_net(api, claim.n, &info, rank, comm);
    }
    if (claim.refused != HCCL_SUCCESS) return mr_hccl_fail((HcclResult)claim.refused, "%s", claim.message);
    return mr_join(api, key, claim.n, rank, comm);
}
