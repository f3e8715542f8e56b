/*
 * realc-events: runs the real esp_websocket_client (ESP-IDF `linux` target) against one
 * URI and prints every event as one JSON line on stdout, with the names `wsim connect`
 * prints (keys sorted as serde_json sorts them), so both outputs can be compared line by
 * line. The client's ESP_LOG output (with its ERROR texts) goes to stderr.
 *
 * Usage: realc-events URI [config options] [actions]   (see README.md; the option names
 * are those of `wsim connect`, so one command line serves both).
 *
 * Written for wsim from the public API in esp_websocket_client.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "esp_event.h"
#include "esp_log.h"
#include "esp_websocket_client.h"
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "psa/crypto.h"

#define BIT_CONNECTED (1 << 0)
#define BIT_FINISHED (1 << 1)

typedef enum { ACT_TEXT, ACT_BIN, ACT_SLEEP, ACT_CLOSE, ACT_CLOSE_CODE } action_kind_t;

typedef struct {
    action_kind_t kind;
    char *data; /* text or bytes */
    int len;
    long num;   /* sleep ms or close code */
} action_t;

#define MAX_ACTIONS 256

static struct {
    action_t actions[MAX_ACTIONS];
    int n_actions;
    char *close_reason;
    long close_timeout_ms;
    double duration_s; /* < 0: none */
    bool echo;
    bool stop_from_handler;
    long reply_bytes;
    bool destroy_on_exit;
    int log_level;
} opt = {.close_reason = "", .close_timeout_ms = 10000, .duration_s = -1, .log_level = -1};

static EventGroupHandle_t s_bits;
static SemaphoreHandle_t s_out_lock;
static struct timespec s_t0;
static bool s_ever_connected;
static esp_websocket_client_handle_t s_client;

/* echo reassembly (runs in the client task only) */
static char *s_msg;
static size_t s_msg_len, s_msg_cap;
static int s_msg_op;

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)(t.tv_sec - s_t0.tv_sec) * 1000 + (t.tv_nsec - s_t0.tv_nsec) / 1000000;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "realc-events: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

/* ---- JSON output ---------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->len + n + 1) {
            c *= 2;
        }
        b->p = realloc(b->p, c);
        if (!b->p) {
            abort();
        }
        b->cap = c;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Strict UTF-8 (as Rust's str::from_utf8: no overlongs, no surrogates, <= U+10FFFF). */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int k;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (int j = 1; j <= k; j++) {
            if (i + (size_t)j >= n || (s[i + j] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF ||
                (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += k + 1;
    }
    return true;
}

/* serde_json's escaping: ", \, and control characters below 0x20. */
static void sb_json_str(sbuf_t *b, const char *s, size_t n)
{
    sb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': sb_put(b, "\\\"", 2); break;
        case '\\': sb_put(b, "\\\\", 2); break;
        case '\n': sb_put(b, "\\n", 2); break;
        case '\r': sb_put(b, "\\r", 2); break;
        case '\t': sb_put(b, "\\t", 2); break;
        case '\b': sb_put(b, "\\b", 2); break;
        case '\f': sb_put(b, "\\f", 2); break;
        default:
            if (c < 0x20) {
                sb_printf(b, "\\u%04x", c);
            } else {
                sb_put(b, (const char *)&c, 1);
            }
        }
    }
    sb_put(b, "\"", 1);
}

static const char *event_name(int32_t id)
{
    switch (id) {
    case WEBSOCKET_EVENT_BEGIN: return "begin";
    case WEBSOCKET_EVENT_BEFORE_CONNECT: return "before_connect";
#if WS_TRANSPORT_HEADER_CALLBACK_SUPPORT
    case WEBSOCKET_EVENT_HEADER_RECEIVED: return "header_received";
#endif
    case WEBSOCKET_EVENT_CONNECTED: return "connected";
    case WEBSOCKET_EVENT_DATA: return "data";
    case WEBSOCKET_EVENT_ERROR: return "error";
    case WEBSOCKET_EVENT_DISCONNECTED: return "disconnected";
    case WEBSOCKET_EVENT_CLOSED: return "closed";
    case WEBSOCKET_EVENT_FINISH: return "finish";
    default: return NULL;
    }
}

