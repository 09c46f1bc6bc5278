/*
 * The table of error codes (errors.h).
 */
#include <string.h>
#include "util/errors.h"

const sg_error_def_t sg_errors[SG_ERR_NUM] = {
#define SG_ERRORS_DEF(name, code, status, message) [SG_ERR_##name] = {code, status, message},
    SG_ERRORS(SG_ERRORS_DEF)
#undef SG_ERRORS_DEF
};

const sg_error_def_t *sg_error_find(const char *code)
{
    for (size_t i = 0; i != SG_ERR_NUM; ++i)
        if (strcmp(sg_errors[i].code, code) == 0)
            return sg_errors + i;
    return NULL;
}
