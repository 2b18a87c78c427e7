/* SPDX-License-Identifier: MIT */
/*
 * host.c - the module table of nmrhost: load, safe unload, stats (see
 * host.h), for modules and drivers alike.  The rule it enforces: a
 * module's shared object is dlclose()d only when the registrar holds
 * nothing of it any more (and, for a driver, libnmr-km no pool, thread or
 * work item of it); otherwise it stays resident and the host says what is
 * left.
 */
#define _GNU_SOURCE /* dladdr, realpath */
#include "host.h"

#include "intr.h"
#include "out.h"
#include "residue.h"

#include <nmr/diag.h>
#include <nmr/registrar.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static host_config cfg;
static host_module *loaded_head;     /* loaded and resident, load order */
static host_module *history_head;    /* unloaded, most recent first */
static atomic_ulong n_loads, n_unloads, n_resident;
/* The two lists: nmrhost drives them from one thread, nmrcheck from
 * several (a load racing an unload), so every walk and change of them
 * holds this lock (never across a module's entry point). */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_ulong n_misuse, n_watchdog;
static host_intr_policy intr_policy = HOST_INTR_STOP;

/* What the host thread is doing with which module ("unload of badmod",
 * "DriverEntry of ping_client"), for the reports made meanwhile.  Written
 * under doing_lock; read under it, except by a fatal-signal handler
 * (host_doing), which is why the last byte is never written. */
static pthread_mutex_t doing_lock = PTHREAD_MUTEX_INITIALIZER;
static char doing_text[HOST_NAME_LEN + 32];

/* A running unload entry (on its helper thread): a module's unload entry,
 * or nmr_km_driver_unload for a driver (its DriverUnload). */
typedef struct unload_job {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;                      /* [lock] */
    NTSTATUS status;               /* [lock] */
    nmr_module_unload_fn *unload;  /* NULL for a driver */
    nmr_km_driver *driver;
    pthread_t thread;
} unload_job;

/* Per module, what the host alone uses (hung off iface.host_private). */
typedef struct module_private {
    host_module *module;
    unload_job *job;               /* an abandoned unload, still running */
    int unload_returned;           /* the unload entry has returned */
} module_private;

uint64_t host_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Append to the string in buf (size bytes in all), cutting it short when
 * it does not fit: the reasons built from several parts may be long. */
static void appendf(char *buf, size_t size, const char *format, ...) OUT_PRINTF(3, 4);

static void appendf(char *buf, size_t size, const char *format, ...)
{
    size_t len = strlen(buf);
    if (len + 1 >= size)
        return;
    va_list ap;
    va_start(ap, format);
    vsnprintf(buf + len, size - len, format, ap);
    va_end(ap);
}

/* ---- diagnostics from libnmr -------------------------------------------- */
static void diag_hook(void *context, nmr_misuse_kind kind, const char *message)
{
    (void)context;
    char doing[sizeof doing_text];
    pthread_mutex_lock(&doing_lock);
    snprintf(doing, sizeof doing, "%s", doing_text);
    pthread_mutex_unlock(&doing_lock);
    if (kind == NMR_DIAG_WAIT_STUCK) {
        atomic_fetch_add(&n_watchdog, 1);
        if (doing[0] != '\0')
            out_line("nmrhost: watchdog: %s is waiting: %s", doing, message);
        else
            out_line("nmrhost: watchdog: %s", message);
    } else if (kind == NMR_DIAG_REGISTRAR_BUSY) {
        out_line("nmrhost: registrar: %s", message);
    } else {
        /* the verifier's reports name the code by its object already
         * ("baddrv.so+0x1234"); this adds what the host was doing */
        atomic_fetch_add(&n_misuse, 1);
        out_line("nmrhost: libnmr reports misuse%s%s: %s", doing[0] ? " during " : "", doing,
                 message);
    }
}

/* what is "unload" or "DriverEntry"; NULL: nothing any more. */
static void set_doing(const char *what, const char *name)
{
    pthread_mutex_lock(&doing_lock);
    if (what == NULL)
        memset(doing_text, 0, sizeof doing_text);
    else
        snprintf(doing_text, sizeof doing_text - 1, "%s of %s", what, name);
    pthread_mutex_unlock(&doing_lock);
}

static void set_unloading(const char *name)
{
    set_doing(name != NULL ? "unload" : NULL, name);
}

const char *host_doing(void) { return doing_text; }

const char *host_kind_name(const host_module *m)
{
    return m->kind == HOST_DRIVER ? "driver" : "module";
}

int host_can_unload(const host_module *m)
{
    return m->kind != HOST_DRIVER || m->driver == NULL || nmr_km_driver_can_unload(m->driver);
}

void host_set_intr_policy(host_intr_policy policy) { intr_policy = policy; }

static void entry_hook(host_module *m, const char *entry, int returned)
{
    if (cfg.on_entry != NULL)
        cfg.on_entry(m, entry, returned);
}

