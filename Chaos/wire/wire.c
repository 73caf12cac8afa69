// SPDX-License-Identifier: Apache-2.0
/*
 * The chaos harness's wire (issue 18, docs/chaos.md): the links between the hosts, a user-space switch with
 * netem's knobs.
 *
 * Every host namespace has one TUN device, whose file descriptor this process keeps. An IPv4 packet a host sends
 * comes out of its TUN here; the switch looks up the destination host by address, decides its fate under the
 * current link model and writes it into the destination's TUN when it is due:
 *
 * - partition: hosts in different groups cannot reach each other; a cut host reaches nobody;
 * - loss: each packet is dropped with the sender's and the receiver's link loss (independently, per packet);
 * - delay: the one-way latency between the two hosts' regions (half their round trip), plus each host's own extra
 *   delay, plus a uniform jitter of ± the larger of the two hosts' jitter (so, as with netem's jitter, packets
 *   may be reordered);
 * - rate: each host's uplink and downlink are serialized at its rate (bits/s), with a bounded queue (a packet
 *   that would wait longer than `queue_seconds` is dropped at the tail, as a router's buffer would).
 *
 * Why a wire at all: the kernels these runs are made on may be built without netem (CONFIG_NET_SCH_NETEM unset,
 * no modules to load), so no qdisc can delay or drop anything. The namespaces, their addresses and every TCP
 * stack are the kernel's own; only the wire between them is emulated. Why C: the wire is on the path of every
 * packet of every host, and it must deliver each one when the model says. The first wire, in Python, fell behind
 * at 30 hosts under churn on 2 cores (25% of 2.56 M packets over 50 ms late, up to 408 ms), and SWIM read that as
 * slow members. This one reads in batches, keeps the due packets in a min-heap, sleeps with a nanosecond timeout
 * (epoll_pwait2, or a timerfd where that is missing) and runs at real-time priority when it may.
 *
 * Usage (started by Chaos/netmesh/mesh.py, which compiles this file on demand):
 *
 *     netmesh-wire PREFIX COUNT [SEED]
 *
 * It creates COUNT TUN devices named PREFIX1…PREFIXn (host i has address 10.77.i/256.i%256 in the harness; the
 * destination host of a packet is the last two bytes of its address), prints one JSON line {"ready": [...]} and
 * then reads commands, one JSON object per line on stdin, answering each with one JSON line on stdout:
 *
 *     {"op": "model", "hosts": {"3": {"region": "eu", "loss": 0.05, "jitter": 0.2, "delay": 0, "rate": 1e7,
 *      "cut": false}}, "latency": {"eu/us": 0.08}, "groups": {"3": 1}, "default_latency": 0.002,
 *      "queue_seconds": 0.25}
 *     {"op": "stats"}
 *     {"op": "quit"}
 *
 * A "model" command replaces only the fields it names ("groups", when present, replaces every host's group:
 * hosts not listed are in group 0). Latency is the round trip between two regions (each direction gets half);
 * a pair not listed has `default_latency` (also a round trip). Seconds everywhere, rates in bits/s (0: no
 * limit). A command is checked whole before any of it applies; anything malformed is answered with
 * {"ok": false, "error": "..."} and the wire keeps running. The wire ends on "quit" or when stdin closes.
 *
 * "stats" answers {"ok": true, "forwarded", "queued" (in flight now), "late_over_50ms", "late_max_ms",
 * "late_over_1ms" (packets delivered that much after their due time: the wire's own fidelity), "dropped_overflow"
 * (past the in-flight cap), "write_errors", "wakeups", "cpu_seconds", "priority", "timer", "hosts": {"<i>":
 * {"sent", "received", "dropped_loss", "dropped_cut", "dropped_queue"}}}; a packet's drops count at its sender.
 *
 * SEED seeds the wire's own random numbers (loss and jitter: xoshiro256**, seeded through splitmix64).
 * NETMESH_WIRE_TIMER=timerfd in the environment forces the timerfd way of sleeping (for tests).
 */
#include <errno.h>
#include <fcntl.h>
#include <features.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_tun.h>

// Bounds: everything the wire holds is capped.
#define MAX_HOSTS 4096                       // devices (and file descriptors)
#define MAX_REGIONS 64                       // distinct region names, "" (no region yet) included
#define MAX_REGION_NAME 63                   // bytes of one region name
#define MAX_PENDING (1u << 20)               // packets in flight; past it a packet is dropped (dropped_queue)
#define MAX_PENDING_BYTES ((size_t)1 << 30)  // their bytes (1 GiB)
#define MAX_PACKET 65535                     // the largest IPv4 packet
#define READ_BATCH 64                        // packets read from one device per wake-up (then the next device)
#define MAX_EVENTS 256
#define MAX_LINE (4u << 20)                  // one command line
#define MAX_JSON_NODES (1u << 18)            // values in one command
#define MAX_JSON_DEPTH 16
#define MAX_SECONDS 3600.0                   // the largest latency, delay, jitter or queue a model may name
#define MAX_RATE 1e12                        // bits/s

#define TOKEN_CONTROL 0u
#define TOKEN_TIMER (MAX_HOSTS + 1u)

