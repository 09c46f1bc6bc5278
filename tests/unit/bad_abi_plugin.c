/*
 * A plugin built for a future plugin ABI: the gateway must refuse to load it.
 */
#include "plugin.h"

const sg_plugin_t sg_plugin_descriptor = {
    .abi_version = SG_PLUGIN_ABI_VERSION + 1,
    .name = "bad-abi",
};
