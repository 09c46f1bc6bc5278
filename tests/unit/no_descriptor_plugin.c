/*
 * A shared object that is not a sandgate plugin: it lacks sg_plugin_descriptor.
 */
#include "plugin.h"

const sg_plugin_t sg_plugin_descriptr = {
    .abi_version = SG_PLUGIN_ABI_VERSION,
    .name = "typo",
};

int sg_not_a_plugin(void)
{
    return 42;
}