static const int64_t NS = 1000000000;

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

static _Noreturn void die(const char *what) {
    fprintf(stderr, "wire: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * NS + t.tv_nsec;
}

static int64_t seconds_to_ns(double seconds) {
    return (int64_t)(seconds * 1e9 + 0.5);  // seconds are checked to be in [0, MAX_SECONDS] (or a rate's bound)
}

typedef struct {
    char *data;
    size_t length, capacity;
} buffer;

static void put_bytes(buffer *b, const char *bytes, size_t length) {
    if (b->length + length + 1 > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 4096;
        while (b->length + length + 1 > capacity) capacity *= 2;
        char *grown = realloc(b->data, capacity);
        if (grown == NULL) die("out of memory");
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->length, bytes, length);
    b->length += length;
    b->data[b->length] = 0;
}

static void put(buffer *b, const char *text) { put_bytes(b, text, strlen(text)); }

static void putf(buffer *b, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void putf(buffer *b, const char *format, ...) {
    char text[256];
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(text, sizeof text, format, arguments);
    va_end(arguments);
    if (length > 0) put_bytes(b, text, (size_t)length < sizeof text ? (size_t)length : sizeof text - 1);
}

// A JSON string: quotes, escapes for what JSON requires, other bytes as they are (names are checked UTF-8).
static void put_string(buffer *b, const char *text, size_t length) {
    put(b, "\"");
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') {
            char escaped[2] = {'\\', (char)c};
            put_bytes(b, escaped, 2);
        } else if (c < 0x20) {
            putf(b, "\\u%04x", c);
        } else {
            put_bytes(b, (const char *)&c, 1);
        }
    }
    put(b, "\"");
}

// One answer: one line on stdout, written whole (the harness reads it before it sends the next command).
static void answer(buffer *b) {
    put(b, "\n");
    size_t done = 0;
    while (done < b->length) {
        ssize_t n = write(STDOUT_FILENO, b->data + done, b->length - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) exit(0);  // the harness is gone: so is the network
        done += (size_t)n;
    }
    b->length = 0;
}

static buffer out;

static void answer_ok(void) {
    put(&out, "{\"ok\": true}");
    answer(&out);
}

static void answer_error(const char *error) {
    put(&out, "{\"ok\": false, \"error\": ");
    put_string(&out, error, strlen(error));
    put(&out, "}");
    answer(&out);
}

// ---------------------------------------------------------------------------------------------------------------
// Random numbers: xoshiro256** (Blackman and Vigna), its state from splitmix64 of the seed.

static uint64_t rng_state[4];

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_random(void) {
    uint64_t *s = rng_state;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static double uniform01(void) { return (double)(next_random() >> 11) * 0x1.0p-53; }  // [0, 1)

// ---------------------------------------------------------------------------------------------------------------
// The link model

typedef struct {
    int fd;
    bool gone;  // the device went away (its namespace was deleted): nothing more is read or written
    char name[IFNAMSIZ];
    int region;
    double loss, jitter, delay, rate;  // probability, seconds, seconds, bits/s (0: no limit)
    bool cut;
    int64_t group;
    int64_t up_free, down_free;  // when the uplink and the downlink are free again (rate limit), ns
    uint64_t sent, received, dropped_loss, dropped_cut, dropped_queue;
} host;

static host hosts[MAX_HOSTS + 1];  // 1-based
static unsigned host_count;

static char region_names[MAX_REGIONS][MAX_REGION_NAME + 1];
static int region_count = 1;  // region 0 is "": a host no model has placed yet
static double latency[MAX_REGIONS][MAX_REGIONS];  // round trips, seconds
static bool latency_set[MAX_REGIONS][MAX_REGIONS];
static double default_latency = 0.0;
static double queue_seconds = 0.25;

static int region_find(const char *name) {
    for (int i = 0; i < region_count; i++)
        if (strcmp(region_names[i], name) == 0) return i;
    return -1;
}

static int region_add(const char *name) {  // the caller checked there is room
    int found = region_find(name);
    if (found >= 0) return found;
    snprintf(region_names[region_count], sizeof region_names[0], "%s", name);
    return region_count++;
}

// The one-way delay of a packet from a to b, ns.
static int64_t one_way(const host *a, const host *b) {
    double rtt = latency_set[a->region][b->region] ? latency[a->region][b->region] : default_latency;
    double spread = a->jitter > b->jitter ? a->jitter : b->jitter;
    double delay = rtt / 2 + a->delay + b->delay;
    if (spread > 0) delay += -spread + 2 * spread * uniform01();
    return delay > 0 ? seconds_to_ns(delay) : 0;
}

// When a packet of `bits` reaching a rate-limited link at `at` (busy until `*free`) has crossed it; false when it
// would wait longer than the tail-drop queue holds.
static bool through(int64_t at, int64_t *free_at, double bits, double rate, int64_t *crossed) {
    int64_t start = at > *free_at ? at : *free_at;
    if ((double)(start - at) > queue_seconds * 1e9) return false;
    *crossed = start + (int64_t)(bits * 1e9 / rate + 0.5);
    *free_at = *crossed;
    return true;
}

// ---------------------------------------------------------------------------------------------------------------
// Packets in flight: a min-heap by due time, ties broken by sequence (so equal times keep their order).

typedef struct {
    int64_t due;
    uint64_t sequence;
    uint8_t *data;
    uint32_t length;
    uint32_t destination;
} pending;

static pending *heap;
static size_t heap_count, heap_capacity;
static size_t pending_bytes;
static uint64_t sequence;
static uint64_t forwarded, late_over_1ms, late_over_50ms, dropped_overflow, write_errors, wakeups;
static int64_t late_max;

static bool before(const pending *a, const pending *b) {
    return a->due < b->due || (a->due == b->due && a->sequence < b->sequence);
}

static bool heap_push(pending item) {
    if (heap_count == heap_capacity) {
        size_t capacity = heap_capacity ? heap_capacity * 2 : 4096;
        if (capacity > MAX_PENDING) capacity = MAX_PENDING;
        if (capacity <= heap_count) return false;
        pending *grown = realloc(heap, capacity * sizeof *heap);
        if (grown == NULL) return false;
        heap = grown;
        heap_capacity = capacity;
    }
    size_t i = heap_count++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&item, &heap[parent])) break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = item;
    return true;
}

