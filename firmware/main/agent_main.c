/*
 * wsim-agent: the wsim agent protocol (docs/agent-protocol.md) served by the real
 * esp_websocket_client. This file is the ESP-IDF glue: the one writer (protocol lines
 * and ESP log output under one lock), the reader task, and the mapping of every request
 * to esp_websocket_client_* calls. The protocol codec is agent_codec.c (plain C).
 *
 * On a board the protocol runs on the console UART (after Wi-Fi is up, see
 * agent_wifi.c); on the `linux` target on stdin/stdout.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_codec.h"
#include "agent_io.h"
#include "esp_event.h"
#include "esp_idf_version.h"
#include "esp_log.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "esp_tls.h"
#include "esp_websocket_client.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "psa/crypto.h"
#include "sdkconfig.h"

#ifndef WSIM_CLIENT_VERSION
#define WSIM_CLIENT_VERSION "unknown"
#endif

#define MAX_LINE CONFIG_WSIM_AGENT_MAX_LINE
#define INLINE_MAX CONFIG_WSIM_AGENT_INLINE_MAX
#define MAX_CLIENTS 16
#define MAX_BUFFERS 8
#define MAX_REASSEMBLED (16u << 20)

#if CONFIG_IDF_TARGET_LINUX
#define MAX_STAGED_BUFFER (16u << 20)
#define MAX_STAGED_TOTAL (64u << 20)
#else
#define MAX_STAGED_BUFFER (64u << 10)
#define MAX_STAGED_TOTAL (128u << 10)
#endif

#ifndef configTICK_RATE_HZ
/* esp-protocols' linux_compat FreeRTOS shim: ticks are milliseconds. */
#define configTICK_RATE_HZ 1000
#endif
#ifndef tskIDLE_PRIORITY
#define tskIDLE_PRIORITY 0
#endif

static const char *TAG = "wsim-agent";

/* ---- the one writer ---------------------------------------------------------------------- */

static SemaphoreHandle_t s_out_lock;
static uint32_t s_seq;
static int64_t s_t0_us;

static uint64_t now_ms(void)
{
    return (uint64_t)((esp_timer_get_time() - s_t0_us) / 1000);
}

/* Frames body with the next sequence number and writes the line in one piece. */
static void out_body(ac_buf_t *body)
{
    if (body->oom) {
        ac_buf_free(body);
        return;
    }
    xSemaphoreTakeRecursive(s_out_lock, portMAX_DELAY);
    ac_buf_t line = {0};
    ac_frame(&line, s_seq, body->p, body->len);
    if (!line.oom) {
        s_seq++;
        agent_io_write(line.p, line.len);
    }
    xSemaphoreGiveRecursive(s_out_lock);
    ac_buf_free(&line);
    ac_buf_free(body);
}

/* ESP log output goes through the same lock, so it never lands inside a protocol line. */
static int log_vprintf(const char *fmt, va_list ap)
{
    char tmp[256];
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(tmp, sizeof tmp, fmt, cp);
    va_end(cp);
    if (n < 0) {
        return n;
    }
    char *p = tmp;
    if ((size_t)n >= sizeof tmp) {
        p = malloc((size_t)n + 1);
        if (!p) {
            p = tmp;
            n = sizeof tmp - 1;
        } else {
            vsnprintf(p, (size_t)n + 1, fmt, ap);
        }
    }
    /* A log line must not look like a protocol line. */
    if (n >= 2 && p[0] == '@' && p[1] == 'W') {
        p[0] = '#';
    }
    xSemaphoreTakeRecursive(s_out_lock, portMAX_DELAY);
    agent_io_write(p, (size_t)n);
    xSemaphoreGiveRecursive(s_out_lock);
    if (p != tmp) {
        free(p);
    }
    return n;
}

static void send_resp(uint64_t id, int64_t ret)
{
    ac_buf_t b = {0};
    ac_body_resp(&b, "resp", id, true, ret, NULL, false);
    out_body(&b);
}