void host_init(const host_config *config)
{
    cfg = *config;
    nmr_diag_set_hook(diag_hook, NULL, NULL);
    nmr_wait_set_warn_ms(cfg.unload_warn_ms);
}

/* ---- the table ---------------------------------------------------------- */
host_module *host_modules(void) { return loaded_head; }
host_module *host_history(void) { return history_head; }

host_module *host_find(const char *name)
{
    pthread_mutex_lock(&table_lock);
    host_module *m = loaded_head;
    while (m != NULL && strcmp(m->name, name) != 0)
        m = m->next;
    pthread_mutex_unlock(&table_lock);
    return m;
}

host_module *host_find_any(const char *name)
{
    host_module *m = host_find(name);
    for (m = m != NULL ? m : history_head; m != NULL && strcmp(m->name, name) != 0; m = m->next)
        ;
    return m;
}

void host_get_counters(host_counters *out)
{
    out->loads = atomic_load(&n_loads);
    out->unloads = atomic_load(&n_unloads);
    out->kept_resident = atomic_load(&n_resident);
    out->misuse_reports = atomic_load(&n_misuse);
    out->watchdog_reports = atomic_load(&n_watchdog);
}

static void free_module(host_module *m);

static void unlink_loaded(host_module *m)
{
    pthread_mutex_lock(&table_lock);
    for (host_module **pp = &loaded_head; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == m) {
            *pp = m->next;
            m->next = NULL;
            break;
        }
    }
    pthread_mutex_unlock(&table_lock);
}

/* Append m unless a module of its name or file is loaded: 0, or -1 with
 * that module in *other. */
static int append_loaded(host_module *m, host_module **other)
{
    pthread_mutex_lock(&table_lock);
    host_module **pp = &loaded_head;
    for (; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, m->name) == 0 || strcmp((*pp)->real, m->real) == 0) {
            *other = *pp;
            pthread_mutex_unlock(&table_lock);
            return -1;
        }
    }
    m->next = NULL;
    *pp = m;
    pthread_mutex_unlock(&table_lock);
    return 0;
}

/* An unloaded module keeps its name and last figures; an older entry of
 * the same name is dropped. */
static void to_history(host_module *m)
{
    pthread_mutex_lock(&table_lock);
    for (host_module **pp = &history_head; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, m->name) == 0) {
            host_module *old = *pp;
            *pp = old->next;
            free(old->path);
            free(old->real);
            free(old->iface.host_private);
            free(old);
            break;
        }
    }
    m->state = HOST_UNLOADED;
    m->next = history_head;
    history_head = m;
    pthread_mutex_unlock(&table_lock);
}

void host_clear_history(void)
{
    pthread_mutex_lock(&table_lock);
    host_module *m = history_head;
    history_head = NULL;
    pthread_mutex_unlock(&table_lock);
    while (m != NULL) {
        host_module *next = m->next;
        free_module(m);
        m = next;
    }
}

/* ---- ownership ---------------------------------------------------------- */
static const void *object_base(const void *p)
{
    Dl_info info;
    if (p == NULL || dladdr(p, &info) == 0)
        return NULL;
    return info.dli_fbase;
}

#define FN_ADDR(f) ((const void *)(uintptr_t)(f))

host_module *host_owner(const nmr_registration_info *reg)
{
    const void *where[5];
    where[0] = reg->characteristics;
    where[1] = FN_ADDR(reg->attach);
    where[2] = FN_ADDR(reg->detach);
    where[3] = FN_ADDR(reg->cleanup);
    where[4] = reg->context;
    const void *bases[5];
    for (size_t i = 0; i < 5; i++)
        bases[i] = object_base(where[i]);
    host_module *owner = NULL;
    pthread_mutex_lock(&table_lock);
    for (host_module *m = loaded_head; m != NULL && owner == NULL; m = m->next) {
        if (m->dl == NULL)
            continue;
        for (size_t i = 0; i < 5; i++)
            if (bases[i] != NULL && bases[i] == m->base)
                owner = m;
    }
    pthread_mutex_unlock(&table_lock);
    return owner;
}

/* ---- /proc/self/maps ---------------------------------------------------- */
int host_is_mapped(const char *real)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL)
        return -1;
    char line[PATH_MAX + 256];
    size_t len = strlen(real);
    int found = 0;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        char *path = strchr(line, '/');
        if (path == NULL || strncmp(path, real, len) != 0)
            continue;
        if (path[len] == '\n' || path[len] == '\0' || strncmp(path + len, " (deleted)", 10) == 0)
            found = 1;
    }
    fclose(f);
    return found;
}

/* ---- module log --------------------------------------------------------- */
static void module_log(const nmr_module_host *h, const char *format, ...) OUT_PRINTF(2, 3);

static void module_log(const nmr_module_host *h, const char *format, ...)
{
    if (cfg.quiet_modules)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, format);
    vsnprintf(buf, sizeof buf, format, ap);
    va_end(ap);
    out_line("[%s] %s", h->name, buf);
}