static pending heap_pop(void) {
    pending top = heap[0];
    pending last = heap[--heap_count];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= heap_count) break;
        if (child + 1 < heap_count && before(&heap[child + 1], &heap[child])) child++;
        if (!before(&heap[child], &last)) break;
        heap[i] = heap[child];
        i = child;
    }
    if (heap_count > 0) heap[i] = last;
    return top;
}

static void route(host *source, const uint8_t *packet, size_t length, int64_t now) {
    if (length < 20 || packet[0] >> 4 != 4) return;  // IPv6 and anything else: the harness's addresses are IPv4
    unsigned index = (unsigned)packet[18] * 256 + packet[19];
    if (index < 1 || index > host_count) return;
    host *destination = &hosts[index];
    if (destination == source) return;
    source->sent++;
    if (source->cut || destination->cut || source->group != destination->group) {
        source->dropped_cut++;
        return;
    }
    if ((source->loss > 0 && uniform01() < source->loss) ||
        (destination->loss > 0 && uniform01() < destination->loss)) {
        source->dropped_loss++;
        return;
    }
    if (heap_count >= MAX_PENDING || pending_bytes + length > MAX_PENDING_BYTES) {
        source->dropped_queue++;
        dropped_overflow++;
        return;
    }
    double bits = (double)length * 8;
    int64_t leave = now, arrive;
    if (source->rate > 0 && !through(now, &source->up_free, bits, source->rate, &leave)) {
        source->dropped_queue++;
        return;
    }
    arrive = leave + one_way(source, destination);
    if (destination->rate > 0 && !through(arrive, &destination->down_free, bits, destination->rate, &arrive)) {
        source->dropped_queue++;
        return;
    }
    uint8_t *copy = malloc(length);
    pending item = {arrive, ++sequence, copy, (uint32_t)length, index};
    if (copy == NULL || !heap_push(item)) {
        free(copy);
        source->dropped_queue++;
        dropped_overflow++;
        return;
    }
    memcpy(copy, packet, length);
    pending_bytes += length;
}

static void deliver(void) {
    int64_t now = now_ns();
    while (heap_count > 0 && heap[0].due <= now) {
        pending item = heap_pop();
        // The wire's own fidelity: how far behind its schedule it delivers (a starved switch adds delay no link
        // model asked for, and SWIM sees it as a slow member).
        int64_t late = now - item.due;
        if (late > late_max) late_max = late;
        if (late > NS / 1000) late_over_1ms++;
        if (late > NS / 20) late_over_50ms++;
        host *destination = &hosts[item.destination];
        ssize_t written = -1;
        while (!destination->gone) {
            written = write(destination->fd, item.data, item.length);
            if (written >= 0 || errno != EINTR) break;
        }
        if (written == (ssize_t)item.length) {
            destination->received++;
            forwarded++;
        } else {
            write_errors++;  // the device is down (its namespace is being torn down) or full: a lost packet
        }
        pending_bytes -= item.length;
        free(item.data);
        now = now_ns();
    }
}

// ---------------------------------------------------------------------------------------------------------------
// A small, strict JSON parser (RFC 8259: objects, arrays, strings, numbers, true, false, null), in place: strings
// are decoded into the line they came from. The commands then check the shapes they accept.

enum { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT };

typedef struct {
    int type;
    bool boolean;
    double number;
    const char *string;  // NUL-terminated (a string with \u0000 in it is refused)
    size_t length;
    const char *key;     // the member's name, in an object
    int32_t first, next; // children (array or object), siblings; -1 ends
} jnode;

typedef struct {
    char *p, *end;
    jnode *nodes;
    size_t count;
    const char *error;
} jparser;

static jnode json_nodes[MAX_JSON_NODES];