static void send_err(uint64_t id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_err(uint64_t id, const char *fmt, ...)
{
    char e[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e, sizeof e, fmt, ap);
    va_end(ap);
    ac_buf_t b = {0};
    ac_body_resp(&b, "resp", id, false, 0, e, false);
    out_body(&b);
}

/* ---- the hello ------------------------------------------------------------------------------- */

static const char *const ABILITIES[] = {"global_ca", "background"};

/* esp_get_idf_version() is `git describe` of the IDF tree; a tree without git history
 * (a prepared copy, an archive) says "HEAD-HASH-NOTFOUND": the version macros then. */
static const char *idf_version(void)
{
    static char v[48];
    const char *d = esp_get_idf_version();
    if (d && d[0] == 'v' && d[1] >= '0' && d[1] <= '9') {
        return d;
    }
    snprintf(v, sizeof v, "v%d.%d.%d", ESP_IDF_VERSION_MAJOR, ESP_IDF_VERSION_MINOR, ESP_IDF_VERSION_PATCH);
    return v;
}

static void send_hello(void)
{
    ac_hello_t h = {
        .agent = "wsim-agent " WSIM_AGENT_VERSION " (the real esp_websocket_client)",
#if CONFIG_IDF_TARGET_LINUX
        .chip = "linux",
#else
        .chip = CONFIG_IDF_TARGET,
#endif
        .idf = idf_version(),
        .client = WSIM_CLIENT_VERSION,
        .heap = esp_get_free_heap_size(),
#ifdef CONFIG_ESP_TLS_INSECURE
        .tls_insecure = true,
#endif
#ifdef CONFIG_ESP_TLS_SKIP_SERVER_CERT_VERIFY
        .skip_server_cert_verify = true,
#endif
#ifdef CONFIG_MBEDTLS_HAVE_TIME_DATE
        .have_time_date = true,
#endif
#ifdef CONFIG_ESP_WS_CLIENT_ENABLE_DYNAMIC_BUFFER
        .dynamic_buffer = true,
#endif
#ifdef CONFIG_ESP_WS_CLIENT_SEPARATE_TX_LOCK
        .separate_tx_lock = true,
#endif
#ifdef CONFIG_ESP_WS_CLIENT_TX_LOCK_TIMEOUT_MS
        .tx_lock_timeout_ms = CONFIG_ESP_WS_CLIENT_TX_LOCK_TIMEOUT_MS,
#else
        .tx_lock_timeout_ms = 2000,
#endif
        .freertos_hz = configTICK_RATE_HZ,
        .max_line = MAX_LINE,
        .inline_max = INLINE_MAX,
        .abilities = ABILITIES,
        .n_abilities = sizeof ABILITIES / sizeof ABILITIES[0],
    };
    ac_buf_t b = {0};
    ac_body_hello(&b, &h);
    out_body(&b);
}

/* The build's options as the Kconfig names go (for reset's sdkconfig check). */
typedef struct {
    const char *key;
    const char *build; /* "y"/"n" or a number */
    const char *dflt;
} opt_t;

#define YN(x) ((x) ? "y" : "n")
#define STR_(x) #x
#define STR(x) STR_(x)

static const opt_t *build_options(int *n)
{
    static opt_t o[7];
    static char hz[16], tx[16];
    snprintf(hz, sizeof hz, "%u", (unsigned)configTICK_RATE_HZ);
#ifdef CONFIG_ESP_WS_CLIENT_TX_LOCK_TIMEOUT_MS
    snprintf(tx, sizeof tx, "%u", (unsigned)CONFIG_ESP_WS_CLIENT_TX_LOCK_TIMEOUT_MS);
#else
    snprintf(tx, sizeof tx, "2000");
#endif
    bool insecure = false, skip = false, td = false, dyn = false, sep = false;
#ifdef CONFIG_ESP_TLS_INSECURE
    insecure = true;
#endif
#ifdef CONFIG_ESP_TLS_SKIP_SERVER_CERT_VERIFY
    skip = true;
#endif
#ifdef CONFIG_MBEDTLS_HAVE_TIME_DATE
    td = true;
#endif
#ifdef CONFIG_ESP_WS_CLIENT_ENABLE_DYNAMIC_BUFFER
    dyn = true;
#endif
#ifdef CONFIG_ESP_WS_CLIENT_SEPARATE_TX_LOCK
    sep = true;
#endif
    o[0] = (opt_t) {"CONFIG_ESP_TLS_INSECURE", YN(insecure), "n"};
    o[1] = (opt_t) {"CONFIG_ESP_TLS_SKIP_SERVER_CERT_VERIFY", YN(skip), "n"};
    o[2] = (opt_t) {"CONFIG_MBEDTLS_HAVE_TIME_DATE", YN(td), "n"};
    o[3] = (opt_t) {"CONFIG_ESP_WS_CLIENT_ENABLE_DYNAMIC_BUFFER", YN(dyn), "n"};
    o[4] = (opt_t) {"CONFIG_ESP_WS_CLIENT_SEPARATE_TX_LOCK", YN(sep), "n"};
    o[5] = (opt_t) {"CONFIG_ESP_WS_CLIENT_TX_LOCK_TIMEOUT_MS", tx, "2000"};
    o[6] = (opt_t) {"CONFIG_FREERTOS_HZ", hz, "100"};
    *n = 7;
    return o;
}

/* ---- staged buffers --------------------------------------------------------------------------- */

typedef struct {
    bool used;
    uint32_t id;
    uint8_t *p;
    size_t len;
} staged_t;

static staged_t s_bufs[MAX_BUFFERS];
static size_t s_staged_total;

static staged_t *buf_find(uint32_t id)
{
    for (int i = 0; i < MAX_BUFFERS; i++) {
        if (s_bufs[i].used && s_bufs[i].id == id) {
            return &s_bufs[i];
        }
    }
    return NULL;
}

static void buf_drop(staged_t *b)
{
    s_staged_total -= b->len;
    free(b->p);
    memset(b, 0, sizeof *b);
}

static void bufs_clear(void)
{
    for (int i = 0; i < MAX_BUFFERS; i++) {
        if (s_bufs[i].used) {
            buf_drop(&s_bufs[i]);
        }
    }
}

/* Resolves bytes (inline or staged, consumed) into an owned NUL-terminated buffer. */
static bool take_bytes(ac_bytes_t *src, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    switch (src->kind) {
    case AC_SRC_B64:
        *out = src->bytes;
        *len = src->len;
        src->bytes = NULL;
        return true;
    case AC_SRC_BUF: {
        staged_t *b = buf_find(src->buf);
        if (!b) {
            snprintf(err, errlen, "no staged buffer %" PRIu32, src->buf);
            return false;
        }
        uint8_t *p = realloc(b->p, b->len + 1);
        if (!p) {
            snprintf(err, errlen, "out of memory");
            return false;
        }
        p[b->len] = 0;
        *out = p;
        *len = b->len;
        b->p = NULL;
        buf_drop(b);
        return true;
    }
    case AC_SRC_PKI:
        snprintf(err, errlen, "no PKI member \"%.40s\" (this agent has no test PKI)", src->pki);
        return false;
    default:
        snprintf(err, errlen, "no bytes given");
        return false;
    }
}

/* ---- clients ----------------------------------------------------------------------------------- */

typedef struct client_slot client_slot_t;

typedef struct {
    client_slot_t *slot;
    int index; /* 1-based */
    ac_reaction_t r;
    ac_reasm_t reasm;
    uint64_t messages;
} reaction_t;

struct client_slot {
    bool used;
    char name[AC_MAX_CLIENT_NAME + 1]; /* for look-ups: "" once another init took the name */
    char ev_name[AC_MAX_CLIENT_NAME + 1]; /* in its events and handler calls, always */
    esp_websocket_client_handle_t h;   /* NULL: init failed, or destroyed */
    bool destroy_on_exit;
    ac_config_t cfg;                    /* the strings the config points at */
    uint8_t *certs[3];
    reaction_t *reactions;
    int n_reactions;
};

static client_slot_t s_clients[MAX_CLIENTS];

static client_slot_t *client_find(const char *name)
{
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (s_clients[i].used && s_clients[i].name[0] && !strcmp(s_clients[i].name, name)) {
            return &s_clients[i];
        }
    }
    return NULL;
}