static void sb_error_type(sbuf_t *b, int t)
{
    switch (t) {
    case WEBSOCKET_ERROR_TYPE_NONE: sb_printf(b, "\"none\""); break;
    case WEBSOCKET_ERROR_TYPE_TCP_TRANSPORT: sb_printf(b, "\"tcp_transport\""); break;
    case WEBSOCKET_ERROR_TYPE_PONG_TIMEOUT: sb_printf(b, "\"pong_timeout\""); break;
    case WEBSOCKET_ERROR_TYPE_HANDSHAKE: sb_printf(b, "\"handshake\""); break;
    case WEBSOCKET_ERROR_TYPE_SERVER_CLOSE: sb_printf(b, "\"server_close\""); break;
    default: sb_printf(b, "%d", t); break;
    }
}

static void print_event(int32_t id, const esp_websocket_event_data_t *d)
{
    sbuf_t b = {0};
    const char *name = event_name(id);
    const esp_websocket_error_codes_t *e = &d->error_handle;
    /* keys in serde_json's (sorted) order, as `wsim connect` prints them */
    sb_printf(&b, "{\"close_status_code\":%d,\"data_len\":%d,", d->close_status_code, d->data_len);
    sb_printf(&b, "\"error_handle\":{\"error_type\":");
    sb_error_type(&b, e->error_type);
    sb_printf(&b, ",\"esp_tls_cert_verify_flags\":%d,\"esp_tls_last_esp_err\":%d,\"esp_tls_stack_err\":%d,"
              "\"esp_transport_sock_errno\":%d,\"esp_ws_handshake_status_code\":%d},",
              e->esp_tls_cert_verify_flags, (int)e->esp_tls_last_esp_err, e->esp_tls_stack_err,
              e->esp_transport_sock_errno, e->esp_ws_handshake_status_code);
    if (name) {
        sb_printf(&b, "\"event\":\"%s\",", name);
    } else {
        sb_printf(&b, "\"event\":%" PRId32 ",", id);
    }
    sb_printf(&b, "\"fin\":%s,", d->fin ? "true" : "false");
    bool has_data = d->data_ptr && d->data_len > 0;
    bool text = has_data && utf8_valid((const unsigned char *)d->data_ptr, (size_t)d->data_len);
    if (has_data && !text) {
        sb_printf(&b, "\"hex\":\"");
        for (int i = 0; i < d->data_len; i++) {
            sb_printf(&b, "%02x", (unsigned char)d->data_ptr[i]);
        }
        sb_printf(&b, "\",");
    }
    sb_printf(&b, "\"op_code\":%u,\"payload_len\":%d,\"payload_offset\":%d,\"t_ms\":%" PRIu64,
              (unsigned)d->op_code, d->payload_len, d->payload_offset, now_ms());
    if (text) {
        sb_printf(&b, ",\"text\":");
        sb_json_str(&b, d->data_ptr, (size_t)d->data_len);
    }
    sb_put(&b, "}\n", 2);
    xSemaphoreTake(s_out_lock, portMAX_DELAY);
    fwrite(b.p, 1, b.len, stdout);
    fflush(stdout);
    xSemaphoreGive(s_out_lock);
    free(b.p);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "# realc-events t_ms=%" PRIu64 ": ", now_ms());
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

/* ---- the handler (runs in the client task, as on the device) ---------------------------- */

