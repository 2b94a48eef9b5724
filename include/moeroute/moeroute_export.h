/* moeroute_export.h -- symbol visibility for the moeroute library. Internal symbols are hidden; only
 * functions marked MOEROUTE_API are exported. Define MOEROUTE_STATIC_DEFINE when linking the static
 * library on Windows. */
#ifndef MOEROUTE_EXPORT_H
#define MOEROUTE_EXPORT_H

#if defined(_WIN32) && !defined(MOEROUTE_STATIC_DEFINE)
#  ifdef MOEROUTE_BUILDING
#    define MOEROUTE_API __declspec(dllexport)
#  else
#    define MOEROUTE_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define MOEROUTE_API __attribute__((visibility("default")))
#else
#  define MOEROUTE_API
#endif

#endif /* MOEROUTE_EXPORT_H */