/* ---- load --------------------------------------------------------------- */
static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Where the module file is: a path as given, or NAME / NAME.so on the
 * module path.  Returns a malloc'd path, or NULL with why set. */
static char *find_module(const char *spec, char *why, size_t whysize)
{
    if (strchr(spec, '/') != NULL) {
        if (!is_file(spec)) {
            snprintf(why, whysize, "cannot open '%s': %s", spec,
                     access(spec, F_OK) == 0 ? "not a regular file" : strerror(errno));
            return NULL;
        }
        return strdup(spec);
    }
    /* the module path, then the current directory (as "./NAME": dlopen
     * of a name without a slash would search the library path instead) */
    char buf[PATH_MAX];
    const char *dirs = cfg.module_path;
    for (;;) {
        const char *end = dirs != NULL ? strchr(dirs, ':') : NULL;
        int dlen = dirs == NULL ? 1 : end != NULL ? (int)(end - dirs) : (int)strlen(dirs);
        static const char *const suffix[] = { "", ".so" };
        if (dlen > 0) {
            for (size_t k = 0; k < 2; k++) {
                snprintf(buf, sizeof buf, "%.*s/%s%s", dlen, dirs != NULL ? dirs : ".", spec,
                         suffix[k]);
                if (is_file(buf))
                    return strdup(buf);
            }
        }
        if (dirs == NULL)
            break;
        dirs = end != NULL ? end + 1 : NULL;     /* NULL: the current directory next */
    }
    if (cfg.module_path != NULL && cfg.module_path[0] != '\0')
        snprintf(why, whysize, "cannot find module '%s' (looked for %s and %s.so in %s, then "
                 "in the current directory)", spec, spec, spec, cfg.module_path);
    else
        snprintf(why, whysize, "cannot find module '%s' (looked for %s and %s.so in the "
                 "current directory; -M or NMRHOST_MODULE_PATH give a module path)", spec,
                 spec, spec);
    return NULL;
}

/* The module name: the file name without its directory and its ".so" end
 * ("libfoo.so" is "libfoo"). */
static void module_name(const char *path, char *name, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    snprintf(name, size, "%s", base);
    size_t len = strlen(name);
    if (len > 3 && strcmp(name + len - 3, ".so") == 0)
        name[len - 3] = '\0';
}

static void free_module(host_module *m)
{
    if (m->driver != NULL)
        nmr_km_driver_free(m->driver);
    free(m->path);
    free(m->real);
    free(m->iface.host_private);
    free(m);
}

/* dlclose and prove it: 0, or -1 with why. */
static int close_and_check(host_module *m, char *why, size_t whysize)
{
    if (dlclose(m->dl) != 0) {
        const char *e = dlerror();
        snprintf(why, whysize, "dlclose failed: %s", e != NULL ? e : "?");
        m->dl = NULL;
        return -1;
    }
    m->dl = NULL;
    int mapped = host_is_mapped(m->real);
    if (mapped == 1) {
        snprintf(why, whysize,
                 "%s is still mapped after dlclose (another reference to it, or an object "
                 "that cannot be unloaded: NODELETE, unique symbols)", m->real);
        return -1;
    }
    if (mapped < 0) {
        snprintf(why, whysize, "cannot read /proc/self/maps to check the unmapping");
        return -1;
    }
    return 0;
}

/* The entry points: a module's pair, or a driver's DriverEntry (not
 * both), each defined in the object itself, not in a library it links (a
 * dlsym on the handle searches those too).  Sets m->kind and m->base.  0,
 * or -1 with why. */
