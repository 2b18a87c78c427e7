/* SPDX-License-Identifier: MIT */
/*
 * test_dump.c - nmr_snapshot_write() and the name functions of
 * nmr/introspect.h, on snapshots built by hand (no registrar involved):
 * text, JSON and DOT of a known state (one binding stuck in a pending
 * detach, one with a detach callback still running), the empty snapshot,
 * string escaping, bad arguments, inconsistent snapshots, write failures
 * and an allocation failure.
 *
 * Usage: test_dump [OUTDIR]
 *   With OUTDIR, also writes the renderings the script tests check:
 *   OUTDIR/{snapshot,empty}.{txt,json,dot}.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "alloc.h"

#include <nmr/introspect.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "dump.h" /* the escapers: hidden in libnmr.so, reachable here */

#define H(x) ((HANDLE)(uintptr_t)(x))

/* ---- a hand-built snapshot ----------------------------------------------- */

static GUID guid(uint32_t d1, uint16_t d2)
{
    GUID g = {d1, d2, 0x4e5f, {0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0xab}};
    return g;
}

static NPI_MODULEID mod_guid(uint32_t d1)
{
    NPI_MODULEID m;
    memset(&m, 0, sizeof(m));
    m.Length = sizeof(m);
    m.Type = MIT_GUID;
    m.Guid = guid(d1, 0x0d0d);
    return m;
}

static NPI_MODULEID mod_luid(LONG high, ULONG low)
{
    NPI_MODULEID m;
    memset(&m, 0, sizeof(m));
    m.Length = sizeof(m);
    m.Type = MIT_IF_LUID;
    m.IfLuid.HighPart = high;
    m.IfLuid.LowPart = low;
    return m;
}

/* Made-up addresses: never dereferenced, and the same in every run (the
 * renderings end up in docs/introspection.md). */
#define P(x) ((PVOID)(uintptr_t)(x))
#define F(x) ((void (*)(void))(uintptr_t)(x))
#define CTX(n) P(0x7f3a10000000u + 0x100u * (n))
#define CHARS(n) P(0x7f3a20000000u + 0x100u * (n))
#define ATTACH F(0x7f3a30001000u)
#define DETACH F(0x7f3a30002000u)
#define CLEANUP F(0x7f3a30003000u)

/*
 * NPI A {11111111-2222-4E5F-8001-0203040506AB}:
 *   #0 client   0x10004  module {C1000001-...}  active
 *   #1 provider 0x10008  module luid 0x00000000:0x00000007  active
 *   #2 client   0x2000c  module {C1000002-...}  waiting (its wait is stuck)
 * NPI B {33333333-4444-...}:
 *   #3 provider 0x30010  module {B0000003-...}  deregistering
 *   #4 client   0x40014  module {C1000004-...}  active
 * Bindings:
 *   0 0x50001 #0 -> #1 attached
 *   1 0x50005 #2 -> #1 detaching 12034 ms, client complete,
 *               provider PENDING 12034 ms              <- the hung unload
 *   2 0x50009 #4 -> #3 detaching 40 ms, client CALLING 40 ms,
 *               provider not started
 *   3 0x5000d #0 -> #1 offering
 * The registrations are listed NPI B first for #3, so grouping by NPI has
 * to reorder them.
 */
static nmr_registration_info g_regs[5];
static nmr_binding_info g_binds[4];
static nmr_snapshot g_snap;

