/* acl/acl.h -- entry header of moeroute's CANN-compatible runtime (what CANN samples include). */
#ifndef MOEROUTE_ACL_ACL_H
#define MOEROUTE_ACL_ACL_H

#include "acl/acl_base.h"
#include "acl/acl_rt.h"

#endif /* MOEROUTE_ACL_ACL_H */