static int find_entries(host_module *m, char *why, size_t whysize)
{
    void *sym;
    sym = dlsym(m->dl, NMR_MODULE_LOAD_SYMBOL);
    memcpy(&m->load, &sym, sizeof sym);
    sym = dlsym(m->dl, NMR_MODULE_UNLOAD_SYMBOL);
    memcpy(&m->unload, &sym, sizeof sym);
    sym = dlsym(m->dl, HOST_DRIVER_ENTRY_SYMBOL);
    memcpy(&m->entry, &sym, sizeof sym);
    sym = dlsym(m->dl, NMR_MODULE_STATS_SYMBOL);
    memcpy(&m->stats, &sym, sizeof sym);
    sym = dlsym(m->dl, NMR_MODULE_EXERCISE_SYMBOL);
    memcpy(&m->exercise, &sym, sizeof sym);
    sym = dlsym(m->dl, NMR_MODULE_CHECK_SYMBOL);
    memcpy(&m->check, &sym, sizeof sym);
    if (m->entry != NULL && (m->load != NULL || m->unload != NULL)) {
        snprintf(why, whysize, "'%s' exports both %s and %s: is it a module or a driver? "
                 "(export the entries of one kind only: see <nmr/module.h>, docs/host.md)",
                 m->path, HOST_DRIVER_ENTRY_SYMBOL,
                 m->load != NULL ? NMR_MODULE_LOAD_SYMBOL : NMR_MODULE_UNLOAD_SYMBOL);
        return -1;
    }
    if (m->entry == NULL && m->load == NULL && m->unload == NULL) {
        snprintf(why, whysize, "'%s' is not an NPI module or driver: it exports neither "
                 "%s/%s nor %s (see <nmr/module.h>, docs/host.md)", m->path,
                 NMR_MODULE_LOAD_SYMBOL, NMR_MODULE_UNLOAD_SYMBOL, HOST_DRIVER_ENTRY_SYMBOL);
        return -1;
    }
    if (m->entry == NULL && (m->load == NULL || m->unload == NULL)) {
        snprintf(why, whysize, "'%s' is not an NPI module: it does not export %s "
                 "(see <nmr/module.h>)", m->path,
                 m->load == NULL ? NMR_MODULE_LOAD_SYMBOL : NMR_MODULE_UNLOAD_SYMBOL);
        return -1;
    }
    m->kind = m->entry != NULL ? HOST_DRIVER : HOST_MODULE;
    const void *first = m->kind == HOST_DRIVER ? FN_ADDR(m->entry) : FN_ADDR(m->load);
    Dl_info info;
    if (dladdr(first, &info) == 0 || info.dli_fbase == NULL) {
        snprintf(why, whysize, "cannot locate the mapping of '%s'", m->path);
        return -1;
    }
    m->base = info.dli_fbase;
    /* the object's own base, from its link map: where its first entry
     * point must lie */
    struct link_map *lm = NULL;
    if (dlinfo(m->dl, RTLD_DI_LINKMAP, &lm) == 0 && lm != NULL && lm->l_name != NULL &&
        dladdr(first, &info) != 0 && info.dli_fname != NULL &&
        strcmp(info.dli_fname, lm->l_name) != 0) {
        snprintf(why, whysize, "'%s': %s is not defined in the %s itself (it comes from %s)",
                 m->path, m->kind == HOST_DRIVER ? HOST_DRIVER_ENTRY_SYMBOL
                 : NMR_MODULE_LOAD_SYMBOL, host_kind_name(m), info.dli_fname);
        return -1;
    }
    if (m->kind == HOST_MODULE &&
        (dladdr(FN_ADDR(m->unload), &info) == 0 || info.dli_fbase != m->base)) {
        snprintf(why, whysize, "'%s': %s is not defined in the module itself", m->path,
                 NMR_MODULE_UNLOAD_SYMBOL);
        return -1;
    }
    return 0;
}

/* What m left, in one line for why-texts ("1 registration ...; pool 24
 * bytes ..."): the registrar's residue r and, when take_km, what libnmr-km
 * counts for its object (into *k).  Returns 1 when anything is left, and
 * sets *km_left. */
static int residue_left(host_module *m, const residue *r, int take_km, nmr_km_residue *k,
                        int *km_left, char *text, size_t size)
{
    *km_left = take_km && residue_km_take(m, k);
    text[0] = '\0';
    if (r->n == 0 && !*km_left)
        return 0;
    char summary[512] = "", kms[512] = "";
    if (r->n != 0)
        residue_summary(r, summary, sizeof summary);
    if (*km_left)
        residue_km_summary(k, kms, sizeof kms);
    snprintf(text, size, "%s%s%s", summary, summary[0] != '\0' && kms[0] != '\0' ? "; " : "",
             kms);
    return 1;
}

/* Say what a failed load or DriverEntry left (registrations; for a
 * driver, also pool, threads and work items of its object) after "head"
 * in why, and decide: 0 when nothing is left (unmapped, m freed), -1 when
 * m is kept resident. */
static int after_failed_load(host_module *m, char *why, size_t whysize, int n)
{
    module_private *priv = m->iface.host_private;
    if (n < 0 || (size_t)n >= whysize)
        n = 0;
    residue r;
    if (residue_take(m, &r) != 0) {
        snprintf(why + n, whysize - (size_t)n, "; cannot check what it left "
                 "(no snapshot): kept resident");
        snprintf(m->why, sizeof m->why, "no snapshot to check its failed load");
    } else {
        nmr_km_residue k;
        int km_left;
        char left[1040];
        if (residue_left(m, &r, 1, &k, &km_left, left, sizeof left)) {
            out_line("nmrhost: %s's failed %s left%s:", m->name,
                     m->kind == HOST_DRIVER ? HOST_DRIVER_ENTRY_SYMBOL : "load",
                     km_left ? "" : " in the registrar");
            residue_report(&r, "  ");
            if (km_left)
                residue_km_report(&k, "  ");
            why[n] = '\0';
            appendf(why, whysize, "; it left %s: kept resident", left);
            m->why[0] = '\0';
            appendf(m->why, sizeof m->why, "failed %s left %s",
                    m->kind == HOST_DRIVER ? HOST_DRIVER_ENTRY_SYMBOL : "load", left);
            residue_free(&r);
        } else {
            residue_free(&r);
            unlink_loaded(m);
            if (m->driver != NULL) {
                nmr_km_driver_free(m->driver);
                m->driver = NULL;
            }
            if (close_and_check(m, why + n, whysize - (size_t)n) == 0)
                snprintf(why + n, whysize - (size_t)n, "%s",
                         m->kind == HOST_DRIVER ? ": nothing left, unmapped"
                         : "; nothing left, module unmapped");
            free_module(m);
            return 0;
        }
    }
    m->state = HOST_RESIDENT;
    priv->unload_returned = 1;     /* nothing will run its unload */
    n_resident++;
    return -1;
}