static void skip_space(jparser *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int32_t new_node(jparser *j, int type) {
    if (j->count >= MAX_JSON_NODES) {
        j->error = "too many values in one command";
        return -1;
    }
    jnode *n = &j->nodes[j->count];
    memset(n, 0, sizeof *n);
    n->type = type;
    n->first = n->next = -1;
    return (int32_t)j->count++;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_hex4(jparser *j, unsigned *value) {
    if (j->end - j->p < 4) return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(j->p[i]);
        if (d < 0) return false;
        v = v * 16 + (unsigned)d;
    }
    j->p += 4;
    *value = v;
    return true;
}

// The length of the UTF-8 sequence at p (at most `left` bytes), or 0 when it is not valid UTF-8.
static size_t utf8_length(const unsigned char *p, size_t left) {
    unsigned c = p[0];
    size_t n;
    unsigned minimum, code;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        minimum = 0x80;
        code = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        minimum = 0x800;
        code = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        minimum = 0x10000;
        code = c & 0x07;
    } else {
        return 0;
    }
    if (left < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        code = code << 6 | (p[i] & 0x3f);
    }
    if (code < minimum || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
    return n;
}

// A string at j->p (its opening quote), decoded in place.
static bool parse_string(jparser *j, const char **string, size_t *length) {
    j->p++;
    char *write = j->p;
    const char *start = write;
    for (;;) {
        if (j->p >= j->end) {
            j->error = "unterminated string";
            return false;
        }
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            break;
        }
        if (c < 0x20) {
            j->error = "control character in a string";
            return false;
        }
        if (c != '\\') {
            size_t n = utf8_length((const unsigned char *)j->p, (size_t)(j->end - j->p));
            if (n == 0) {
                j->error = "invalid UTF-8 in a string";
                return false;
            }
            memmove(write, j->p, n);
            write += n;
            j->p += n;
            continue;
        }
        j->p++;
        if (j->p >= j->end) {
            j->error = "unterminated string";
            return false;
        }
        char e = *j->p++;
        switch (e) {
        case '"': *write++ = '"'; break;
        case '\\': *write++ = '\\'; break;
        case '/': *write++ = '/'; break;
        case 'b': *write++ = '\b'; break;
        case 'f': *write++ = '\f'; break;
        case 'n': *write++ = '\n'; break;
        case 'r': *write++ = '\r'; break;
        case 't': *write++ = '\t'; break;
        case 'u': {
            unsigned code;
            if (!read_hex4(j, &code)) {
                j->error = "bad \\u escape";
                return false;
            }
            if (code >= 0xdc00 && code <= 0xdfff) {
                j->error = "lone low surrogate in a string";
                return false;
            }
            if (code >= 0xd800 && code <= 0xdbff) {
                unsigned low;
                if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') {
                    j->error = "lone high surrogate in a string";
                    return false;
                }
                j->p += 2;
                if (!read_hex4(j, &low) || low < 0xdc00 || low > 0xdfff) {
                    j->error = "bad surrogate pair in a string";
                    return false;
                }
                code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
            }
            if (code == 0) {
                j->error = "NUL in a string";
                return false;
            }
            // The UTF-8 bytes (at most 4) are fewer than the escape's (6 or 12): the write stays behind the read.
            if (code < 0x80) {
                *write++ = (char)code;
            } else if (code < 0x800) {
                *write++ = (char)(0xc0 | code >> 6);
                *write++ = (char)(0x80 | (code & 0x3f));
            } else if (code < 0x10000) {
                *write++ = (char)(0xe0 | code >> 12);
                *write++ = (char)(0x80 | (code >> 6 & 0x3f));
                *write++ = (char)(0x80 | (code & 0x3f));
            } else {
                *write++ = (char)(0xf0 | code >> 18);
                *write++ = (char)(0x80 | (code >> 12 & 0x3f));
                *write++ = (char)(0x80 | (code >> 6 & 0x3f));
                *write++ = (char)(0x80 | (code & 0x3f));
            }
            break;
        }
        default:
            j->error = "bad escape in a string";
            return false;
        }
    }
    *length = (size_t)(write - start);
    *write = 0;  // at most over the closing quote, already read
    *string = start;
    return true;
}

static bool parse_number(jparser *j, double *number) {
    char *start = j->p, *p = j->p, *end = j->end;
    if (p < end && *p == '-') p++;
    if (p < end && *p == '0') {
        p++;
    } else if (p < end && *p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') p++;
    } else {
        j->error = "bad number";
        return false;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') {
            j->error = "bad number";
            return false;
        }
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') {
            j->error = "bad number";
            return false;
        }
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    char text[64];
    size_t length = (size_t)(p - start);
    if (length >= sizeof text) {
        j->error = "number too long";
        return false;
    }
    memcpy(text, start, length);
    text[length] = 0;
    double value = strtod(text, NULL);
    if (!(value > -1e300 && value < 1e300)) {  // also refuses what overflowed to infinity
        j->error = "number out of range";
        return false;
    }
    *number = value;
    j->p = p;
    return true;
}

static bool literal(jparser *j, const char *word) {
    size_t length = strlen(word);
    if ((size_t)(j->end - j->p) < length || memcmp(j->p, word, length) != 0) {
        j->error = "unexpected character";
        return false;
    }
    j->p += length;
    return true;
}

