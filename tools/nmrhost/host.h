/* SPDX-License-Identifier: MIT */
/*
 * host.h - the core of nmrhost: a table of NPI modules loaded from shared
 * objects (<nmr/module.h>) and of Windows NPI drivers built with the
 * kernel-mode layer (an object that exports DriverEntry, <nmr/km.h>),
 * loaded, unloaded safely and inspected.  Used by the nmrhost command
 * interpreter (commands.c) and by the benchmark (bench/hostbench.c), so
 * both unload modules the same way.
 *
 * Safe unload: the module's unload entry (a driver's DriverUnload) runs on
 * a helper thread while the calling thread watches the time; then the
 * registrar is searched for anything the module left (residue.c), and for
 * a driver libnmr-km is asked what it still holds (pool, threads, work
 * items); only when nothing is left is the object dlclose()d, and
 * /proc/self/maps is checked to prove it is gone.  Otherwise it stays
 * resident and the report says what was left.
 *
 * Not thread-safe: one thread drives the table (module callbacks and
 * module threads only reach the host through the log function).
 */
#ifndef NMRHOST_HOST_H
#define NMRHOST_HOST_H

#include <nmr/introspect.h>
#include <nmr/km.h>
#include <nmr/module.h>

#include <stddef.h>
#include <stdint.h>

/* The entry point that makes an object a driver (C linkage). */
#define HOST_DRIVER_ENTRY_SYMBOL "DriverEntry"

#define HOST_NAME_LEN 64
#define HOST_STATS_LEN 512
#define HOST_WHY_LEN 1024

typedef enum host_state {
    HOST_LOADED = 0,
    HOST_RESIDENT = 1,     /* unload done or abandoned, but kept mapped */
    HOST_UNLOADED = 2      /* gone: only its last figures remain */
} host_state;

/* What a loaded object is: a module (nmr_module_load/nmr_module_unload)
 * or a driver (DriverEntry, and the DriverUnload it sets). */
typedef enum host_kind { HOST_MODULE = 0, HOST_DRIVER = 1 } host_kind;

typedef struct host_module {
    struct host_module *next;      /* load order */
    char name[HOST_NAME_LEN];
    host_kind kind;
    char *path;                    /* as found on the module path */
    char *real;                    /* realpath, as in /proc/self/maps */
    void *dl;                      /* dlopen handle; NULL once closed */
    const void *base;              /* dli_fbase of the object */
    nmr_module_load_fn *load;      /* a module's entries (NULL for a driver) */
    nmr_module_unload_fn *unload;
    nmr_km_entry_fn *entry;        /* a driver's DriverEntry (NULL for a module) */
    nmr_km_driver *driver;         /* the started driver, until unmapped */
    nmr_module_stats_fn *stats;    /* may be NULL (a driver may export one too) */
    nmr_module_exercise_fn *exercise; /* optional, for nmrcheck's workers */
    nmr_module_check_fn *check;    /* optional: the module's own check */
    char check_why[HOST_WHY_LEN];  /* what check said after unload ("" when well) */
    nmr_module_host iface;         /* what the module was given */
    host_state state;
    char why[HOST_WHY_LEN];        /* HOST_RESIDENT: one line, why */
    char last_stats[HOST_STATS_LEN];
    /* progress: last sample of the "calls" field */
    unsigned long long last_calls;
    uint64_t last_ns;
    int have_sample;
} host_module;

typedef struct host_config {
    unsigned unload_warn_ms;       /* report a slow unload after this (0: never) */
    unsigned unload_timeout_ms;    /* give up waiting (0: wait for ever) */
    const char *module_path;       /* ':'-separated directories, or NULL */
    int quiet_modules;             /* drop the modules' log lines */
    int unload_inline;             /* run unload entries on the calling thread,
                                      unwatched (nmrcheck watches them itself) */
    /* Called on the thread that runs a module's entry (load, unload,
     * DriverEntry, DriverUnload), just before it (returned == 0) and just
     * after it returned (returned == 1).  May be NULL. */
    void (*on_entry)(host_module *m, const char *entry, int returned);
} host_config;