/* Start a driver whose DriverEntry was found: call it on this thread
 * (libnmr-km makes its DRIVER_OBJECT and registry path).  As host_load. */
static int start_driver(host_module *m, module_private *priv, host_module **out,
                        char **margv, char *why, size_t whysize)
{
    free(margv);
    m->state = HOST_LOADED;
    m->iface.abi_version = NMR_MODULE_ABI_VERSION;
    m->iface.size = sizeof m->iface;
    m->iface.name = m->name;
    m->iface.log = module_log;
    set_doing(HOST_DRIVER_ENTRY_SYMBOL, m->name);
    nmr_km_driver *driver = NULL;
    entry_hook(m, HOST_DRIVER_ENTRY_SYMBOL, 0);
    NTSTATUS st = nmr_km_driver_start(m->entry, m->name, m->base, &driver);
    entry_hook(m, HOST_DRIVER_ENTRY_SYMBOL, 1);
    set_doing(NULL, NULL);
    m->driver = driver;
    if (!NT_SUCCESS(st)) {
        int n = snprintf(why, whysize, "%s: %s returned %s (0x%08x)", m->name,
                         HOST_DRIVER_ENTRY_SYMBOL, nmr_status_name(st), (unsigned)st);
        after_failed_load(m, why, whysize, n);
        return -1;
    }
    if (driver == NULL) {          /* cannot happen: nmr_km_driver_start's contract */
        snprintf(why, whysize, "%s: %s returned %s but libnmr-km kept no driver: kept "
                 "resident", m->name, HOST_DRIVER_ENTRY_SYMBOL, nmr_status_name(st));
        snprintf(m->why, sizeof m->why, "no driver kept by libnmr-km");
        m->state = HOST_RESIDENT;
        priv->unload_returned = 1;
        n_resident++;
        return -1;
    }
    n_loads++;
    *out = m;
    return 0;
}

int host_load(const char *spec, int argc, char **argv, host_module **out, char *why,
              size_t whysize)
{
    *out = NULL;
    host_module *m = calloc(1, sizeof *m);
    module_private *priv = calloc(1, sizeof *priv);
    char **margv = calloc((size_t)argc + 2, sizeof *margv);
    if (m == NULL || priv == NULL || margv == NULL) {
        free(m);
        free(priv);
        free(margv);
        snprintf(why, whysize, "out of memory");
        return -1;
    }
    m->iface.host_private = priv;
    priv->module = m;
    m->path = find_module(spec, why, whysize);
    if (m->path == NULL)
        goto fail;
    m->real = realpath(m->path, NULL);
    if (m->real == NULL) {
        snprintf(why, whysize, "cannot resolve '%s': %s", m->path, strerror(errno));
        goto fail;
    }
    module_name(m->path, m->name, sizeof m->name);
    host_module *other = NULL;
    if (append_loaded(m, &other) != 0) {
        snprintf(why, whysize, "'%s' is already loaded%s (as %s, from %s); unload it first",
                 m->name, other->state == HOST_RESIDENT ? " and kept resident" : "",
                 other->name, other->path);
        goto fail;
    }
    /* in the table from here on (so that host_owner sees it), not yet
     * mapped (m->dl NULL: host_owner skips it) */
    if (host_is_mapped(m->real) == 1) {
        snprintf(why, whysize, "%s is already mapped in this process (not by nmrhost): "
                 "it could never be unmapped", m->real);
        goto fail_listed;
    }
    dlerror();
    m->dl = dlopen(m->path, RTLD_NOW | RTLD_LOCAL);
    if (m->dl == NULL) {
        const char *e = dlerror();
        snprintf(why, whysize, "cannot load '%s': %s", m->path, e != NULL ? e : "?");
        goto fail_listed;
    }
    if (find_entries(m, why, whysize) != 0) {
        dlclose(m->dl);
        m->dl = NULL;
        goto fail_listed;
    }
    if (m->kind == HOST_DRIVER)
        return start_driver(m, priv, out, margv, why, whysize);

    m->iface.abi_version = NMR_MODULE_ABI_VERSION;
    m->iface.size = sizeof m->iface;
    m->iface.name = m->name;
    m->iface.log = module_log;
    m->state = HOST_LOADED;
    margv[0] = m->name;
    for (int i = 0; i < argc; i++)
        margv[i + 1] = argv[i];
    NTSTATUS st;
    entry_hook(m, "load", 0);
    st = m->load(&m->iface, argc + 1, margv);
    entry_hook(m, "load", 1);
    free(margv);
    margv = NULL;
    if (st != STATUS_SUCCESS) {
        int n = snprintf(why, whysize, "%s: load entry returned %s (0x%08x)", m->name,
                         nmr_status_name(st), (unsigned)st);
        after_failed_load(m, why, whysize, n);
        return -1;
    }
    n_loads++;
    *out = m;
    return 0;

fail_listed:
    unlink_loaded(m);
fail:
    free(margv);
    free_module(m);
    return -1;
}

