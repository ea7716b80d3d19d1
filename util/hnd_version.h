/* hnd_version.h: the one version string (hnd version, export manifests). */
#ifndef HND_VERSION_H
#define HND_VERSION_H
#ifndef HND_VERSION
#define HND_VERSION "0.2.0"
#endif
#endif
