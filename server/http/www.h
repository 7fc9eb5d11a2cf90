/*
 * www.h -- the dashboard's files, built into dynamod: the table that
 * tools/embed-www generates (build dir: server/http/www.c) from the files
 * of server/http/www/ (index.html, style.css, the ES modules).
 *
 * Why embedded: a node serves its own page (GET /, GET /ui/<name>, in
 * http.c) with nothing beside the binary to install, find or keep in step
 * with it, and nothing read from the filesystem at request time.  The
 * table is data only (no code, no includes beyond libc): it sits in the
 * pure layer, under http.c, which looks a name up in it.
 *
 * Invariants: names are file names without a directory, unique; bytes[len]
 * is a NUL that is not part of the file.  Thread-safety: read-only.
 */
#ifndef DYN_WWW_H
#define DYN_WWW_H

#include <stddef.h>

struct www_file {
    const char *name;           /* "app.js" */
    const char *type;           /* Content-Type */
    const unsigned char *bytes;
    size_t len;
};

extern const struct www_file www_files[];
extern const size_t www_nfiles;

#endif