/* ---- unload ------------------------------------------------------------- */
static void *unload_thread(void *arg)
{
    unload_job *job = arg;
    NTSTATUS st = STATUS_SUCCESS;
    if (job->unload != NULL)
        st = job->unload();
    else
        nmr_km_driver_unload(job->driver);  /* DriverUnload returns nothing */
    pthread_mutex_lock(&job->lock);
    job->status = st;
    job->done = 1;
    pthread_cond_broadcast(&job->cond);
    pthread_mutex_unlock(&job->lock);
    return NULL;
}

/* What runs at unload: "unload entry" (a module's) or "DriverUnload". */
static const char *entry_word(const host_module *m)
{
    return m->kind == HOST_DRIVER ? "DriverUnload" : "unload entry";
}

/* What the module still has in the registrar, while its unload runs. */
static void report_left(host_module *m)
{
    residue r;
    if (residue_take(m, &r) != 0)
        return;
    if (r.n == 0) {
        out_line("  nothing of %s left in the registrar: its %s is busy elsewhere",
                 m->name, entry_word(m));
    } else {
        out_line("  what %s still has in the registrar:", m->name);
        residue_report(&r, "    ");
    }
    residue_free(&r);
}

/* Run the unload entry here, unwatched (no memory for a helper thread). */
static NTSTATUS unload_here(host_module *m)
{
    NTSTATUS st = STATUS_SUCCESS;
    entry_hook(m, entry_word(m), 0);
    if (m->kind == HOST_DRIVER)
        nmr_km_driver_unload(m->driver);
    else
        st = m->unload();
    entry_hook(m, entry_word(m), 1);
    return st;
}

static void report_holdup(host_module *m, uint64_t elapsed_ms)
{
    out_line("nmrhost: unload of %s still running after %llu ms", m->name,
             (unsigned long long)elapsed_ms);
    report_left(m);
}

#define WAIT_DONE 0
#define WAIT_TIMEOUT 1
#define WAIT_INTR 2

/* Wait for a running unload entry, reporting what holds it up after
 * unload_warn_ms, 2x, 4x...  WAIT_DONE when it has returned; WAIT_TIMEOUT
 * after unload_timeout_ms; WAIT_INTR after a Ctrl-C (HOST_INTR_STOP), or
 * after the second one (HOST_INTR_REPORT: the first says what it waits
 * for).  The times count from start. */
static int wait_job(host_module *m, unload_job *job, uint64_t start)
{
    uint64_t next_warn_ms = cfg.unload_warn_ms;
    unsigned mark = intr_count();
    int told = 0, result = WAIT_DONE;
    pthread_mutex_lock(&job->lock);
    while (!job->done) {
        uint64_t now = host_now_ns(), elapsed_ms = (now - start) / 1000000u;
        uint64_t wake = now + 50000000u;      /* look at Ctrl-C every 50 ms */
        if (intr_since(mark)) {
            mark = intr_count();
            if (intr_policy == HOST_INTR_STOP || told) {
                result = WAIT_INTR;
                break;
            }
            told = 1;
            pthread_mutex_unlock(&job->lock);
            out_line("nmrhost: Ctrl-C: waiting for the unload of %s (its %s has run "
                     "for %llu ms); Ctrl-C again to stop waiting (%s then stays mapped)",
                     m->name, entry_word(m), (unsigned long long)elapsed_ms, m->name);
            report_left(m);
            pthread_mutex_lock(&job->lock);
            continue;
        }
        if (cfg.unload_timeout_ms != 0 && elapsed_ms >= cfg.unload_timeout_ms) {
            result = WAIT_TIMEOUT;
            break;
        }
        if (next_warn_ms != 0 && elapsed_ms >= next_warn_ms) {
            pthread_mutex_unlock(&job->lock);
            report_holdup(m, elapsed_ms);
            pthread_mutex_lock(&job->lock);
            next_warn_ms *= 2;
            continue;
        }
        if (next_warn_ms != 0 && start + next_warn_ms * 1000000u < wake)
            wake = start + next_warn_ms * 1000000u;
        if (cfg.unload_timeout_ms != 0 && start + cfg.unload_timeout_ms * 1000000ull < wake)
            wake = start + cfg.unload_timeout_ms * 1000000ull;
        struct timespec ts;
        ts.tv_sec = (time_t)(wake / 1000000000u);
        ts.tv_nsec = (long)(wake % 1000000000u);
        pthread_cond_timedwait(&job->cond, &job->lock, &ts);
    }
    pthread_mutex_unlock(&job->lock);
    return result;
}

