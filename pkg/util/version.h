/* version.h - the build's version string, set by the Makefile from git. */
#ifndef LB_UTIL_VERSION_H
#define LB_UTIL_VERSION_H

#ifndef LIFEBOAT_VERSION
#define LIFEBOAT_VERSION "0.0.0-dev"
#endif

#endif
