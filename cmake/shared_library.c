/* shared_library.c: the shared plan libraries are the static library's
 * objects linked whole (cmake/MiddenPackaging.cmake); CMake needs one source
 * of their own to make the target. */
typedef int mdn_shared_library_unused;