/* A returned unload job: join it, free it; its status. */
static NTSTATUS reap_job(unload_job *job)
{
    pthread_join(job->thread, NULL);
    NTSTATUS st = job->status;
    pthread_cond_destroy(&job->cond);
    pthread_mutex_destroy(&job->lock);
    free(job);
    return st;
}

/* Run the unload entry; WAIT_DONE when it returned (status in *st), or
 * WAIT_TIMEOUT / WAIT_INTR when it was left running (priv->job). */
static int run_unload(host_module *m, NTSTATUS *st)
{
    module_private *priv = m->iface.host_private;
    unload_job *job = calloc(1, sizeof *job);
    uint64_t start = host_now_ns();
    if (cfg.unload_inline) {           /* the caller watches (nmrcheck) */
        free(job);
        job = NULL;
    }
    if (job == NULL) {                 /* run it here, unwatched */
        *st = unload_here(m);
        priv->unload_returned = 1;
        return WAIT_DONE;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&job->lock, NULL);
    pthread_cond_init(&job->cond, &ca);
    pthread_condattr_destroy(&ca);
    job->unload = m->kind == HOST_DRIVER ? NULL : m->unload;
    job->driver = m->driver;
    if (pthread_create(&job->thread, NULL, unload_thread, job) != 0) {
        pthread_cond_destroy(&job->cond);
        pthread_mutex_destroy(&job->lock);
        free(job);
        *st = unload_here(m);
        priv->unload_returned = 1;
        return WAIT_DONE;
    }
    int r = wait_job(m, job, start);
    if (r != WAIT_DONE) {
        priv->job = job;               /* the thread still uses it */
        return r;
    }
    *st = reap_job(job);
    priv->unload_returned = 1;
    return WAIT_DONE;
}

int host_unload_running(const host_module *m)
{
    const module_private *priv = m->iface.host_private;
    return m->state == HOST_RESIDENT && !priv->unload_returned && priv->job != NULL;
}

/* The unload entry has run: unmap if nothing is left. */
static int finish_unload(host_module *m, uint64_t start, host_unload_times *t, char *why,
                         size_t whysize, const char *status_note)
{
    uint64_t t0 = host_now_ns();
    residue r;
    if (residue_take(m, &r) != 0) {
        snprintf(why, whysize, "%s: cannot take a snapshot to check what it left: "
                 "kept resident%s", m->name, status_note);
        if (m->state != HOST_RESIDENT)
            n_resident++;
        m->state = HOST_RESIDENT;
        snprintf(m->why, sizeof m->why, "no snapshot to check it");
        return -1;
    }
    nmr_km_residue k;
    int km_left;
    char left[1040];
    if (residue_left(m, &r, m->driver != NULL, &k, &km_left, left, sizeof left)) {
        if (m->kind == HOST_DRIVER)
            out_line("nmrhost: %s: DriverUnload returned but the driver left:", m->name);
        else
            out_line("nmrhost: %s: unload returned but the module left in the registrar:",
                     m->name);
        residue_report(&r, "  ");
        if (km_left)
            residue_km_report(&k, "  ");
        out_line("nmrhost: %s: NOT unmapped (its code may still be called): kept resident",
                 m->name);
        why[0] = '\0';
        appendf(why, whysize, "refused to unmap %s: it left %s; kept resident%s", m->name, left,
                status_note);
        m->why[0] = '\0';
        appendf(m->why, sizeof m->why, "unload left %s", left);
        residue_free(&r);
        if (m->state != HOST_RESIDENT)
            n_resident++;
        m->state = HOST_RESIDENT;
        return -1;
    }
    residue_free(&r);
    if (m->driver != NULL) {           /* nothing of it left in libnmr-km either */
        nmr_km_driver_free(m->driver);
        m->driver = NULL;
    }
    if (t != NULL)
        t->check_ns = host_now_ns() - t0;
    t0 = host_now_ns();
    unlink_loaded(m);
    if (close_and_check(m, why, whysize) != 0) {
        to_history(m);
        return -1;
    }
    if (t != NULL) {
        t->dlclose_ns = host_now_ns() - t0;
        t->total_ns = host_now_ns() - start;
    }
    to_history(m);
    n_unloads++;
    return 0;
}

