#include <isa-l/erasure_code.h>
#include <isa-l/crc.h>

/* syncfs(2) is a GNU extension the Glibc module does not declare; glibc exports it. */
extern int syncfs(int fd);