static ac_event_t event_of(int32_t id)
{
    switch (id) {
    case WEBSOCKET_EVENT_BEGIN: return AC_EV_BEGIN;
    case WEBSOCKET_EVENT_BEFORE_CONNECT: return AC_EV_BEFORE_CONNECT;
#if WS_TRANSPORT_HEADER_CALLBACK_SUPPORT
    case WEBSOCKET_EVENT_HEADER_RECEIVED: return AC_EV_HEADER_RECEIVED;
#endif
    case WEBSOCKET_EVENT_CONNECTED: return AC_EV_CONNECTED;
    case WEBSOCKET_EVENT_DATA: return AC_EV_DATA;
    case WEBSOCKET_EVENT_ERROR: return AC_EV_ERROR;
    case WEBSOCKET_EVENT_DISCONNECTED: return AC_EV_DISCONNECTED;
    case WEBSOCKET_EVENT_CLOSED: return AC_EV_CLOSED;
    case WEBSOCKET_EVENT_FINISH: return AC_EV_FINISH;
    default: return AC_EV_COUNT;
    }
}

/* The first handler: reports every event with every field. */
static void on_event(void *arg, esp_event_base_t base, int32_t id, void *event_data)
{
    (void)base;
    client_slot_t *c = arg;
    const esp_websocket_event_data_t *d = event_data;
    ac_event_t ev = event_of(id);
    if (ev == AC_EV_COUNT || !d) {
        ESP_LOGW(TAG, "unknown event %" PRId32, id);
        return;
    }
    size_t n = d->data_len > 0 && d->data_ptr ? (size_t)d->data_len : 0;
    uint8_t digest[32];
    const esp_websocket_error_codes_t *e = &d->error_handle;
    ac_event_msg_t m = {
        .client = c->ev_name,
        .ms = now_ms(),
        .event = ev,
        .op_code = d->op_code,
        .fin = d->fin,
        .data_len = n,
        .payload_len = d->payload_len,
        .payload_offset = d->payload_offset,
        .close_status_code = d->close_status_code,
        .error_handle = {
            .esp_tls_last_esp_err = e->esp_tls_last_esp_err,
            .esp_tls_stack_err = e->esp_tls_stack_err,
            .esp_tls_cert_verify_flags = e->esp_tls_cert_verify_flags,
            .error_type = (unsigned)e->error_type < AC_ERR_COUNT ? (ac_error_type_t)e->error_type : AC_ERR_NONE,
            .esp_ws_handshake_status_code = e->esp_ws_handshake_status_code,
            .esp_transport_sock_errno = e->esp_transport_sock_errno,
        },
        .data = (const uint8_t *)d->data_ptr,
    };
    if (n > INLINE_MAX) {
        size_t dl = 0;
        if (psa_hash_compute(PSA_ALG_SHA_256, (const uint8_t *)d->data_ptr, n, digest, sizeof digest, &dl) ==
                PSA_SUCCESS) {
            m.sha256 = digest;
        } else {
            ESP_LOGE(TAG, "SHA-256 failed");
        }
    }
    ac_buf_t b = {0};
    ac_body_event(&b, &m, INLINE_MAX);
    out_body(&b);
    if (ev == AC_EV_FINISH && c->destroy_on_exit) {
        /* The task frees the client once it exits: the handle is gone. */
        c->h = NULL;
    }
}