static int32_t parse_value(jparser *j, int depth) {
    if (depth > MAX_JSON_DEPTH) {
        j->error = "nested too deeply";
        return -1;
    }
    skip_space(j);
    if (j->p >= j->end) {
        j->error = "unexpected end of input";
        return -1;
    }
    char c = *j->p;
    int32_t index;
    if (c == '{' || c == '[') {
        bool object = c == '{';
        index = new_node(j, object ? J_OBJECT : J_ARRAY);
        if (index < 0) return -1;
        j->p++;
        skip_space(j);
        char close = object ? '}' : ']';
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return index;
        }
        int32_t last = -1;
        for (;;) {
            const char *key = NULL;
            size_t key_length = 0;
            if (object) {
                skip_space(j);
                if (j->p >= j->end || *j->p != '"') {
                    j->error = "expected a member name";
                    return -1;
                }
                if (!parse_string(j, &key, &key_length)) return -1;
                skip_space(j);
                if (j->p >= j->end || *j->p != ':') {
                    j->error = "expected ':'";
                    return -1;
                }
                j->p++;
            }
            int32_t child = parse_value(j, depth + 1);
            if (child < 0) return -1;
            j->nodes[child].key = key;
            if (last < 0) j->nodes[index].first = child;
            else j->nodes[last].next = child;
            last = child;
            skip_space(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == close) {
                j->p++;
                return index;
            }
            j->error = object ? "expected ',' or '}'" : "expected ',' or ']'";
            return -1;
        }
    }
    if (c == '"') {
        index = new_node(j, J_STRING);
        if (index < 0) return -1;
        jnode *n = &j->nodes[index];
        return parse_string(j, &n->string, &n->length) ? index : -1;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        index = new_node(j, J_NUMBER);
        if (index < 0) return -1;
        return parse_number(j, &j->nodes[index].number) ? index : -1;
    }
    if (c == 't' || c == 'f') {
        index = new_node(j, J_BOOL);
        if (index < 0) return -1;
        j->nodes[index].boolean = c == 't';
        return literal(j, c == 't' ? "true" : "false") ? index : -1;
    }
    if (c == 'n') {
        index = new_node(j, J_NULL);
        if (index < 0) return -1;
        return literal(j, "null") ? index : -1;
    }
    j->error = "unexpected character";
    return -1;
}

// The whole line as one value; NULL (and the reason in *error) when it is not exactly one JSON value.
static const jnode *parse_json(char *text, size_t length, const char **error) {
    jparser j = {text, text + length, json_nodes, 0, NULL};
    int32_t root = parse_value(&j, 0);
    if (root >= 0) {
        skip_space(&j);
        if (j.p != j.end) {
            j.error = "trailing characters after the value";
            root = -1;
        }
    }
    *error = j.error;
    return root < 0 ? NULL : &json_nodes[root];
}

static const jnode *child_of(const jnode *n) { return n->first < 0 ? NULL : &json_nodes[n->first]; }
static const jnode *next_of(const jnode *n) { return n->next < 0 ? NULL : &json_nodes[n->next]; }

// ---------------------------------------------------------------------------------------------------------------
// Commands

static char error_text[256];

static const char *fail(const char *format, const char *detail) {
    snprintf(error_text, sizeof error_text, format, detail);
    return error_text;
}

static const char *host_key(const jnode *member, host **found) {
    const char *key = member->key;
    unsigned long index = 0;
    size_t length = strlen(key);
    if (length == 0 || length > 5) return fail("no host %s", key);
    for (size_t i = 0; i < length; i++) {
        if (key[i] < '0' || key[i] > '9') return fail("no host %s", key);
        index = index * 10 + (unsigned long)(key[i] - '0');
    }
    if (index < 1 || index > host_count) return fail("no host %s", key);
    *found = &hosts[index];
    return NULL;
}

static const char *seconds_value(const jnode *v, const char *name, double *seconds) {
    if (v->type != J_NUMBER) return fail("%s: a number of seconds expected", name);
    if (!(v->number >= 0 && v->number <= MAX_SECONDS)) return fail("%s: seconds out of range (0 to 3600)", name);
    *seconds = v->number;
    return NULL;
}

// Regions a command would add that the wire does not know yet (names only, to count them before any applies).
static char new_regions[MAX_REGIONS][MAX_REGION_NAME + 1];
static int new_region_count;

static const char *need_region(const char *name, size_t length, bool apply, int *region) {
    if (length > MAX_REGION_NAME) return fail("region name longer than 63 bytes: %.63s…", name);
    if (apply) {
        *region = region_add(name);
        return NULL;
    }
    if (region_find(name) >= 0) return NULL;
    for (int i = 0; i < new_region_count; i++)
        if (strcmp(new_regions[i], name) == 0) return NULL;
    if (region_count + new_region_count >= MAX_REGIONS) return "too many regions (at most 64)";
    snprintf(new_regions[new_region_count++], sizeof new_regions[0], "%s", name);
    return NULL;
}

