// Symbol visibility for the shared library: everything is hidden unless marked.
#pragma once

#if defined(_WIN32)
#define TOPICSWARM_API
#else
#define TOPICSWARM_API __attribute__((visibility("default")))
#endif