typedef struct host_unload_times {
    uint64_t unload_ns;            /* the unload entry */
    uint64_t check_ns;             /* looking for residue */
    uint64_t dlclose_ns;           /* dlclose + maps check */
    uint64_t total_ns;             /* command to dlclose done */
} host_unload_times;

/* Once, before anything else. */
void host_init(const host_config *config);

/* Loaded (and resident) modules, in load order; unloaded ones are kept
 * after them for their last figures (host_history). */
host_module *host_modules(void);
host_module *host_history(void);
host_module *host_find(const char *name);        /* loaded or resident */
/* Forget the unloaded modules' last figures (nmrcheck, after each run). */
void host_clear_history(void);
host_module *host_find_any(const char *name);    /* including unloaded */

/* Load a module or a driver: spec is a path, or a name looked for on the
 * module path (NAME, then NAME.so).  argv[0] becomes the module's name (a
 * driver gets no arguments: DriverEntry takes none).  0, or -1 with the
 * reason in why.  On failure nothing of the module stays mapped unless its
 * failed load left registrations (then it is resident, and why says so). */
int host_load(const char *spec, int argc, char **argv, host_module **out, char *why,
              size_t whysize);

/* Unload a loaded module (or retry a resident one: wait for its unload
 * entry if it is still running, check again, unmap if now clean).  0 when
 * unmapped, -1 with the reason in why otherwise (a driver that set no
 * DriverUnload is refused and stays loaded).  times may be NULL. */
int host_unload(host_module *m, host_unload_times *times, char *why, size_t whysize);

/* 1 when unload may be tried: a module, or a driver that set DriverUnload. */
int host_can_unload(const host_module *m);

/* "module" or "driver". */
const char *host_kind_name(const host_module *m);

/* What the host thread is doing with which module, for a report made
 * while it does ("DriverEntry of ping_client", "unload of badmod"), or ""
 * when nothing.  Readable from a signal handler (a plain buffer, no lock:
 * it may be torn, never unterminated). */
const char *host_doing(void);

/* 1 when the module is resident with its unload entry still running (given
 * up on after a timeout or a Ctrl-C): host_unload waits for it again. */
int host_unload_running(const host_module *m);

/* What a Ctrl-C (intr.h) does to an unload waiting for its unload entry:
 * STOP (the default) stops waiting at once: the module stays resident, its
 * unload running.  REPORT (the end of a session) says what the unload
 * waits for, and stops waiting at the next Ctrl-C. */
typedef enum host_intr_policy { HOST_INTR_STOP, HOST_INTR_REPORT } host_intr_policy;
void host_set_intr_policy(host_intr_policy policy);

/* The module's stats line into buf ("" when it has none); for an unloaded
 * module, its last one.  Returns 0, or -1 when it has no stats entry. */
int host_stats(host_module *m, char *buf, size_t size);

/* The module's own check (nmr_module_check) into buf: 0 when it has none
 * or says all is well ("" in buf), else non-zero with its text.  Called
 * by host_unload after the unload entry returned (into m->check_why). */
int host_check(host_module *m, char *buf, size_t size);

/* One field of a stats line: 0 and *value, or -1 when absent. */
int host_stats_field(const char *stats, const char *key, char *value, size_t size);

/* Which module a registration belongs to (by the addresses it gave the
 * NMR), or NULL. */
host_module *host_owner(const nmr_registration_info *reg);

/* Is the file mapped in this process now (/proc/self/maps)?  1, 0, or -1
 * when the maps cannot be read. */
int host_is_mapped(const char *realpath_of_file);

/* Counters for the final report. */
typedef struct host_counters {
    unsigned long loads, unloads, kept_resident, misuse_reports, watchdog_reports;
} host_counters;
void host_get_counters(host_counters *out);

/* Monotonic clock, nanoseconds. */
uint64_t host_now_ns(void);

#endif /* NMRHOST_HOST_H */
