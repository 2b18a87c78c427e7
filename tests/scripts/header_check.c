/* SPDX-License-Identifier: MIT */
/*
 * header_check.c - uses every name the public headers declare, in a way
 * that compiles unchanged as C11 and as C++11, and checks the Windows
 * sizes and values at compile time.  Built by header_compile.sh on its own
 * and included by header_coexist.c / header_ntdef.c after their own
 * definitions of the Windows types.  Linked against libnmr, so a missing
 * extern "C" shows up as an undefined (mangled) symbol.
 */
#include <netioddk.h>
#include <nmr/diag.h>
#include <nmr/version.h>
#include <netioddk.h> /* the include guards hold */
#include <nmr/diag.h>
#include <nmr/version.h>

#include <stddef.h>

#ifdef __cplusplus
#define CHECK_CT(cond) static_assert(cond, #cond)
#else
#define CHECK_CT(cond) _Static_assert(cond, #cond)
#endif

/* docs/rules.md section 2: LLP64 sizes on every platform, exact NT values. */
CHECK_CT(sizeof(USHORT) == 2);
CHECK_CT(sizeof(ULONG) == 4);
CHECK_CT(sizeof(LONG) == 4);
CHECK_CT(sizeof(NTSTATUS) == 4);
CHECK_CT(sizeof(HANDLE) == sizeof(void *));
CHECK_CT(sizeof(GUID) == 16);
CHECK_CT(sizeof(LUID) == 8);
CHECK_CT(sizeof(NPIID) == 16);
CHECK_CT(MIT_GUID == 1 && MIT_IF_LUID == 2);
CHECK_CT((uint32_t)STATUS_SUCCESS == 0x00000000u);
CHECK_CT((uint32_t)STATUS_PENDING == 0x00000103u);
CHECK_CT((uint32_t)STATUS_NOINTERFACE == 0xC00002B9u);
CHECK_CT((uint32_t)STATUS_INSUFFICIENT_RESOURCES == 0xC000009Au);
CHECK_CT((uint32_t)STATUS_INVALID_PARAMETER == 0xC000000Du);
CHECK_CT((uint32_t)STATUS_INVALID_DEVICE_STATE == 0xC0000184u);
CHECK_CT((uint32_t)STATUS_POSSIBLE_DEADLOCK == 0xC0000194u);
CHECK_CT(NT_SUCCESS(STATUS_SUCCESS) && NT_SUCCESS(STATUS_PENDING));
CHECK_CT(!NT_SUCCESS(STATUS_NOINTERFACE));
CHECK_CT(offsetof(NPI_MODULEID, Guid) == offsetof(NPI_MODULEID, IfLuid));
/* <nmr/version.h>: integer constants, usable in #if. */
#if NMR_VERSION_MAJOR < 0 || NMR_VERSION_MINOR < 0 || NMR_VERSION_PATCH < 0
#error "NMR_VERSION_* are not non-negative integers"
#endif
CHECK_CT(sizeof(NMR_VERSION_STRING) >= sizeof("0.0.0"));

/* Callbacks declared through the Windows function typedefs. */
static NPI_CLIENT_ATTACH_PROVIDER_FN client_attach;
static NPI_CLIENT_DETACH_PROVIDER_FN client_detach;
static NPI_CLIENT_CLEANUP_BINDING_CONTEXT_FN client_cleanup;
static NPI_PROVIDER_ATTACH_CLIENT_FN provider_attach;
static NPI_PROVIDER_DETACH_CLIENT_FN provider_detach;
static NPI_PROVIDER_CLEANUP_BINDING_CONTEXT_FN provider_cleanup;

