/*
 * An ABI 2 plugin that forgot descriptor_size: the gateway cannot know where its descriptor ends and refuses it.
 */
#include "plugin.h"

const sg_plugin_t sg_plugin_descriptor = {
    .abi_version = 2,
    .name = "zero-size",
};
