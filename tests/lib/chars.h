/* SPDX-License-Identifier: MIT */
/*
 * chars.h - the characteristics of one client and one provider of an NPI,
 * for the tests that write their own callbacks instead of using the fake
 * modules of tests/lib/fixture.h.  Header-only.
 */
#ifndef NMR_TEST_CHARS_H
#define NMR_TEST_CHARS_H

#include <netioddk.h>
#include <string.h>

typedef struct test_callbacks {
    NPI_CLIENT_ATTACH_PROVIDER_FN *client_attach;
    NPI_CLIENT_DETACH_PROVIDER_FN *client_detach;
    NPI_CLIENT_CLEANUP_BINDING_CONTEXT_FN *client_cleanup;     /* may be NULL */
    NPI_PROVIDER_ATTACH_CLIENT_FN *provider_attach;
    NPI_PROVIDER_DETACH_CLIENT_FN *provider_detach;
    NPI_PROVIDER_CLEANUP_BINDING_CONTEXT_FN *provider_cleanup; /* may be NULL */
} test_callbacks;

/* Valid characteristics (Version 0, full Length and Size, Number 0) of a
 * client (module cmod) and a provider (module pmod) of npi. */
static inline void test_chars_init(NPI_CLIENT_CHARACTERISTICS *cc,
                                   NPI_PROVIDER_CHARACTERISTICS *pc, const NPIID *npi,
                                   const NPI_MODULEID *cmod, const NPI_MODULEID *pmod,
                                   const test_callbacks *cb)
{
    memset(cc, 0, sizeof(*cc));
    cc->Length = sizeof(*cc);
    cc->ClientAttachProvider = cb->client_attach;
    cc->ClientDetachProvider = cb->client_detach;
    cc->ClientCleanupBindingContext = cb->client_cleanup;
    cc->ClientRegistrationInstance.Size = sizeof(NPI_REGISTRATION_INSTANCE);
    cc->ClientRegistrationInstance.NpiId = npi;
    cc->ClientRegistrationInstance.ModuleId = cmod;
    memset(pc, 0, sizeof(*pc));
    pc->Length = sizeof(*pc);
    pc->ProviderAttachClient = cb->provider_attach;
    pc->ProviderDetachClient = cb->provider_detach;
    pc->ProviderCleanupBindingContext = cb->provider_cleanup;
    pc->ProviderRegistrationInstance.Size = sizeof(NPI_REGISTRATION_INSTANCE);
    pc->ProviderRegistrationInstance.NpiId = npi;
    pc->ProviderRegistrationInstance.ModuleId = pmod;
}

/* The plainest callbacks, for tests that need a module and no behaviour:
 * a client that declines every offer, one that attaches to every provider
 * (its context as binding context, no dispatch table), a provider that
 * declines, one that accepts (the same), and a detach with nothing in
 * flight. */
static inline NTSTATUS test_client_decline(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE ri)
{
    (void)b; (void)ctx; (void)ri;
    return STATUS_NOINTERFACE;
}
static inline NTSTATUS test_client_attach(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE ri)
{
    PVOID pctx;
    const VOID *pd;
    (void)ri;
    return NmrClientAttachProvider(b, ctx, NULL, &pctx, &pd);
}
static inline NTSTATUS test_provider_decline(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE ri,
                                             PVOID cctx, const VOID *cd, PVOID *pctx,
                                             const VOID **pd)
{
    (void)b; (void)ctx; (void)ri; (void)cctx; (void)cd; (void)pctx; (void)pd;
    return STATUS_NOINTERFACE;
}
static inline NTSTATUS test_provider_accept(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE ri,
                                            PVOID cctx, const VOID *cd, PVOID *pctx,
                                            const VOID **pd)
{
    (void)b; (void)ri; (void)cctx; (void)cd;
    *pctx = ctx;
    *pd = NULL;
    return STATUS_SUCCESS;
}
static inline NTSTATUS test_detach_success(PVOID ctx)
{
    (void)ctx;
    return STATUS_SUCCESS;
}

#endif