static NTSTATUS client_attach(HANDLE binding, PVOID ctx,
                              PNPI_REGISTRATION_INSTANCE provider)
{
    PVOID pctx = NULL;
    const VOID *pdisp = NULL;
    (void)ctx;
    (void)provider;
    return NmrClientAttachProvider(binding, NULL, NULL, &pctx, &pdisp);
}
static NTSTATUS client_detach(PVOID ctx) { (void)ctx; return STATUS_SUCCESS; }
static VOID client_cleanup(PVOID ctx) { (void)ctx; }
static NTSTATUS provider_attach(HANDLE binding, PVOID ctx,
                                PNPI_REGISTRATION_INSTANCE client,
                                PVOID cctx, const VOID *cdisp, PVOID *pctx,
                                const VOID **pdisp)
{
    (void)binding; (void)ctx; (void)client; (void)cctx; (void)cdisp;
    *pctx = NULL;
    *pdisp = NULL;
    return STATUS_SUCCESS;
}
static NTSTATUS provider_detach(PVOID ctx) { (void)ctx; return STATUS_SUCCESS; }
static VOID provider_cleanup(PVOID ctx) { (void)ctx; }

/* Aggregates filled the way Windows code fills them (no designators,
 * which C++11 lacks). */
static const NPIID npi_id = { 0x12345678, 0x9abc, 0xdef0,
                              { 1, 2, 3, 4, 5, 6, 7, 8 } };
static const NPI_MODULEID module_id = {
    sizeof(NPI_MODULEID), MIT_GUID,
    { { 1, 2, 3, { 4, 5, 6, 7, 8, 9, 10, 11 } } }
};
static const NPI_CLIENT_CHARACTERISTICS client_chars = {
    0, sizeof(NPI_CLIENT_CHARACTERISTICS),
    client_attach, client_detach, client_cleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &npi_id, &module_id, 0, NULL }
};
static const NPI_PROVIDER_CHARACTERISTICS provider_chars = {
    0, sizeof(NPI_PROVIDER_CHARACTERISTICS),
    provider_attach, provider_detach, provider_cleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &npi_id, &module_id, 0, NULL }
};

/* The P* forms point to const, as in the Windows headers. */
static PNPI_CLIENT_CHARACTERISTICS pcc = &client_chars;
static PNPI_PROVIDER_CHARACTERISTICS ppc = &provider_chars;
static PNPI_REGISTRATION_INSTANCE pri =
    &client_chars.ClientRegistrationInstance;
static PNPI_MODULEID pmi = &module_id;
static PNPIID pid = &npi_id;

/* The exact prototypes of docs/rules.md section 3. */
static NTSTATUS (*f_reg_provider)(PNPI_PROVIDER_CHARACTERISTICS, PVOID,
                                        PHANDLE) = NmrRegisterProvider;
static NTSTATUS (*f_dereg_provider)(HANDLE) = NmrDeregisterProvider;
static NTSTATUS (*f_wait_provider)(HANDLE) =
    NmrWaitForProviderDeregisterComplete;
static VOID (*f_provider_done)(HANDLE) = NmrProviderDetachClientComplete;
static NTSTATUS (*f_reg_client)(PNPI_CLIENT_CHARACTERISTICS, PVOID,
                                      PHANDLE) = NmrRegisterClient;
static NTSTATUS (*f_dereg_client)(HANDLE) = NmrDeregisterClient;
static NTSTATUS (*f_wait_client)(HANDLE) =
    NmrWaitForClientDeregisterComplete;
static NTSTATUS (*f_attach)(HANDLE, PVOID, const VOID *, PVOID *,
                                  const VOID **) = NmrClientAttachProvider;
static VOID (*f_client_done)(HANDLE) = NmrClientDetachProviderComplete;
static nmr_misuse_hook_fn *(*f_set_hook)(nmr_misuse_hook_fn *, void *,
                                               void **) = nmr_diag_set_hook;
static unsigned long long (*f_count)(void) = nmr_diag_misuse_count;
static int (*f_strict)(int) = nmr_diag_set_strict;
static const char *(*f_version)(void) = nmr_version;

int main(void)
{
    NPI npi = { NULL, NULL };
    LUID luid = { 1, 2 };
    nmr_misuse_kind kind = NMR_MISUSE_BAD_HANDLE;

    /* Reference everything, so the link needs every function. */
    return !(f_reg_provider && f_dereg_provider && f_wait_provider &&
             f_provider_done && f_reg_client && f_dereg_client &&
             f_wait_client && f_attach && f_client_done && f_set_hook &&
             f_count && f_strict && f_version && pcc && ppc && pri && pmi && pid &&
             npi.Handle == NULL && luid.HighPart == 2 &&
             kind == NMR_MISUSE_BAD_HANDLE);
}
