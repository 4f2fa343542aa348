// CLibvirt: the libvirt C API (Debian libvirt-dev, libvirt 9) for Swift. Only the Hypervisor module
// imports it; everything else sees typed Swift values.
// What lives here is only what Swift cannot import by itself.
#ifndef TANDEM_CLIBVIRT_SHIM_H
#define TANDEM_CLIBVIRT_SHIM_H

#include <stddef.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/// `virConnectDomainEventRegisterAny` for VIR_DOMAIN_EVENT_ID_LIFECYCLE on every domain. The API
/// takes a generic callback that must be cast with the VIR_DOMAIN_EVENT_CALLBACK macro, which
/// Swift cannot import; the cast lives here, typed to the lifecycle callback it really is.
static inline int tandem_virConnectDomainEventRegisterLifecycle(virConnectPtr conn,
                                                                virConnectDomainEventCallback cb,
                                                                void *opaque, virFreeCallback freecb) {
    return virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                            VIR_DOMAIN_EVENT_CALLBACK(cb), opaque, freecb);
}

#endif
