#include <isa-l/erasure_code.h>
#include <isa-l/crc.h>

/* syncfs(2) is a GNU extension the Glibc module does not declare; glibc exports it. */
extern int syncfs(int fd);

/* sync_file_range(2), also GNU-only in glibc's headers: starts writeback of a file range without waiting. */
#include <stdint.h>
extern int sync_file_range(int fd, int64_t offset, int64_t nbytes, unsigned int flags);
#define INOS_SYNC_FILE_RANGE_WRITE 2u