// A model command, checked whole (apply false) and then applied (apply true): nothing applies unless all of it
// is valid.
static const char *model(const jnode *command, bool apply) {
    const char *error;
    new_region_count = 0;
    for (const jnode *field = child_of(command); field; field = next_of(field)) {
        const char *name = field->key;
        if (strcmp(name, "op") == 0) continue;
        if (strcmp(name, "hosts") == 0) {
            if (field->type != J_OBJECT) return "hosts: an object expected";
            for (const jnode *entry = child_of(field); entry; entry = next_of(entry)) {
                host *h;
                if ((error = host_key(entry, &h)) != NULL) return error;
                if (entry->type != J_OBJECT) return fail("hosts.%s: an object expected", entry->key);
                for (const jnode *v = child_of(entry); v; v = next_of(v)) {
                    const char *key = v->key;
                    double number;
                    if (strcmp(key, "region") == 0) {
                        if (v->type != J_STRING) return "region: a string expected";
                        int region = 0;
                        if ((error = need_region(v->string, v->length, apply, &region)) != NULL) return error;
                        if (apply) h->region = region;
                    } else if (strcmp(key, "loss") == 0) {
                        if (v->type != J_NUMBER || !(v->number >= 0 && v->number <= 1))
                            return "loss: a probability (0 to 1) expected";
                        if (apply) h->loss = v->number;
                    } else if (strcmp(key, "jitter") == 0 || strcmp(key, "delay") == 0) {
                        if ((error = seconds_value(v, key, &number)) != NULL) return error;
                        if (apply) *(key[0] == 'j' ? &h->jitter : &h->delay) = number;
                    } else if (strcmp(key, "rate") == 0) {
                        if (v->type != J_NUMBER || !(v->number >= 0 && v->number <= MAX_RATE))
                            return "rate: bits/s expected (0, no limit, to 1e12)";
                        if (apply) h->rate = v->number;
                    } else if (strcmp(key, "cut") == 0) {
                        if (v->type != J_BOOL) return "cut: true or false expected";
                        if (apply) h->cut = v->boolean;
                    } else {
                        return fail("unknown host field %s", key);
                    }
                }
            }
        } else if (strcmp(name, "latency") == 0) {
            if (field->type != J_OBJECT) return "latency: an object expected";
            for (const jnode *pair = child_of(field); pair; pair = next_of(pair)) {
                const char *slash = strchr(pair->key, '/');
                if (slash == NULL || strchr(slash + 1, '/') != NULL)
                    return fail("latency: %s is not a pair of regions \"a/b\"", pair->key);
                char a[MAX_REGION_NAME + 2], b[MAX_REGION_NAME + 2];
                size_t length_a = (size_t)(slash - pair->key), length_b = strlen(slash + 1);
                if (length_a > MAX_REGION_NAME || length_b > MAX_REGION_NAME)
                    return fail("latency: region name longer than 63 bytes in %.80s", pair->key);
                memcpy(a, pair->key, length_a);
                a[length_a] = 0;
                memcpy(b, slash + 1, length_b + 1);
                double seconds;
                if ((error = seconds_value(pair, "latency", &seconds)) != NULL) return error;
                int ra = 0, rb = 0;
                if ((error = need_region(a, length_a, apply, &ra)) != NULL) return error;
                if ((error = need_region(b, length_b, apply, &rb)) != NULL) return error;
                if (apply) {
                    latency[ra][rb] = latency[rb][ra] = seconds;
                    latency_set[ra][rb] = latency_set[rb][ra] = true;
                }
            }
        } else if (strcmp(name, "groups") == 0) {
            if (field->type != J_OBJECT) return "groups: an object expected";
            for (const jnode *entry = child_of(field); entry; entry = next_of(entry)) {
                host *h;
                if ((error = host_key(entry, &h)) != NULL) return error;
                if (entry->type != J_NUMBER || entry->number != (double)(int64_t)entry->number ||
                    entry->number < -2147483648.0 || entry->number > 2147483647.0)
                    return fail("groups.%s: an integer expected", entry->key);
            }
            if (apply) {
                for (unsigned i = 1; i <= host_count; i++) hosts[i].group = 0;
                for (const jnode *entry = child_of(field); entry; entry = next_of(entry)) {
                    host *h;
                    host_key(entry, &h);
                    h->group = (int64_t)entry->number;
                }
            }
        } else if (strcmp(name, "default_latency") == 0) {
            double seconds;
            if ((error = seconds_value(field, name, &seconds)) != NULL) return error;
            if (apply) default_latency = seconds;
        } else if (strcmp(name, "queue_seconds") == 0) {
            double seconds;
            if ((error = seconds_value(field, name, &seconds)) != NULL) return error;
            if (apply) queue_seconds = seconds;
        } else {
            return fail("unknown model field %s", name);
        }
    }
    return NULL;
}

static const char *timer_mode = "epoll_pwait2";
static const char *priority = "default";