static void build(void)
{
    memset(g_regs, 0, sizeof(g_regs));
    memset(g_binds, 0, sizeof(g_binds));
    GUID a = guid(0x11111111, 0x2222), b = guid(0x33333333, 0x4444);
    nmr_registration_info *r = g_regs;
    r[0] = (nmr_registration_info){H(0x10004), NMR_ROLE_CLIENT, NMR_REGISTRATION_ACTIVE,
                                   a, mod_guid(0xC1000001), 0, CTX(0), CHARS(0),
                                   ATTACH, DETACH, NULL, 2};
    r[1] = (nmr_registration_info){H(0x10008), NMR_ROLE_PROVIDER, NMR_REGISTRATION_ACTIVE,
                                   a, mod_luid(0, 7), 1, CTX(1), CHARS(1),
                                   ATTACH, DETACH, CLEANUP, 3};
    r[2] = (nmr_registration_info){H(0x2000c), NMR_ROLE_CLIENT, NMR_REGISTRATION_WAITING,
                                   a, mod_guid(0xC1000002), 2, CTX(2), CHARS(2),
                                   ATTACH, DETACH, NULL, 1};
    r[3] = (nmr_registration_info){H(0x30010), NMR_ROLE_PROVIDER,
                                   NMR_REGISTRATION_DEREGISTERING, b,
                                   mod_guid(0xB0000003), 3, CTX(3), CHARS(3),
                                   ATTACH, DETACH, NULL, 1};
    r[4] = (nmr_registration_info){H(0x40014), NMR_ROLE_CLIENT, NMR_REGISTRATION_ACTIVE,
                                   b, mod_guid(0xC1000004), 4, CTX(4), CHARS(4),
                                   ATTACH, DETACH, NULL, 1};
    nmr_binding_info *x = g_binds;
    x[0] = (nmr_binding_info){H(0x50001), 0, 1, NMR_BINDING_ATTACHED,
                              {NMR_HALF_NOT_STARTED, NMR_HALF_NOT_STARTED}, 0, {0, 0}};
    x[1] = (nmr_binding_info){H(0x50005), 2, 1, NMR_BINDING_DETACHING,
                              {NMR_HALF_COMPLETE, NMR_HALF_PENDING}, 12034, {12035, 12034}};
    x[2] = (nmr_binding_info){H(0x50009), 4, 3, NMR_BINDING_DETACHING,
                              {NMR_HALF_CALLING, NMR_HALF_NOT_STARTED}, 40, {40, 0}};
    x[3] = (nmr_binding_info){H(0x5000d), 0, 1, NMR_BINDING_OFFERING,
                              {NMR_HALF_NOT_STARTED, NMR_HALF_NOT_STARTED}, 0, {0, 0}};
    g_snap.time_ns = UINT64_C(5025123456789);
    g_snap.nregistrations = 5;
    g_snap.registrations = g_regs;
    g_snap.nbindings = 4;
    g_snap.bindings = g_binds;
}

/* ---- rendering into memory ------------------------------------------------ */

static char *g_out;
static size_t g_len;

/* Render into g_out (freed by the next call); returns what write returned. */
static int render(const nmr_snapshot *s, nmr_dump_format fmt)
{
    free(g_out);
    g_out = NULL;
    g_len = 0;
    FILE *f = open_memstream(&g_out, &g_len);
    CHECK(f != NULL);
    int rc = nmr_snapshot_write(s, fmt, f);
    CHECK(fclose(f) == 0);
    return rc;
}

static int has(const char *needle)
{
    return strstr(g_out, needle) != NULL;
}

#define CHECK_HAS(s)                                                        \
    do {                                                                    \
        if (!has(s)) {                                                      \
            fprintf(stderr, "%s:%d: output lacks \"%s\"; output:\n%s\n",    \
                    __FILE__, __LINE__, (s), g_out);                        \
            exit(1);                                                        \
        }                                                                   \
    } while (0)

#define CHECK_LACKS(s)                                                      \
    do {                                                                    \
        if (has(s)) {                                                       \
            fprintf(stderr, "%s:%d: output has \"%s\"; output:\n%s\n",      \
                    __FILE__, __LINE__, (s), g_out);                        \
            exit(1);                                                        \
        }                                                                   \
    } while (0)

/* The line of g_out that contains needle (static buffer). */
static const char *line_with(const char *needle)
{
    static char line[1024];
    const char *p = strstr(g_out, needle);
    CHECK(p != NULL);
    const char *b = p, *e = p;
    while (b > g_out && b[-1] != '\n')
        b--;
    while (*e != 0 && *e != '\n')
        e++;
    size_t n = (size_t)(e - b) < sizeof(line) - 1 ? (size_t)(e - b) : sizeof(line) - 1;
    memcpy(line, b, n);
    line[n] = 0;
    return line;
}