static void on_event(void *arg, esp_event_base_t base, int32_t id, void *event_data)
{
    (void)arg;
    (void)base;
    const esp_websocket_event_data_t *d = event_data;
    print_event(id, d);

    if (id == WEBSOCKET_EVENT_CONNECTED) {
        s_ever_connected = true;
        xEventGroupSetBits(s_bits, BIT_CONNECTED);
    } else if (id == WEBSOCKET_EVENT_FINISH) {
        xEventGroupSetBits(s_bits, BIT_FINISHED);
    } else if (id == WEBSOCKET_EVENT_DATA) {
        if (opt.stop_from_handler) {
            opt.stop_from_handler = false;
            esp_err_t r = esp_websocket_client_stop(d->client);
            note("esp_websocket_client_stop() from the handler returned %d (%s)", r, esp_err_to_name(r));
        }
        if (opt.reply_bytes > 0 && d->op_code == 1 && d->fin &&
                d->payload_offset + d->data_len >= d->payload_len) {
            long n = opt.reply_bytes;
            opt.reply_bytes = 0;
            char *big = malloc(n);
            memset(big, 'r', n);
            note("handler: send_bin(%ld bytes) from the handler...", n);
            int r = esp_websocket_client_send_bin(d->client, big, (int)n, portMAX_DELAY);
            note("handler: send_bin from the handler returned %d", r);
            free(big);
        }
        if (opt.echo && (d->op_code <= 2)) {
            /* reassemble by payload_offset/payload_len/fin, as an app would */
            if (d->op_code != 0 && d->payload_offset == 0) {
                s_msg_len = 0;
                s_msg_op = d->op_code;
            }
            if (s_msg_len + (size_t)d->data_len > s_msg_cap) {
                s_msg_cap = (s_msg_len + d->data_len) * 2 + 64;
                s_msg = realloc(s_msg, s_msg_cap);
            }
            if (d->data_len > 0) {
                memcpy(s_msg + s_msg_len, d->data_ptr, d->data_len);
            }
            s_msg_len += d->data_len;
            bool frame_done = d->payload_offset + d->data_len >= d->payload_len;
            if (frame_done && d->fin) {
                int r = s_msg_op == 2
                        ? esp_websocket_client_send_bin(d->client, s_msg, (int)s_msg_len, portMAX_DELAY)
                        : esp_websocket_client_send_text(d->client, s_msg, (int)s_msg_len, portMAX_DELAY);
                note("echo from the handler: op %d, %zu bytes, returned %d", s_msg_op, s_msg_len, r);
                s_msg_len = 0;
            }
        }
    }
}

/* ---- logging to stderr ---------------------------------------------------------------- */

static int log_to_stderr(const char *fmt, va_list ap)
{
    return vfprintf(stderr, fmt, ap);
}

/* ---- command line --------------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        die("cannot read %s: %s", path, strerror(errno));
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc(n + 1);
    if (!p || fread(p, 1, n, f) != (size_t)n) {
        die("cannot read %s", path);
    }
    p[n] = 0; /* PEM must be NUL-terminated */
    fclose(f);
    *len_out = (size_t)n;
    return p;
}

static char *parse_hex(const char *s, int *len)
{
    size_t n = strlen(s);
    if (n % 2) {
        die("hex needs an even number of digits");
    }
    char *p = malloc(n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) {
            die("not hex: %s", s);
        }
        p[i] = (char)v;
    }
    *len = (int)(n / 2);
    return p;
}

static void add_action(action_kind_t k, char *data, int len, long num)
{
    if (opt.n_actions >= MAX_ACTIONS) {
        die("too many actions");
    }
    opt.actions[opt.n_actions++] = (action_t) {.kind = k, .data = data, .len = len, .num = num};
}