static void stats(void) {
    put(&out, "{\"ok\": true");
    putf(&out, ", \"forwarded\": %" PRIu64 ", \"queued\": %zu", forwarded, heap_count);
    putf(&out, ", \"late_over_50ms\": %" PRIu64 ", \"late_max_ms\": %.1f", late_over_50ms, (double)late_max / 1e6);
    putf(&out, ", \"late_over_1ms\": %" PRIu64 ", \"dropped_overflow\": %" PRIu64 ", \"write_errors\": %" PRIu64,
         late_over_1ms, dropped_overflow, write_errors);
    struct rusage usage;
    double cpu = 0;
    if (getrusage(RUSAGE_SELF, &usage) == 0)
        cpu = (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
              (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    putf(&out, ", \"wakeups\": %" PRIu64 ", \"cpu_seconds\": %.2f", wakeups, cpu);
    putf(&out, ", \"priority\": \"%s\", \"timer\": \"%s\", \"hosts\": {", priority, timer_mode);
    for (unsigned i = 1; i <= host_count; i++) {
        const host *h = &hosts[i];
        putf(&out, "%s\"%u\": {\"sent\": %" PRIu64 ", \"received\": %" PRIu64, i > 1 ? ", " : "", i, h->sent,
             h->received);
        putf(&out, ", \"dropped_loss\": %" PRIu64 ", \"dropped_cut\": %" PRIu64 ", \"dropped_queue\": %" PRIu64 "}",
             h->dropped_loss, h->dropped_cut, h->dropped_queue);
    }
    put(&out, "}}");
    answer(&out);
}

// One command line; false when the wire is to end.
static bool command(char *line, size_t length) {
    size_t i = 0;
    while (i < length && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
    if (i == length) return true;  // an empty line: nothing to answer
    const char *error;
    const jnode *root = parse_json(line, length, &error);
    if (root == NULL) {
        answer_error(fail("bad JSON: %s", error));
        return true;
    }
    if (root->type != J_OBJECT) {
        answer_error("a command is a JSON object");
        return true;
    }
    const jnode *op = NULL;
    for (const jnode *field = child_of(root); field; field = next_of(field))
        if (strcmp(field->key, "op") == 0) op = field;
    if (op == NULL || op->type != J_STRING) {
        answer_error("a command names its op (a string)");
        return true;
    }
    if (strcmp(op->string, "model") == 0) {
        if ((error = model(root, false)) != NULL) {
            answer_error(error);
        } else {
            model(root, true);
            answer_ok();
        }
    } else if (strcmp(op->string, "stats") == 0) {
        stats();
    } else if (strcmp(op->string, "quit") == 0) {
        answer_ok();
        return false;
    } else {
        answer_error(fail("unknown op '%.80s'", op->string));
    }
    return true;
}

static char *line;
static size_t line_length;
static bool line_too_long;

// What stdin has; false when it closed or a command said quit.
static bool control(void) {
    static char chunk[65536];
    ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk);
    if (n < 0) return errno == EINTR || errno == EAGAIN;
    if (n == 0) return false;
    const char *p = chunk, *end = chunk + n;
    while (p < end) {
        const char *newline = memchr(p, '\n', (size_t)(end - p));
        size_t length = (size_t)((newline ? newline : end) - p);
        if (!line_too_long) {
            if (line_length + length > MAX_LINE) {
                line_too_long = true;
            } else {
                memcpy(line + line_length, p, length);
                line_length += length;
            }
        }
        if (newline == NULL) break;
        p = newline + 1;
        bool go_on = true;
        if (line_too_long) answer_error("command line longer than 4 MiB");
        else go_on = command(line, line_length);
        line_length = 0;
        line_too_long = false;
        if (!go_on) return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------------------------
// Start-up and the loop

static void open_devices(const char *prefix) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < host_count + 64) {
        limit.rlim_cur = limit.rlim_max < host_count + 64 ? limit.rlim_max : host_count + 64;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    for (unsigned i = 1; i <= host_count; i++) {
        host *h = &hosts[i];
        int length = snprintf(h->name, sizeof h->name, "%s%u", prefix, i);
        if (length < 0 || (size_t)length >= sizeof h->name) {
            fprintf(stderr, "wire: interface name %s%u is longer than %d characters\n", prefix, i, IFNAMSIZ - 1);
            exit(1);
        }
        h->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (h->fd < 0) die("/dev/net/tun");
        struct ifreq request;
        memset(&request, 0, sizeof request);
        memcpy(request.ifr_name, h->name, (size_t)length);
        request.ifr_flags = IFF_TUN | IFF_NO_PI;
        if (ioctl(h->fd, TUNSETIFF, &request) < 0) die(h->name);
    }
}

// The wire is the network: when it runs late, every host sees slow links no model asked for. So it runs ahead of
// the hosts: SCHED_FIFO at a low real-time priority (10) when allowed, else nice -10, else as it is. Real time
// cannot starve the machine here: the wire is one thread that blocks in epoll whenever nothing is due, and the
// work it does when it wakes is bounded by the packets the hosts send (a read batch per device, the due packets);
// the kernel's real-time throttling (sched_rt_runtime_us) would still leave the other 5% of its core, and the other
// cores are untouched. SCHED_RESET_ON_FORK: nothing it might start inherits the priority.
static void set_priority(void) {
    struct sched_param parameter = {.sched_priority = 10};
    if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &parameter) == 0) {
        priority = "fifo 10";
    } else if (setpriority(PRIO_PROCESS, 0, -10) == 0) {
        priority = "nice -10";
    }
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // wake-ups on time (real-time tasks have no slack anyway)
}

static void watch(int epoll, int fd, uint32_t token) {
    struct epoll_event event = {.events = EPOLLIN, .data.u32 = token};
    if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) < 0) die("epoll_ctl");
}

