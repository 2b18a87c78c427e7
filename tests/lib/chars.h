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

#endif