static void report_hcall(reaction_t *r, const char *function, int64_t ret)
{
    ac_buf_t b = {0};
    ac_body_hcall(&b, r->slot->ev_name, now_ms(), (unsigned)r->index, function, ret);
    out_body(&b);
}

static int64_t make_call(esp_websocket_client_handle_t h, ac_call_t *c, const uint8_t *data, size_t len);

/* One handler per reaction, registered after on_event, in the order given. */
static void on_reaction(void *arg, esp_event_base_t base, int32_t id, void *event_data)
{
    (void)base;
    reaction_t *r = arg;
    const esp_websocket_event_data_t *d = event_data;
    ac_event_t ev = event_of(id);
    if (ev == AC_EV_COUNT || !d) {
        return;
    }
    size_t n = d->data_len > 0 && d->data_ptr ? (size_t)d->data_len : 0;
    const uint8_t *data = (const uint8_t *)d->data_ptr;
    switch (r->r.kind) {
    case AC_REACT_CALL:
        if (ac_match(&r->r.on, ev, d->op_code, d->fin, n, d->payload_len, d->payload_offset, data)) {
            int64_t ret = make_call(d->client, &r->r.call, r->r.call.data.bytes, r->r.call.data.len);
            report_hcall(r, ac_call_name(r->r.call.kind), ret);
        }
        break;
    case AC_REACT_ECHO:
    case AC_REACT_CLOSE_AFTER: {
        int op = 0;
        size_t len = 0;
        ac_reasm_result_t a = ac_reasm_push(&r->reasm, ev, d->op_code, d->fin, data, n, d->payload_len,
                                            d->payload_offset, &op, &len);
        if (a == AC_REASM_PENDING) {
            break;
        }
        if (r->r.kind == AC_REACT_ECHO) {
            if (a == AC_REASM_TOO_LONG) {
                report_hcall(r, "echo (message too long)", -1);
            } else if (op == 1) {
                int ret = esp_websocket_client_send_text(d->client, (const char *)r->reasm.data, (int)len,
                                                         r->r.timeout);
                report_hcall(r, "send_text", ret);
            } else {
                int ret = esp_websocket_client_send_bin(d->client, (const char *)r->reasm.data, (int)len,
                                                        r->r.timeout);
                report_hcall(r, "send_bin", ret);
            }
        } else {
            r->messages++;
            if (r->messages == r->r.messages) {
                esp_err_t ret = esp_websocket_client_close_with_code(d->client, r->r.code, (const char *)r->r.reason,
                                                                     (int)r->r.reason_len, r->r.timeout);
                report_hcall(r, "close_with_code", ret);
            }
        }
        break;
    }
    }
}