static void device_gone(int epoll, host *h) {
    epoll_ctl(epoll, EPOLL_CTL_DEL, h->fd, NULL);
    close(h->fd);
    h->fd = -1;
    h->gone = true;
}

static void read_device(int epoll, host *h) {
    static uint8_t packet[MAX_PACKET + 1];
    int64_t now = now_ns();
    for (int n = 0; n < READ_BATCH; n++) {
        ssize_t length = read(h->fd, packet, sizeof packet);
        if (length < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) device_gone(epoll, h);  // EBADFD: the device is gone
            return;
        }
        if (length == 0 || length > MAX_PACKET) continue;
        route(h, packet, (size_t)length, now);
    }
}

// Waits for the next event or the next due packet, with a nanosecond timeout.
static int wait_events(int epoll, int timer, struct epoll_event *events) {
    bool due = heap_count > 0;
    int64_t timeout_ns = due ? heap[0].due - now_ns() : -1;
    if (due && timeout_ns < 0) timeout_ns = 0;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
    if (timer < 0) {
        struct timespec timeout = {timeout_ns / NS, timeout_ns % NS};
        int n = epoll_pwait2(epoll, events, MAX_EVENTS, due ? &timeout : NULL, NULL);
        if (n >= 0 || errno != ENOSYS) return n;
        return -2;  // the kernel has no epoll_pwait2 (before 5.11): the caller switches to the timerfd
    }
#endif
    static int64_t armed = -1;  // the due time the timerfd is set to (-1: disarmed)
    if (due && timeout_ns > 0) {
        if (armed != heap[0].due) {
            struct itimerspec at = {{0, 0}, {heap[0].due / NS, heap[0].due % NS}};
            if (timerfd_settime(timer, TFD_TIMER_ABSTIME, &at, NULL) < 0) die("timerfd_settime");
            armed = heap[0].due;
        }
    } else if (armed >= 0) {
        struct itimerspec off = {{0, 0}, {0, 0}};
        timerfd_settime(timer, 0, &off, NULL);
        armed = -1;
    }
    return epoll_wait(epoll, events, MAX_EVENTS, due && timeout_ns == 0 ? 0 : -1);
}

static int make_timer(int epoll) {
    int timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer < 0) die("timerfd_create");
    watch(epoll, timer, TOKEN_TIMER);
    timer_mode = "timerfd";
    return timer;
}

static bool parse_integer(const char *text, long long low, long long high, long long *value) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != 0 || v < low || v > high) return false;
    *value = v;
    return true;
}

int main(int argc, char **argv) {
    long long count, seed = 1;
    if (argc < 3 || argc > 4 || !parse_integer(argv[2], 1, MAX_HOSTS, &count) ||
        (argc == 4 && !parse_integer(argv[3], LLONG_MIN, LLONG_MAX, &seed))) {
        fprintf(stderr, "usage: %s PREFIX COUNT [SEED]   (COUNT 1 to %d devices PREFIX1…)\n", argv[0], MAX_HOSTS);
        return 2;
    }
    host_count = (unsigned)count;
    signal(SIGPIPE, SIG_IGN);
    uint64_t mix = (uint64_t)seed;
    for (int i = 0; i < 4; i++) rng_state[i] = splitmix64(&mix);
    line = malloc(MAX_LINE);
    if (line == NULL) die("out of memory");

    open_devices(argv[1]);
    set_priority();
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    if (epoll < 0) die("epoll_create1");
    watch(epoll, STDIN_FILENO, TOKEN_CONTROL);
    for (unsigned i = 1; i <= host_count; i++) watch(epoll, hosts[i].fd, i);
    int timer = -1;
    const char *forced = getenv("NETMESH_WIRE_TIMER");
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
    if (forced != NULL && strcmp(forced, "timerfd") == 0) timer = make_timer(epoll);
#else
    (void)forced;
    timer = make_timer(epoll);
#endif

    put(&out, "{\"ready\": [");
    for (unsigned i = 1; i <= host_count; i++) {
        if (i > 1) put(&out, ", ");
        put_string(&out, hosts[i].name, strlen(hosts[i].name));
    }
    put(&out, "]}");
    answer(&out);

    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        deliver();
        int n = wait_events(epoll, timer, events);
        wakeups++;
        if (n == -2) {
            timer = make_timer(epoll);
            continue;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll");
        }
        for (int i = 0; i < n; i++) {
            uint32_t token = events[i].data.u32;
            if (token == TOKEN_CONTROL) {
                if (!control()) return 0;
            } else if (token == TOKEN_TIMER) {
                uint64_t expirations;
                if (read(timer, &expirations, sizeof expirations) < 0 && errno != EAGAIN) die("timerfd");
            } else if (!hosts[token].gone) {
                read_device(epoll, &hosts[token]);
            }
        }
    }
}