static void usage(void)
{
    fprintf(stderr,
            "usage: realc-events URI [options] [actions]\n"
            "config: --buffer-size N --network-timeout-ms N --reconnect-timeout-ms N\n"
            "        --disable-auto-reconnect --enable-close-reconnect --cert-pem FILE --cert-der FILE\n"
            "        --client-cert FILE --client-key FILE --skip-cert-common-name-check\n"
            "        --cert-common-name NAME --host H --port N --path P --username U --password P\n"
            "        --subprotocol S --user-agent UA --header 'Name: value' --transport tcp|ssl\n"
            "        --ping-interval-sec N --pingpong-timeout-sec N --disable-pingpong-discon\n"
            "actions (once connected, in order): --send-text T --send-bin-hex H --sleep-ms MS\n"
            "        --close --close-code C [--close-reason R] [--close-timeout-ms MS]\n"
            "run:    --duration S (stop after S seconds) --log-level 0..5\n"
            "handler reactions: --echo (echo each complete text/binary message from the handler)\n"
            "        --stop-from-handler (call esp_websocket_client_stop() in the first DATA handler)\n"
            "        --reply-bytes N (on the first complete text message, send_bin N bytes from the handler)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    clock_gettime(CLOCK_MONOTONIC, &s_t0);
    signal(SIGPIPE, SIG_IGN); /* a device gets an error return, not a signal */
    int fl = fcntl(STDOUT_FILENO, F_GETFL);
    if (fl >= 0) {
        fcntl(STDOUT_FILENO, F_SETFL, fl & ~O_NONBLOCK);
    }
    fl = fcntl(STDERR_FILENO, F_GETFL);
    if (fl >= 0) {
        fcntl(STDERR_FILENO, F_SETFL, fl & ~O_NONBLOCK);
    }
    setvbuf(stderr, NULL, _IOLBF, 0);

    esp_websocket_client_config_t cfg = {0};
    char *headers = NULL;
    size_t headers_len = 0;
    if (argc < 2) {
        usage();
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define NEXT() ((i + 1 < argc) ? argv[++i] : (die("%s needs a value", a), (char *)NULL))
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
        } else if (!strcmp(a, "--buffer-size")) {
            cfg.buffer_size = atoi(NEXT());
        } else if (!strcmp(a, "--network-timeout-ms")) {
            cfg.network_timeout_ms = atoi(NEXT());
        } else if (!strcmp(a, "--reconnect-timeout-ms")) {
            cfg.reconnect_timeout_ms = atoi(NEXT());
        } else if (!strcmp(a, "--disable-auto-reconnect")) {
            cfg.disable_auto_reconnect = true;
        } else if (!strcmp(a, "--enable-close-reconnect")) {
            cfg.enable_close_reconnect = true;
        } else if (!strcmp(a, "--cert-pem")) {
            size_t n;
            cfg.cert_pem = read_file(NEXT(), &n);
        } else if (!strcmp(a, "--cert-der")) {
            size_t n;
            cfg.cert_pem = read_file(NEXT(), &n);
            cfg.cert_len = n;
        } else if (!strcmp(a, "--client-cert")) {
            size_t n;
            cfg.client_cert = read_file(NEXT(), &n);
        } else if (!strcmp(a, "--client-key")) {
            size_t n;
            cfg.client_key = read_file(NEXT(), &n);
        } else if (!strcmp(a, "--skip-cert-common-name-check")) {
            cfg.skip_cert_common_name_check = true;
        } else if (!strcmp(a, "--cert-common-name")) {
            cfg.cert_common_name = NEXT();
        } else if (!strcmp(a, "--host")) {
            cfg.host = NEXT();
        } else if (!strcmp(a, "--port")) {
            cfg.port = atoi(NEXT());
        } else if (!strcmp(a, "--path")) {
            cfg.path = NEXT();
        } else if (!strcmp(a, "--username")) {
            cfg.username = NEXT();
        } else if (!strcmp(a, "--password")) {
            cfg.password = NEXT();
        } else if (!strcmp(a, "--subprotocol")) {
            cfg.subprotocol = NEXT();
        } else if (!strcmp(a, "--user-agent")) {
            cfg.user_agent = NEXT();
        } else if (!strcmp(a, "--header")) {
            const char *h = NEXT();
            headers = realloc(headers, headers_len + strlen(h) + 3);
            memcpy(headers + headers_len, h, strlen(h));
            headers_len += strlen(h);
            memcpy(headers + headers_len, "\r\n", 3);
            headers_len += 2;
            cfg.headers = headers;
        } else if (!strcmp(a, "--transport")) {
            const char *t = NEXT();
            cfg.transport = !strcmp(t, "ssl") ? WEBSOCKET_TRANSPORT_OVER_SSL
                            : !strcmp(t, "tcp") ? WEBSOCKET_TRANSPORT_OVER_TCP : (die("bad transport"), 0);
        } else if (!strcmp(a, "--ping-interval-sec")) {
            cfg.ping_interval_sec = (size_t)atol(NEXT());
        } else if (!strcmp(a, "--pingpong-timeout-sec")) {
            cfg.pingpong_timeout_sec = atoi(NEXT());
        } else if (!strcmp(a, "--disable-pingpong-discon")) {
            cfg.disable_pingpong_discon = true;
        } else if (!strcmp(a, "--send-text")) {
            char *t = NEXT();
            add_action(ACT_TEXT, t, (int)strlen(t), 0);
        } else if (!strcmp(a, "--send-bin-hex")) {
            int n;
            char *p = parse_hex(NEXT(), &n);
            add_action(ACT_BIN, p, n, 0);
        } else if (!strcmp(a, "--sleep-ms")) {
            add_action(ACT_SLEEP, NULL, 0, atol(NEXT()));
        } else if (!strcmp(a, "--close")) {
            add_action(ACT_CLOSE, NULL, 0, 0);
        } else if (!strcmp(a, "--close-code")) {
            add_action(ACT_CLOSE_CODE, NULL, 0, atol(NEXT()));
        } else if (!strcmp(a, "--close-reason")) {
            opt.close_reason = NEXT();
        } else if (!strcmp(a, "--close-timeout-ms")) {
            opt.close_timeout_ms = atol(NEXT());
        } else if (!strcmp(a, "--duration")) {
            opt.duration_s = atof(NEXT());
        } else if (!strcmp(a, "--log-level")) {
            opt.log_level = atoi(NEXT());
        } else if (!strcmp(a, "--echo")) {
            opt.echo = true;
        } else if (!strcmp(a, "--reply-bytes")) {
            opt.reply_bytes = atol(NEXT());
        } else if (!strcmp(a, "--stop-from-handler")) {
            opt.stop_from_handler = true;
        } else if (!strcmp(a, "--seed") || !strcmp(a, "--profile")) {
            (void)NEXT(); /* wsim-only options: accepted and ignored */
        } else if (a[0] == '-' && a[1] == '-') {
            die("unknown option %s", a);
        } else if (!cfg.uri) {
            cfg.uri = a;
        } else {
            die("unexpected argument %s", a);
        }
#undef NEXT
    }
    if (!cfg.uri) {
        usage();
    }

    esp_log_set_vprintf(log_to_stderr);
    if (opt.log_level >= 0) {
        esp_log_level_set("*", (esp_log_level_t)opt.log_level);
    }
    /* On a device IDF's start-up does this; without it every TLS connection fails. */
    psa_status_t ps = psa_crypto_init();
    if (ps != PSA_SUCCESS) {
        die("psa_crypto_init() failed: %d", (int)ps);
    }

    s_bits = xEventGroupCreate();
    s_out_lock = xSemaphoreCreateMutex();

    s_client = esp_websocket_client_init(&cfg);
    if (!s_client) {
        die("esp_websocket_client_init() failed");
    }
    esp_websocket_register_events(s_client, WEBSOCKET_EVENT_ANY, on_event, NULL);
    esp_err_t err = esp_websocket_client_start(s_client);
    if (err != ESP_OK) {
        die("esp_websocket_client_start() failed: %s", esp_err_to_name(err));
    }

    TickType_t deadline = opt.duration_s >= 0 ? xTaskGetTickCount() + pdMS_TO_TICKS((uint32_t)(opt.duration_s * 1000))
                          : portMAX_DELAY;
#define REMAINING() (deadline == portMAX_DELAY ? portMAX_DELAY \
                     : (deadline > xTaskGetTickCount() ? deadline - xTaskGetTickCount() : 0))

    EventBits_t bits = xEventGroupWaitBits(s_bits, BIT_CONNECTED | BIT_FINISHED, false, false, REMAINING());
    if ((bits & BIT_CONNECTED) && !(bits & BIT_FINISHED)) {
        for (int i = 0; i < opt.n_actions; i++) {
            action_t *ac = &opt.actions[i];
            int r;
            switch (ac->kind) {
            case ACT_TEXT:
                r = esp_websocket_client_send_text(s_client, ac->data, ac->len, portMAX_DELAY);
                note("esp_websocket_client_send_text(%d bytes) returned %d", ac->len, r);
                break;
            case ACT_BIN:
                r = esp_websocket_client_send_bin(s_client, ac->data, ac->len, portMAX_DELAY);
                note("esp_websocket_client_send_bin(%d bytes) returned %d", ac->len, r);
                break;
            case ACT_SLEEP:
                vTaskDelay(pdMS_TO_TICKS(ac->num));
                break;
            case ACT_CLOSE:
                r = esp_websocket_client_close(s_client, pdMS_TO_TICKS(opt.close_timeout_ms));
                note("esp_websocket_client_close() returned %d", r);
                break;
            case ACT_CLOSE_CODE:
                r = esp_websocket_client_close_with_code(s_client, (int)ac->num, opt.close_reason,
                                                         (int)strlen(opt.close_reason),
                                                         pdMS_TO_TICKS(opt.close_timeout_ms));
                note("esp_websocket_client_close_with_code(%ld) returned %d", ac->num, r);
                break;
            }
        }
    }
    bits = xEventGroupWaitBits(s_bits, BIT_FINISHED, false, false, REMAINING());
    if (!(bits & BIT_FINISHED)) {
        note("--duration elapsed: esp_websocket_client_stop()");
        esp_websocket_client_stop(s_client);
    }
    esp_websocket_client_destroy(s_client);
    fflush(stdout);
    exit(s_ever_connected ? 0 : 1);
}