static void slot_free(client_slot_t *c)
{
    ac_config_free(&c->cfg);
    for (int i = 0; i < 3; i++) {
        free(c->certs[i]);
    }
    for (int i = 0; i < c->n_reactions; i++) {
        ac_reasm_free(&c->reactions[i].reasm);
        ac_reaction_free(&c->reactions[i].r);
    }
    free(c->reactions);
    memset(c, 0, sizeof *c);
}

static void destroy_all(void)
{
    for (int i = 0; i < MAX_CLIENTS; i++) {
        client_slot_t *c = &s_clients[i];
        if (!c->used) {
            continue;
        }
        if (c->h) {
            esp_err_t r = esp_websocket_client_destroy(c->h);
            if (r != ESP_OK) {
                ESP_LOGW(TAG, "destroy of \"%s\" returned %d", c->name, r);
            }
        }
        slot_free(c);
    }
}

/* ---- calls --------------------------------------------------------------------------------------- */

static int64_t make_call(esp_websocket_client_handle_t h, ac_call_t *c, const uint8_t *data, size_t len)
{
    const char *dp = (const char *)data;
    switch (c->kind) {
    case AC_CALL_START: return esp_websocket_client_start(h);
    case AC_CALL_STOP: return esp_websocket_client_stop(h);
    case AC_CALL_DESTROY: return esp_websocket_client_destroy(h);
    case AC_CALL_DESTROY_ON_EXIT: return esp_websocket_client_destroy_on_exit(h);
    case AC_CALL_IS_CONNECTED: return esp_websocket_client_is_connected(h) ? 1 : 0;
    case AC_CALL_GET_PING_INTERVAL_SEC: return (int64_t)esp_websocket_client_get_ping_interval_sec(h);
    case AC_CALL_GET_RECONNECT_TIMEOUT: return esp_websocket_client_get_reconnect_timeout(h);
    case AC_CALL_CLOSE: return esp_websocket_client_close(h, c->timeout);
    case AC_CALL_SEND_FIN: return esp_websocket_client_send_fin(h, c->timeout);
    case AC_CALL_CLOSE_WITH_CODE:
        return esp_websocket_client_close_with_code(h, c->code, (const char *)c->reason, (int)c->reason_len,
                                                    c->timeout);
    case AC_CALL_SEND_TEXT: return esp_websocket_client_send_text(h, dp, (int)len, c->timeout);
    case AC_CALL_SEND_BIN: return esp_websocket_client_send_bin(h, dp, (int)len, c->timeout);
    case AC_CALL_SEND_TEXT_PARTIAL: return esp_websocket_client_send_text_partial(h, dp, (int)len, c->timeout);
    case AC_CALL_SEND_BIN_PARTIAL: return esp_websocket_client_send_bin_partial(h, dp, (int)len, c->timeout);
    case AC_CALL_SEND_CONT_MSG: return esp_websocket_client_send_cont_msg(h, dp, (int)len, c->timeout);
    case AC_CALL_SEND_WITH_OPCODE:
        return esp_websocket_client_send_with_opcode(h, (ws_transport_opcodes_t)c->opcode, data, (int)len,
                                                     c->timeout);
    case AC_CALL_SET_URI: return esp_websocket_client_set_uri(h, c->uri);
    case AC_CALL_SET_HEADERS: return esp_websocket_client_set_headers(h, c->headers);
    case AC_CALL_APPEND_HEADER: return esp_websocket_client_append_header(h, c->key, c->value);
    case AC_CALL_SET_PING_INTERVAL_SEC: return esp_websocket_client_set_ping_interval_sec(h, (size_t)c->sec);
    case AC_CALL_SET_RECONNECT_TIMEOUT: return esp_websocket_client_set_reconnect_timeout(h, c->ms);
    default: return ESP_ERR_INVALID_ARG;
    }
}