int host_unload(host_module *m, host_unload_times *t, char *why, size_t whysize)
{
    module_private *priv = m->iface.host_private;
    uint64_t start = host_now_ns();
    if (t != NULL)
        memset(t, 0, sizeof *t);
    char note[128] = "";
    if (m->state == HOST_RESIDENT) {
        if (!priv->unload_returned && priv->job != NULL) {
            /* a running unload that was given up on: wait for it again */
            set_unloading(m->name);
            int r = wait_job(m, priv->job, start);
            set_unloading(NULL);
            if (r != WAIT_DONE) {
                snprintf(why, whysize, "%s: %s; its %s is still running: kept "
                         "resident", m->name, r == WAIT_INTR ? "interrupted (Ctrl-C)"
                         : "it did not return in time either", entry_word(m));
                return -1;
            }
            NTSTATUS st = reap_job(priv->job);
            priv->job = NULL;
            priv->unload_returned = 1;
            if (m->stats != NULL)
                m->stats(m->last_stats, sizeof m->last_stats);
            if (st != STATUS_SUCCESS)
                snprintf(note, sizeof note, " (its unload entry returned %s, 0x%08x)",
                         nmr_status_name(st), (unsigned)st);
        }
        if (!priv->unload_returned) {
            snprintf(why, whysize, "%s: its %s is still running: cannot unmap",
                     m->name, entry_word(m));
            return -1;
        }
        return finish_unload(m, start, t, why, whysize, note);
    }
    if (m->state != HOST_LOADED) {
        snprintf(why, whysize, "%s is not loaded", m->name);
        return -1;
    }
    if (!host_can_unload(m)) {
        snprintf(why, whysize, "'%s' set no DriverUnload: it cannot be unloaded, as on "
                 "Windows (it stays loaded until nmrhost exits)", m->name);
        return -1;
    }
    host_stats(m, m->last_stats, sizeof m->last_stats);
    set_unloading(m->name);
    uint64_t t0 = host_now_ns();
    NTSTATUS st;
    int rc = run_unload(m, &st);
    if (rc == WAIT_INTR) {
        set_unloading(NULL);
        m->state = HOST_RESIDENT;
        snprintf(m->why, sizeof m->why, "unload interrupted (Ctrl-C), its %s still "
                 "running", entry_word(m));
        n_resident++;
        snprintf(why, whysize, "%s: interrupted (Ctrl-C) after %llu ms; kept resident, its "
                 "%s still running (unload %s again waits for it)", m->name,
                 (unsigned long long)((host_now_ns() - start) / 1000000u), entry_word(m),
                 m->name);
        return -1;
    }
    if (rc != WAIT_DONE) {
        set_unloading(NULL);
        report_holdup(m, (host_now_ns() - start) / 1000000u);
        m->state = HOST_RESIDENT;
        snprintf(m->why, sizeof m->why, "%s did not return within %u ms",
                 entry_word(m), cfg.unload_timeout_ms);
        n_resident++;
        snprintf(why, whysize, "%s: %s did not return within %u ms; "
                 "kept resident, its unload still running", m->name, entry_word(m),
                 cfg.unload_timeout_ms);
        return -1;
    }
    set_unloading(NULL);
    if (t != NULL)
        t->unload_ns = host_now_ns() - t0;
    if (m->stats != NULL)          /* final figures, before the code goes */
        m->stats(m->last_stats, sizeof m->last_stats);
    host_check(m, m->check_why, sizeof m->check_why);
    if (st != STATUS_SUCCESS)
        snprintf(note, sizeof note, " (its unload entry returned %s, 0x%08x)", nmr_status_name(st),
                 (unsigned)st);
    if (finish_unload(m, start, t, why, whysize, note) != 0)
        return -1;
    if (st != STATUS_SUCCESS) {
        snprintf(why, whysize, "%s unmapped, but its unload entry returned %s (0x%08x)",
                 m->name, nmr_status_name(st), (unsigned)st);
        return -1;
    }
    return 0;
}

/* ---- the module's own check ---------------------------------------------- */
int host_check(host_module *m, char *buf, size_t size)
{
    buf[0] = '\0';
    if (m->check == NULL || m->dl == NULL)
        return 0;
    int r = m->check(buf, size);
    if (size > 0)
        buf[size - 1] = '\0';
    if (r != 0 && buf[0] == '\0')
        snprintf(buf, size, "nmr_module_check returned %d", r);
    return r;
}

/* ---- stats -------------------------------------------------------------- */
int host_stats(host_module *m, char *buf, size_t size)
{
    if (m->state == HOST_UNLOADED || m->dl == NULL || m->stats == NULL) {
        if (buf != m->last_stats)
            snprintf(buf, size, "%s", m->last_stats);
        return m->stats == NULL ? -1 : 0;
    }
    if (m->state == HOST_RESIDENT) {
        module_private *priv = m->iface.host_private;
        if (!priv->unload_returned) {      /* its unload may be freeing things */
            if (buf != m->last_stats)
                snprintf(buf, size, "%s", m->last_stats);
            return 0;
        }
    }
    buf[0] = '\0';
    m->stats(buf, size);
    return 0;
}

int host_stats_field(const char *stats, const char *key, char *value, size_t size)
{
    size_t klen = strlen(key);
    const char *p = stats;

    while (p != NULL && *p != '\0') {
        while (*p == ' ')
            p++;
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            const char *v = p + klen + 1;
            size_t n = strcspn(v, " ");
            snprintf(value, size, "%.*s", (int)n, v);
            return 0;
        }
        p = strchr(p, ' ');
    }
    return -1;
}
