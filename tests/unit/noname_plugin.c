/*
 * A plugin with the right ABI version but an empty name: the gateway must refuse it.
 */
#include "plugin.h"

const sg_plugin_t sg_plugin_descriptor = {
    .abi_version = SG_PLUGIN_ABI_VERSION,
    .name = "",
};