typedef struct {
    uint64_t id;
    client_slot_t *slot;
    esp_websocket_client_handle_t h;
    ac_call_t call;
    uint8_t *data;
    size_t len;
} bg_call_t;

static void after_call(client_slot_t *slot, esp_websocket_client_handle_t h, ac_call_kind_t k, int64_t ret)
{
    if (k == AC_CALL_DESTROY && ret == ESP_OK && h && slot->h == h) {
        /* Freed: later calls on the name see a NULL handle, as the C API answers one. */
        slot->h = NULL;
    } else if (k == AC_CALL_DESTROY_ON_EXIT && ret == ESP_OK) {
        slot->destroy_on_exit = true;
    }
}

static void bg_task(void *arg)
{
    bg_call_t *b = arg;
    int64_t ret = make_call(b->h, &b->call, b->data, b->len);
    after_call(b->slot, b->h, b->call.kind, ret);
    ac_buf_t out = {0};
    ac_body_resp(&out, "done", b->id, true, ret, NULL, false);
    out_body(&out);
    ac_call_free(&b->call);
    free(b->data);
    free(b);
    vTaskDelete(NULL);
}

/* ---- requests ------------------------------------------------------------------------------------- */

static void op_reset(ac_request_t *q)
{
    int n;
    const opt_t *o = build_options(&n);
    /* Requested: the Kconfig defaults, with the lines over them. */
    const char *want[7];
    for (int i = 0; i < n; i++) {
        want[i] = o[i].dflt;
    }
    for (int l = 0; l < q->n_sdkconfig; l++) {
        const char *line = q->sdkconfig[l];
        const char *eq = strchr(line, '=');
        int k = -1;
        for (int i = 0; eq && i < n; i++) {
            if (strlen(o[i].key) == (size_t)(eq - line) && !strncmp(line, o[i].key, (size_t)(eq - line))) {
                k = i;
            }
        }
        if (k < 0) {
            send_err(q->id, "sdkconfig: unknown option line \"%.80s\"", line);
            return;
        }
        want[k] = eq + 1;
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(want[i], o[i].build) != 0) {
            send_err(q->id, "%s=%s differs from this build (%s=%s), and this agent cannot change build options",
                     o[i].key, want[i], o[i].key, o[i].build);
            return;
        }
    }
    uint8_t *ca = NULL;
    size_t ca_len = 0;
    char err[200];
    if (q->global_ca.kind != AC_SRC_NONE && !take_bytes(&q->global_ca, &ca, &ca_len, err, sizeof err)) {
        send_err(q->id, "global_ca: %s", err);
        return;
    }
    destroy_all();
    bufs_clear();
    if (ca) {
        /* PEM is parsed with its NUL terminator. */
        bool pem = ca_len >= 10 && !memcmp(ca, "-----BEGIN", 10);
        esp_err_t r = esp_tls_set_global_ca_store(ca, (unsigned)(pem ? ca_len + 1 : ca_len));
        free(ca);
        if (r != ESP_OK) {
            send_err(q->id, "global_ca: esp_tls_set_global_ca_store returned %d", r);
            return;
        }
    }
    send_resp(q->id, 0);
}

