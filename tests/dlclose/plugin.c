/* SPDX-License-Identifier: MIT */
/*
 * plugin.c - a plugin that uses libnmr, for test_dlclose (R33).  Built
 * twice: linked to libnmr.so, and with libnmr.a inside it.  plugin_use()
 * makes libnmr set up every piece of per-thread state it keeps (handle
 * slot cache, allocation counters, rundown thread slot) on the calling
 * thread.
 */
#include "../lib/chars.h"

#include <netioddk.h>
#include <nmr/rundown.h>

int plugin_use(void);




__attribute__((visibility("default"))) int plugin_use(void)
{
    static const NPIID npi = {0x7e800001u, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}};
    static const NPI_MODULEID mod = {sizeof(NPI_MODULEID), MIT_GUID, {{0}}};
    NPI_CLIENT_CHARACTERISTICS cc;
    NPI_PROVIDER_CHARACTERISTICS pc;
    test_callbacks cb = {test_client_attach, test_detach_success, NULL, test_provider_accept, test_detach_success, NULL};
    test_chars_init(&cc, &pc, &npi, &mod, &mod, &cb);
    HANDLE c, p;
    int ok = NmrRegisterProvider(&pc, NULL, &p) == STATUS_SUCCESS &&
             NmrRegisterClient(&cc, NULL, &c) == STATUS_SUCCESS &&
             NmrDeregisterClient(c) == STATUS_PENDING &&
             NmrWaitForClientDeregisterComplete(c) == STATUS_SUCCESS &&
             NmrDeregisterProvider(p) == STATUS_PENDING &&
             NmrWaitForProviderDeregisterComplete(p) == STATUS_SUCCESS;
    PEX_RUNDOWN_REF_CACHE_AWARE r = ExAllocateCacheAwareRundownProtection(NonPagedPool, 0);
    if (r == NULL)
        return 0;
    ok = ok && ExAcquireRundownProtectionCacheAware(r);
    if (ok)
        ExReleaseRundownProtectionCacheAware(r);
    ExWaitForRundownProtectionReleaseCacheAware(r);
    ExFreeCacheAwareRundownProtection(r);
    return ok;
}
