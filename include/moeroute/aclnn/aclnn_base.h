/* aclnn/aclnn_base.h -- aclnn library initialization (no-ops on moeroute that only validate). */
#ifndef MOEROUTE_ACLNN_ACLNN_BASE_H
#define MOEROUTE_ACLNN_ACLNN_BASE_H

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnInit(const char *configPath);
ACL_FUNC_VISIBILITY aclnnStatus aclnnFinalize(void);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNN_ACLNN_BASE_H */