static void op_init(ac_request_t *q)
{
    client_slot_t *c = NULL;
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (!s_clients[i].used) {
            c = &s_clients[i];
            break;
        }
    }
    if (!c) {
        send_err(q->id, "no room for another client (%d at most)", MAX_CLIENTS);
        return;
    }
    char err[200];
    ac_bytes_t *srcs[3] = {&q->config.cert_pem, &q->config.client_cert, &q->config.client_key};
    uint8_t *certs[3] = {NULL, NULL, NULL};
    static const char *const names[3] = {"cert_pem", "client_cert", "client_key"};
    for (int i = 0; i < 3; i++) {
        size_t len;
        if (srcs[i]->kind != AC_SRC_NONE && !take_bytes(srcs[i], &certs[i], &len, err, sizeof err)) {
            for (int j = 0; j < i; j++) {
                free(certs[j]);
            }
            send_err(q->id, "config.%s: %s", names[i], err);
            return;
        }
    }
    memset(c, 0, sizeof *c);
    c->used = true;
    c->cfg = q->config;
    memset(&q->config, 0, sizeof q->config); /* the slot owns the strings now */
    memcpy(c->certs, certs, sizeof certs);
    const ac_config_t *w = &c->cfg;
    esp_websocket_client_config_t cfg = {
        .uri = w->uri, .host = w->host, .port = w->port, .username = w->username, .password = w->password,
        .path = w->path, .disable_auto_reconnect = w->disable_auto_reconnect,
        .enable_close_reconnect = w->enable_close_reconnect, .user_context = (void *)(uintptr_t)w->user_context,
        .task_core_id_set = w->task_core_id_set, .task_core_id = w->task_core_id,
        .task_prio = w->task_prio, .task_name = w->task_name, .task_stack = w->task_stack,
        .buffer_size = w->buffer_size, .cert_pem = (const char *)certs[0], .cert_len = (size_t)w->cert_len,
        .client_cert = (const char *)certs[1], .client_cert_len = (size_t)w->client_cert_len,
        .client_key = (const char *)certs[2], .client_key_len = (size_t)w->client_key_len,
        .transport = (esp_websocket_transport_t)w->transport, .subprotocol = w->subprotocol,
        .user_agent = w->user_agent, .headers = w->headers, .pingpong_timeout_sec = w->pingpong_timeout_sec,
        .disable_pingpong_discon = w->disable_pingpong_discon, .use_global_ca_store = w->use_global_ca_store,
        .cert_common_name = w->cert_common_name, .skip_cert_common_name_check = w->skip_cert_common_name_check,
        .keep_alive_enable = w->keep_alive_enable, .keep_alive_idle = w->keep_alive_idle,
        .keep_alive_interval = w->keep_alive_interval, .keep_alive_count = w->keep_alive_count,
        .reconnect_timeout_ms = w->reconnect_timeout_ms, .network_timeout_ms = w->network_timeout_ms,
        .ping_interval_sec = (size_t)w->ping_interval_sec,
    };
    /* The name's old binding (if any) lets go; the old client lives on until reset. */
    client_slot_t *old = client_find(q->client);
    if (old) {
        old->name[0] = 0;
    }
    memcpy(c->name, q->client, sizeof c->name);
    memcpy(c->ev_name, q->client, sizeof c->ev_name);
    c->h = esp_websocket_client_init(&cfg);
    if (c->h) {
        esp_websocket_register_events(c->h, WEBSOCKET_EVENT_ANY, on_event, c);
        if (q->n_reactions > 0) {
            c->reactions = calloc((size_t)q->n_reactions, sizeof *c->reactions);
            if (!c->reactions) {
                send_err(q->id, "out of memory");
                return;
            }
        }
        for (int i = 0; i < q->n_reactions; i++) {
            reaction_t *r = &c->reactions[i];
            r->slot = c;
            r->index = i + 1;
            r->r = q->reactions[i];
            memset(&q->reactions[i], 0, sizeof q->reactions[i]);
            r->reasm.max = MAX_REASSEMBLED;
            c->n_reactions++;
            esp_websocket_register_events(c->h, WEBSOCKET_EVENT_ANY, on_reaction, r);
        }
    }
    send_resp(q->id, c->h ? 1 : 0);
}