static size_t count_of(const char *needle)
{
    size_t n = 0;
    for (const char *p = g_out; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* ---- names ---------------------------------------------------------------- */

static void t_names(void)
{
    CHECK(strcmp(nmr_role_name(NMR_ROLE_CLIENT), "client") == 0);
    CHECK(strcmp(nmr_role_name(NMR_ROLE_PROVIDER), "provider") == 0);
    CHECK(strcmp(nmr_role_name((nmr_role)2), "unknown") == 0);
    CHECK(strcmp(nmr_role_name((nmr_role)-1), "unknown") == 0);
    CHECK(strcmp(nmr_registration_state_name(NMR_REGISTRATION_ACTIVE), "active") == 0);
    CHECK(strcmp(nmr_registration_state_name(NMR_REGISTRATION_DEREGISTERING),
                 "deregistering") == 0);
    CHECK(strcmp(nmr_registration_state_name(NMR_REGISTRATION_WAITING), "waiting") == 0);
    CHECK(strcmp(nmr_registration_state_name((nmr_registration_state)3), "unknown") == 0);
    CHECK(strcmp(nmr_binding_state_name(NMR_BINDING_OFFERING), "offering") == 0);
    CHECK(strcmp(nmr_binding_state_name(NMR_BINDING_ATTACHED), "attached") == 0);
    CHECK(strcmp(nmr_binding_state_name(NMR_BINDING_DETACHING), "detaching") == 0);
    CHECK(strcmp(nmr_binding_state_name((nmr_binding_state_info)9), "unknown") == 0);
    CHECK(strcmp(nmr_half_name(NMR_HALF_NOT_STARTED), "not-started") == 0);
    CHECK(strcmp(nmr_half_name(NMR_HALF_CALLING), "calling") == 0);
    CHECK(strcmp(nmr_half_name(NMR_HALF_PENDING), "pending") == 0);
    CHECK(strcmp(nmr_half_name(NMR_HALF_COMPLETE), "complete") == 0);
    CHECK(strcmp(nmr_half_name((nmr_half_info)4), "unknown") == 0);
}

static void t_module_id_format(void)
{
    char buf[NMR_MODULE_ID_TEXT];
    NPI_MODULEID m = mod_guid(0xC1000001);
    CHECK(nmr_module_id_format(&m, buf, sizeof(buf)) == buf);
    CHECK(strcmp(buf, "{C1000001-0D0D-4E5F-8001-0203040506AB}") == 0);

    m = mod_luid(0, 7);
    nmr_module_id_format(&m, buf, sizeof(buf));
    CHECK(strcmp(buf, "luid:0x00000000:0x00000007") == 0);
    m = mod_luid(-1, 0xfffffffeu);
    nmr_module_id_format(&m, buf, sizeof(buf));
    CHECK(strcmp(buf, "luid:0xffffffff:0xfffffffe") == 0);

    m.Type = (NPI_MODULEID_TYPE)9;
    nmr_module_id_format(&m, buf, sizeof(buf));
    CHECK(strcmp(buf, "type-9:?") == 0);

    nmr_module_id_format(NULL, buf, sizeof(buf));
    CHECK(strcmp(buf, "(none)") == 0);

    /* truncation: at most size bytes, always terminated */
    char small[6];
    memset(small, 'x', sizeof(small));
    m = mod_guid(0xC1000001);
    CHECK(nmr_module_id_format(&m, small, 5) == small);
    CHECK(strcmp(small, "{C10") == 0);
    CHECK(small[5] == 'x');
    /* size 0: nothing written */
    small[0] = 'y';
    CHECK(nmr_module_id_format(&m, small, 0) == small);
    CHECK(small[0] == 'y');
    CHECK(nmr_module_id_format(&m, NULL, 10) == NULL);

    /* the longest forms fit NMR_MODULE_ID_TEXT */
    CHECK(strlen("{C1000001-0D0D-4E5F-8001-0203040506AB}") < NMR_MODULE_ID_TEXT);
    CHECK(strlen("luid:0xffffffff:0xfffffffe") < NMR_MODULE_ID_TEXT);
}

/* ---- text ----------------------------------------------------------------- */

static void t_text(void)
{
    build();
    errno = 1234;
    CHECK_EQ(render(&g_snap, NMR_DUMP_TEXT), 0);
    CHECK_EQ(errno, 1234); /* success leaves errno alone */
    CHECK_HAS("libnmr snapshot at 5025.123456789 s");
    CHECK_HAS("registrations: 5 (3 clients, 2 providers; 3 active, 1 deregistering, "
              "1 waiting) in 2 NPIs");
    CHECK_HAS("bindings: 4 (1 offering, 1 attached, 2 detaching)");
    CHECK_HAS("!! 2 bindings are blocked on a module");

    /* grouped by NPI: A's three registrations, then B's two, #3 after #4's
     * header even though it comes before #4 in the snapshot */
    const char *na = strstr(g_out, "NPI {11111111-2222-4E5F-8001-0203040506AB}: 3 registrations");
    const char *nb = strstr(g_out, "NPI {33333333-4444-4E5F-8001-0203040506AB}: 2 registrations");
    CHECK(na != NULL && nb != NULL && na < nb);
    const char *r2 = strstr(g_out, "#2   client");
    const char *r3 = strstr(g_out, "#3   provider");
    const char *r4 = strstr(g_out, "#4   client");
    CHECK(r2 != NULL && r3 != NULL && r4 != NULL);
    CHECK(na < r2 && r2 < nb && nb < r3 && r3 < r4);

    /* a registration line: role, handle, module, Number, state, bindings */
    const char *l = line_with("#1   provider");
    CHECK(strstr(l, "0x10008") != NULL);
    CHECK(strstr(l, "luid:0x00000000:0x00000007") != NULL);
    CHECK(strstr(l, "number 1 ") != NULL);
    CHECK(strstr(l, "active") != NULL);
    CHECK(strstr(l, "3 bindings") != NULL);
    l = line_with("#2   client");
    CHECK(strstr(l, "waiting") != NULL);
    CHECK(strstr(l, "1 binding ") != NULL);
    CHECK(strstr(l, "<- its wait is held up") != NULL);
    CHECK(strstr(l, "context 0x7f3a10000200") != NULL);
    CHECK(strstr(line_with("#3   provider"), "deregistering") != NULL);

    /* the bindings */
    l = line_with("0x50001");
    CHECK(strstr(l, "client#0[{C1000001-0D0D-4E5F-8001-0203040506AB}] -> "
                    "provider#1[luid:0x00000000:0x00000007]: attached") != NULL);
    CHECK(strncmp(l, "  !!", 4) != 0);
    CHECK(strstr(l, "halves") == NULL);
    l = line_with("0x5000d");
    CHECK(strstr(l, ": offering") != NULL);
    CHECK(strncmp(l, "  !!", 4) != 0);

    /* the stuck one stands out: marker, state, both halves, pending time */
    l = line_with("0x50005");
    CHECK(strncmp(l, "  !!", 4) == 0);
    CHECK(strstr(l, "client#2[{C1000002-0D0D-4E5F-8001-0203040506AB}] -> provider#1[") != NULL);
    CHECK(strstr(l, "detaching for 12034 ms") != NULL);
    CHECK(strstr(l, "halves (client: complete, provider: pending 12034 ms)") != NULL);
    /* ...and says who owes which call */
    CHECK_HAS("provider luid:0x00000000:0x00000007 returned STATUS_PENDING 12034 ms "
              "ago; still owes NmrProviderDetachClientComplete(0x50005)");

    /* a detach callback still running is blocked too */
    l = line_with("0x50009");
    CHECK(strncmp(l, "  !!", 4) == 0);
    CHECK(strstr(l, "halves (client: calling 40 ms, provider: not-started)") != NULL);
    CHECK_HAS("its ClientDetachProvider callback has been running for 40 ms");
    CHECK_EQ(count_of("\n  !!"), 2);
}

static void t_text_empty(void)
{
    nmr_snapshot empty;
    memset(&empty, 0, sizeof(empty));
    CHECK_EQ(render(&empty, NMR_DUMP_TEXT), 0);
    CHECK_HAS("libnmr snapshot at 0.000000000 s");
    CHECK_HAS("registrations: 0 (0 clients, 0 providers; 0 active, 0 deregistering, "
              "0 waiting) in 0 NPIs");
    CHECK_HAS("bindings: 0 (0 offering, 0 attached, 0 detaching)");
    CHECK_HAS("(no registrations)");
    CHECK_LACKS("!!");
    CHECK_LACKS("NPI {");
}

/* ---- JSON ----------------------------------------------------------------- */

static void t_json(void)
{
    build();
    CHECK_EQ(render(&g_snap, NMR_DUMP_JSON), 0);
    CHECK(g_out[0] == '{');
    CHECK(g_out[g_len - 2] == '}' && g_out[g_len - 1] == '\n');
    CHECK_HAS("\"schema_version\": 1,");
    CHECK_HAS("\"format\": \"libnmr-snapshot\"");
    CHECK_HAS("\"time_ns\": 5025123456789,");
    CHECK_HAS("\"counts\": {\"registrations\": 5, \"clients\": 3, \"providers\": 2, "
              "\"active\": 3, \"deregistering\": 1, \"waiting\": 1, \"bindings\": 4, "
              "\"offering\": 1, \"attached\": 1, \"detaching\": 2, \"blocked\": 2}");
    /* registrations in snapshot order, with their index */
    const char *l = line_with("\"index\": 1, \"handle\": \"0x10008\"");
    CHECK(strstr(l, "\"role\": \"provider\"") != NULL);
    CHECK(strstr(l, "\"state\": \"active\"") != NULL);
    CHECK(strstr(l, "\"npi_id\": \"{11111111-2222-4E5F-8001-0203040506AB}\"") != NULL);
    CHECK(strstr(l, "\"module_id\": \"luid:0x00000000:0x00000007\"") != NULL);
    CHECK(strstr(l, "\"module_id_type\": \"luid\"") != NULL);
    CHECK(strstr(l, "\"number\": 1,") != NULL);
    CHECK(strstr(l, "\"bindings\": 3,") != NULL);
    CHECK(strstr(l, "\"context\": \"0x7f3a10000100\"") != NULL);
    CHECK(strstr(l, "\"characteristics\": \"0x7f3a20000100\"") != NULL);
    CHECK(strstr(l, "\"attach\": \"0x7f3a30001000\", \"detach\": \"0x7f3a30002000\", "
                    "\"cleanup\": \"0x7f3a30003000\"") != NULL);
    l = line_with("\"index\": 0, \"handle\": \"0x10004\"");
    CHECK(strstr(l, "\"cleanup\": \"0x0\"") != NULL);
    CHECK(strstr(l, "\"module_id_type\": \"guid\"") != NULL);
    CHECK(strstr(line_with("\"handle\": \"0x2000c\""), "\"state\": \"waiting\"") != NULL);

    /* the stuck binding refers to its registrations by index */
    l = line_with("\"handle\": \"0x50005\"");
    CHECK(strstr(l, "\"index\": 1,") != NULL);
    CHECK(strstr(l, "\"client\": 2, \"provider\": 1,") != NULL);
    CHECK(strstr(l, "\"state\": \"detaching\", \"detaching_ms\": 12034") != NULL);
    CHECK(strstr(l, "\"halves\": {\"client\": {\"state\": \"complete\", \"pending_ms\": "
                    "12035}, \"provider\": {\"state\": \"pending\", \"pending_ms\": "
                    "12034}}") != NULL);
    CHECK(strstr(l, "\"blocked\": true") != NULL);
    l = line_with("\"handle\": \"0x50001\"");
    CHECK(strstr(l, "\"blocked\": false") != NULL);
    CHECK(strstr(l, "\"state\": \"attached\"") != NULL);
    CHECK(strstr(line_with("\"handle\": \"0x50009\""), "\"state\": \"calling\"") != NULL);
    CHECK(strstr(line_with("\"handle\": \"0x5000d\""), "\"state\": \"offering\"") != NULL);
    /* balanced brackets, no trailing commas */
    int depth = 0;
    for (size_t i = 0; i < g_len; i++) {
        if (g_out[i] == '{' || g_out[i] == '[')
            depth++;
        if (g_out[i] == '}' || g_out[i] == ']')
            depth--;
        CHECK(depth >= 0);
    }
    CHECK_EQ(depth, 0);
    CHECK_LACKS(",\n  ]");
    CHECK_LACKS(",}");
    CHECK_LACKS(", }");
}

static void t_json_empty(void)
{
    nmr_snapshot empty;
    memset(&empty, 0, sizeof(empty));
    CHECK_EQ(render(&empty, NMR_DUMP_JSON), 0);
    CHECK_HAS("\"registrations\": [],");
    CHECK_HAS("\"bindings\": []\n}");
    CHECK_HAS("\"blocked\": 0}");
}

/* ---- escaping -------------------------------------------------------------- */

static void t_escaping(void)
{
    free(g_out);
    g_out = NULL;
    FILE *f = open_memstream(&g_out, &g_len);
    CHECK(f != NULL);
    nmr_dump_json_string(f, "a\"b\\c/d\n\t\r\b\f\x01\x1f\x7f \xc3\xa9");
    CHECK(fclose(f) == 0);
    CHECK(strcmp(g_out, "\"a\\\"b\\\\c/d\\n\\t\\r\\b\\f\\u0001\\u001f\\u007f \xc3\xa9\"") == 0);

    free(g_out);
    g_out = NULL;
    f = open_memstream(&g_out, &g_len);
    CHECK(f != NULL);
    nmr_dump_json_string(f, "");
    CHECK(fclose(f) == 0);
    CHECK(strcmp(g_out, "\"\"") == 0);

    free(g_out);
    g_out = NULL;
    f = open_memstream(&g_out, &g_len);
    CHECK(f != NULL);
    nmr_dump_dot_string(f, "say \"hi\" \\N\nnext\x01{x}|<y>");
    CHECK(fclose(f) == 0);
    CHECK(strcmp(g_out, "say \\\"hi\\\" \\\\N\\nnext {x}|<y>") == 0);
}

/* ---- DOT ------------------------------------------------------------------ */

static void t_dot(void)
{
    build();
    CHECK_EQ(render(&g_snap, NMR_DUMP_DOT), 0);
    CHECK(strncmp(g_out, "digraph nmr {\n", 14) == 0);
    CHECK(g_out[g_len - 2] == '}' && g_out[g_len - 1] == '\n');
    /* one cluster per NPI, one node per registration */
    CHECK_EQ(count_of("subgraph cluster_npi"), 2);
    CHECK_HAS("label=\"NPI {11111111-2222-4E5F-8001-0203040506AB}\"");
    const char *l = line_with("    r1 [");
    CHECK(strstr(l, "shape=ellipse") != NULL);
    CHECK(strstr(l, "label=\"provider #1\\nluid:0x00000000:0x00000007\\nNPI "
                    "{11111111-2222-4E5F-8001-0203040506AB}\\nnumber 1, active\\n0x10008\"") != NULL);
    l = line_with("    r2 [");
    CHECK(strstr(l, "shape=box") != NULL);
    CHECK(strstr(l, "lightyellow") != NULL); /* waiting */
    CHECK(strstr(line_with("    r3 ["), "style=dashed") != NULL); /* deregistering */
    /* r3 is in the second cluster, after r2 */
    CHECK(strstr(g_out, "subgraph cluster_npi1") < strstr(g_out, "    r3 ["));
    CHECK(strstr(g_out, "    r2 [") < strstr(g_out, "subgraph cluster_npi1"));
    /* edges client -> provider, coloured by state */
    l = line_with("r0 -> r1 [color=\"forestgreen\"");
    CHECK(strstr(l, "0x50001 attached") != NULL);
    l = line_with("r0 -> r1 [color=\"royalblue\"");
    CHECK(strstr(l, "0x5000d offering") != NULL);
    l = line_with("r2 -> r1 [");
    CHECK(strstr(l, "color=\"red\"") != NULL);
    CHECK(strstr(l, "style=bold") != NULL);
    CHECK(strstr(l, "0x50005 detaching 12034 ms\\nclient: complete\\nprovider: pending "
                    "12034 ms") != NULL);
    l = line_with("r4 -> r3 [");
    CHECK(strstr(l, "color=\"red\"") != NULL);
    CHECK(strstr(l, "client: calling 40 ms\\nprovider: not-started") != NULL);
    /* the legend shows each edge style and the node shapes */
    CHECK_HAS("subgraph cluster_legend");
    CHECK_EQ(count_of("legend_a"), 4 * 2);
    CHECK_HAS("label=\"offering");
    CHECK_HAS("label=\"attached\"");
    CHECK_HAS("label=\"detaching\"");
    CHECK_HAS("label=\"detaching, blocked");
    CHECK_HAS("legend_client [shape=box");
    CHECK_HAS("legend_provider [shape=ellipse");
    /* balanced braces */
    CHECK_EQ(count_of("{\n"), count_of("}\n"));
}

static void t_dot_empty(void)
{
    nmr_snapshot empty;
    memset(&empty, 0, sizeof(empty));
    CHECK_EQ(render(&empty, NMR_DUMP_DOT), 0);
    CHECK_HAS("digraph nmr {");
    CHECK_HAS("0 registrations in 0 NPIs, 0 bindings");
    CHECK_LACKS("cluster_npi");
    CHECK_LACKS(" -> r");
    CHECK_HAS("subgraph cluster_legend");
}

/* ---- errors --------------------------------------------------------------- */

static void expect_einval(const nmr_snapshot *s, int fmt)
{
    errno = 0;
    CHECK_EQ(render(s, (nmr_dump_format)fmt), -1);
    CHECK_EQ(errno, EINVAL);
    CHECK_EQ(g_len, 0); /* nothing written */
}

static void t_bad_arguments(void)
{
    build();
    expect_einval(NULL, NMR_DUMP_TEXT);
    expect_einval(&g_snap, 3);
    expect_einval(&g_snap, -1);
    errno = 0;
    CHECK_EQ(nmr_snapshot_write(&g_snap, NMR_DUMP_JSON, NULL), -1);
    CHECK_EQ(errno, EINVAL);

    /* inconsistent snapshots are refused before anything is written */
    for (int fmt = 0; fmt < 3; fmt++) {
        build();
        g_binds[1].client = 5; /* out of range */
        expect_einval(&g_snap, fmt);
        build();
        g_binds[1].provider = 99;
        expect_einval(&g_snap, fmt);
        build();
        g_binds[0].client = 1; /* a provider as the client */
        expect_einval(&g_snap, fmt);
        build();
        g_binds[0].provider = 4; /* a client of another NPI */
        expect_einval(&g_snap, fmt);
        build();
        g_binds[2].provider = 1; /* a provider of another NPI */
        expect_einval(&g_snap, fmt);
        build();
        g_regs[2].role = (nmr_role)2;
        expect_einval(&g_snap, fmt);
        build();
        g_regs[2].state = (nmr_registration_state)3;
        expect_einval(&g_snap, fmt);
        build();
        g_binds[3].state = (nmr_binding_state_info)3;
        expect_einval(&g_snap, fmt);
        build();
        g_binds[3].half[1] = (nmr_half_info)4;
        expect_einval(&g_snap, fmt);
        build();
        g_snap.registrations = NULL;
        expect_einval(&g_snap, fmt);
        build();
        g_snap.bindings = NULL;
        expect_einval(&g_snap, fmt);
    }
    /* but no bindings and no array is fine */
    build();
    g_snap.nbindings = 0;
    g_snap.bindings = NULL;
    CHECK_EQ(render(&g_snap, NMR_DUMP_TEXT), 0);
}

static void t_write_failure(void)
{
    build();
    for (int fmt = 0; fmt < 3; fmt++) {
        /* a stream open for reading only */
        FILE *f = fopen("/dev/null", "r");
        CHECK(f != NULL);
        errno = 0;
        CHECK_EQ(nmr_snapshot_write(&g_snap, (nmr_dump_format)fmt, f), -1);
        CHECK(errno != 0);
        fclose(f);

        /* a memory stream too small: the failure may appear only at the
         * flush, which nmr_snapshot_write does */
        char buf[64];
        f = fmemopen(buf, sizeof(buf), "w");
        CHECK(f != NULL);
        errno = 0;
        CHECK_EQ(nmr_snapshot_write(&g_snap, (nmr_dump_format)fmt, f), -1);
        CHECK(errno != 0);
        fclose(f);

        /* and the empty snapshot too, with room for only a few bytes */
        nmr_snapshot empty;
        memset(&empty, 0, sizeof(empty));
        f = fmemopen(buf, 8, "w");
        CHECK(f != NULL);
        CHECK_EQ(nmr_snapshot_write(&empty, (nmr_dump_format)fmt, f), -1);
        fclose(f);
    }
}

/* The text and DOT renderings sort registrations in one allocation, made
 * through alloc.c: its failure is ENOMEM, with nothing written. */
static void t_alloc_failure(void)
{
    build();
    long live = nmr_alloc_live();
    for (int fmt = 0; fmt < 3; fmt++) {
        nmr_alloc_fail_at(1);
        int rc = render(&g_snap, (nmr_dump_format)fmt);
        if (fmt == NMR_DUMP_JSON) {
            CHECK_EQ(rc, 0); /* JSON does not allocate */
            CHECK(nmr_alloc_fail_remaining() == 1);
            nmr_alloc_fail_at(0);
        } else {
            CHECK_EQ(rc, -1);
            CHECK_EQ(errno, ENOMEM);
            CHECK_EQ(g_len, 0);
        }
    }
    CHECK_EQ(nmr_alloc_live(), live);
    for (int fmt = 0; fmt < 3; fmt++)
        CHECK_EQ(render(&g_snap, (nmr_dump_format)fmt), 0);
    CHECK_EQ(nmr_alloc_live(), live);
}

/* Many registrations in shuffled NPI order: grouped, each NPI once. */
static void t_many(void)
{
    enum { N = 600, NPIS = 37 };
    static nmr_registration_info regs[N];
    memset(regs, 0, sizeof(regs));
    for (size_t i = 0; i < N; i++) {
        size_t k = (i * 7919u) % NPIS;
        regs[i].handle = H(0x1000 + 4 * i);
        regs[i].role = (i % 2) ? NMR_ROLE_PROVIDER : NMR_ROLE_CLIENT;
        regs[i].npi_id = guid((uint32_t)(0xA0000000u + k * 0x01010101u), (uint16_t)k);
        regs[i].module_id = mod_guid((uint32_t)i);
    }
    nmr_snapshot s;
    memset(&s, 0, sizeof(s));
    s.nregistrations = N;
    s.registrations = regs;
    CHECK_EQ(render(&s, NMR_DUMP_TEXT), 0);
    CHECK_EQ(count_of("\nNPI {"), NPIS);
    CHECK_HAS("in 37 NPIs");
    /* within an NPI, snapshot order; NPIs in GUID order */
    char prev[64] = "";
    for (const char *p = g_out; (p = strstr(p, "\nNPI {")) != NULL; p++) {
        char cur[64];
        memcpy(cur, p + 5, 38);
        cur[38] = 0;
        CHECK(strcmp(prev, cur) < 0);
        memcpy(prev, cur, sizeof(cur));
    }
    CHECK_EQ(render(&s, NMR_DUMP_DOT), 0);
    CHECK_EQ(count_of("subgraph cluster_npi"), NPIS);
    CHECK_EQ(count_of("    r"), N);
}

/* ---- files for the script tests ------------------------------------------- */

static void write_file(const char *dir, const char *name, const nmr_snapshot *s,
                       nmr_dump_format fmt)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    CHECK_EQ(nmr_snapshot_write(s, fmt, f), 0);
    CHECK(fclose(f) == 0);
    fprintf(stderr, "wrote %s\n", path);
}

static void write_outputs(const char *dir)
{
    nmr_snapshot empty;
    memset(&empty, 0, sizeof(empty));
    build();
    write_file(dir, "snapshot.txt", &g_snap, NMR_DUMP_TEXT);
    write_file(dir, "snapshot.json", &g_snap, NMR_DUMP_JSON);
    write_file(dir, "snapshot.dot", &g_snap, NMR_DUMP_DOT);
    write_file(dir, "empty.txt", &empty, NMR_DUMP_TEXT);
    write_file(dir, "empty.json", &empty, NMR_DUMP_JSON);
    write_file(dir, "empty.dot", &empty, NMR_DUMP_DOT);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static void teardown(void)
{
    free(g_out);
    g_out = NULL;
}


static const nmr_test_case cases[] = {
    CASE(t_names, ""),
    CASE(t_module_id_format, ""),
    CASE(t_text, ""),
    CASE(t_text_empty, ""),
    CASE(t_json, ""),
    CASE(t_json_empty, ""),
    CASE(t_escaping, ""),
    CASE(t_dot, ""),
    CASE(t_dot_empty, ""),
    CASE(t_bad_arguments, ""),
    CASE(t_write_failure, ""),
    CASE(t_alloc_failure, ""),
    CASE(t_many, ""),
};

/* test_dump DIR: every case in this process, then the renderings of the
 * hand-built snapshot written to DIR (tests/scripts/snapshot_*.sh). */
static int write_mode(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        nmr_test_run_inline(&cases[i]);
    write_outputs(argv[1]);
    free(g_out);
    g_out = NULL;
    return 0;
}

NMR_TEST_SUITE(test_dump, cases, NULL, teardown, write_mode);