static void op_call(ac_request_t *q)
{
    client_slot_t *c = client_find(q->client);
    if (!c) {
        send_err(q->id, "no client named \"%s\"", q->client);
        return;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    char err[200];
    if (q->call.data.kind != AC_SRC_NONE && !take_bytes(&q->call.data, &data, &len, err, sizeof err)) {
        send_err(q->id, "%s", err);
        return;
    }
    esp_websocket_client_handle_t h = c->h;
    if (q->background) {
        bg_call_t *b = calloc(1, sizeof *b);
        if (!b) {
            free(data);
            send_err(q->id, "out of memory");
            return;
        }
        b->id = q->id;
        b->slot = c;
        b->h = h;
        b->call = q->call;
        memset(&q->call, 0, sizeof q->call);
        b->data = data;
        b->len = len;
        ac_buf_t out = {0};
        ac_body_resp(&out, "resp", q->id, true, 0, NULL, true);
        out_body(&out);
        if (xTaskCreate(bg_task, "wsim-bg", 8192, b, tskIDLE_PRIORITY + 5, NULL) != pdPASS) {
            ac_buf_t d = {0};
            ac_body_resp(&d, "done", q->id, false, 0, "cannot start a task for the background call", false);
            out_body(&d);
            ac_call_free(&b->call);
            free(b->data);
            free(b);
        }
        return;
    }
    int64_t ret = make_call(h, &q->call, data, len);
    after_call(c, h, q->call.kind, ret);
    free(data);
    send_resp(q->id, ret);
}

static void op_data(ac_request_t *q)
{
    staged_t *b = buf_find(q->buf);
    size_t cur = b ? b->len : 0;
    if (q->offset != cur) {
        send_err(q->id, "buffer %" PRIu32 ": chunk at %" PRIu64 ", the buffer holds %zu bytes", q->buf, q->offset,
                 cur);
        return;
    }
    if (cur + q->bytes_len > MAX_STAGED_BUFFER || s_staged_total + q->bytes_len > MAX_STAGED_TOTAL) {
        send_err(q->id, "buffer %" PRIu32 ": over the limit (%u bytes each, %u in all)", q->buf,
                 (unsigned)MAX_STAGED_BUFFER, (unsigned)MAX_STAGED_TOTAL);
        return;
    }
    if (!b) {
        for (int i = 0; i < MAX_BUFFERS && !b; i++) {
            if (!s_bufs[i].used) {
                b = &s_bufs[i];
                b->used = true;
                b->id = q->buf;
            }
        }
        if (!b) {
            send_err(q->id, "buffer %" PRIu32 ": no room for another buffer (%d at most)", q->buf, MAX_BUFFERS);
            return;
        }
    }
    uint8_t *p = realloc(b->p, b->len + q->bytes_len + 1);
    if (!p) {
        send_err(q->id, "buffer %" PRIu32 ": out of memory", q->buf);
        return;
    }
    memcpy(p + b->len, q->bytes, q->bytes_len);
    b->p = p;
    b->len += q->bytes_len;
    s_staged_total += q->bytes_len;
    send_resp(q->id, (int64_t)b->len);
}

static void handle_request(ac_request_t *q)
{
    switch (q->op) {
    case AC_OP_HELLO:
        send_resp(q->id, 0);
        send_hello();
        break;
    case AC_OP_RESET:
        op_reset(q);
        break;
    case AC_OP_INIT:
        op_init(q);
        break;
    case AC_OP_CALL:
        op_call(q);
        break;
    case AC_OP_DATA:
        op_data(q);
        break;
    case AC_OP_DESTROY_ALL:
        destroy_all();
        send_resp(q->id, 0);
        break;
    }
}

static void on_line(void *ctx, const uint8_t *line, size_t len, bool too_long, size_t total)
{
    (void)ctx;
    (void)total;
    if (too_long) {
        ESP_LOGW(TAG, "dropped an over-long line (%zu bytes)", total);
        return;
    }
    ac_line_t l = ac_classify(line, len, MAX_LINE);
    if (l.kind != AC_LINE_FRAME) {
        if (l.kind != AC_LINE_LOG) {
            ESP_LOGW(TAG, "garbled line from the host: %s", l.why ? l.why : "?");
        }
        return;
    }
    ac_request_t q;
    char err[200];
    ac_parse_result_t r = ac_parse_request(l.body, l.body_len, &q, err, sizeof err);
    if (r == AC_PARSE_OK) {
        handle_request(&q);
    } else if (r == AC_PARSE_REFUSED) {
        send_err(q.id, "%s", err);
    } else {
        ESP_LOGW(TAG, "garbled request: %s", err);
    }
    ac_request_free(&q);
}

void app_main(void)
{
    s_t0_us = esp_timer_get_time();
    s_out_lock = xSemaphoreCreateRecursiveMutex();
    agent_io_init();
    esp_log_set_vprintf(log_vprintf);
    /* On a device IDF's start-up does this; on linux the app must (TLS needs it). */
    if (psa_crypto_init() != PSA_SUCCESS) {
        ESP_LOGE(TAG, "psa_crypto_init() failed");
    }
    agent_io_network_up();
    ac_splitter_t sp;
    if (!ac_splitter_init(&sp, MAX_LINE)) {
        ESP_LOGE(TAG, "out of memory");
        return;
    }
    send_hello();
    static uint8_t buf[1024];
    for (;;) {
        int n = agent_io_read(buf, sizeof buf);
        if (n < 0) {
            break; /* end of input (linux: the host closed stdin) */
        }
        if (n > 0) {
            ac_splitter_push(&sp, buf, (size_t)n, on_line, NULL);
        }
    }
    destroy_all();
    agent_io_exit();
}
