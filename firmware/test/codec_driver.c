/*
 * codec_driver: drives firmware/main/agent_codec.c from tests/firmware_codec.rs. Reads one
 * command per line on stdin and answers each with exactly one line on stdout:
 *
 *   crc HEX              -> 8 hex digits
 *   b64e HEX             -> base64 text ("=" alone for empty input)
 *   b64d [TEXT]          -> "ok HEX" | "bad"
 *   classify MAX HEX     -> "log" | "frame SEQ BODYHEX" | "garbled WHY" | "other VERSION"
 *   req HEX              -> the line classified and parsed as a request, re-encoded by the C
 *                           JSON writer: "ok LINE" | "refused ID ERR" | "garbled WHY"
 *   agent HEX            -> an agent message (from the Rust encoder) read with the C JSON
 *                           reader and written again by the C encoders: "ok LINE" | "bad WHY"
 *   split MAX HEX        -> the splitter's lines: "line HEX" / "long TOTAL HEX", joined by ";"
 *   reasm MAX EVENTS     -> reassembly of "event,op,fin,offset,payload_len,HEX" items joined
 *                           by ";": results "pending" | "msg OP HEX" | "long OP LEN"
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_codec.h"

static uint8_t *unhex(const char *s, size_t *n)
{
    size_t l = strlen(s);
    uint8_t *p = malloc(l / 2 + 1);
    for (size_t i = 0; i + 1 < l; i += 2) {
        unsigned v;
        sscanf(s + i, "%2x", &v);
        p[i / 2] = (uint8_t)v;
    }
    *n = l / 2;
    p[*n] = 0;
    return p;
}

static void puthex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        printf("%02x", p[i]);
    }
}

/* ---- requests back to JSON (same keys as the Rust encoder) ------------------------------- */

static void w_bytes(ac_buf_t *b, const ac_bytes_t *x)
{
    ac_buf_puts(b, "{");
    if (x->kind == AC_SRC_B64) {
        ac_json_key(b, "b64");
        ac_json_b64(b, x->bytes, x->len);
    } else if (x->kind == AC_SRC_BUF) {
        ac_json_key(b, "buf");
        ac_json_u64(b, x->buf);
    } else if (x->kind == AC_SRC_PKI) {
        ac_json_key(b, "pki");
        ac_json_str(b, x->pki, strlen(x->pki));
    }
    ac_buf_puts(b, "}");
}

static void w_str(ac_buf_t *b, const char *k, const char *v)
{
    if (v) {
        ac_buf_puts(b, ",");
        ac_json_key(b, k);
        ac_json_str(b, v, strlen(v));
    }
}

static void w_i64(ac_buf_t *b, const char *k, int64_t v)
{
    ac_buf_puts(b, ",");
    ac_json_key(b, k);
    ac_json_i64(b, v);
}

static void w_call(ac_buf_t *b, const ac_call_t *c)
{
    ac_json_key(b, "call");
    ac_json_str(b, ac_call_name(c->kind), strlen(ac_call_name(c->kind)));
    if (c->data.kind != AC_SRC_NONE) {
        ac_buf_puts(b, ",\"data\":");
        w_bytes(b, &c->data);
    }
    switch (c->kind) {
    case AC_CALL_CLOSE: case AC_CALL_SEND_FIN: case AC_CALL_SEND_TEXT: case AC_CALL_SEND_BIN:
    case AC_CALL_SEND_TEXT_PARTIAL: case AC_CALL_SEND_BIN_PARTIAL: case AC_CALL_SEND_CONT_MSG:
        w_i64(b, "timeout", c->timeout);
        break;
    case AC_CALL_CLOSE_WITH_CODE:
        w_i64(b, "timeout", c->timeout);
        w_i64(b, "code", c->code);
        ac_buf_puts(b, ",\"reason\":");
        ac_json_b64(b, c->reason, c->reason_len);
        break;
    case AC_CALL_SEND_WITH_OPCODE:
        w_i64(b, "timeout", c->timeout);
        w_i64(b, "opcode", c->opcode);
        break;
    case AC_CALL_SET_PING_INTERVAL_SEC:
        ac_buf_puts(b, ",\"sec\":");
        ac_json_u64(b, c->sec);
        break;
    case AC_CALL_SET_RECONNECT_TIMEOUT:
        w_i64(b, "ms", c->ms);
        break;
    default:
        break;
    }
    w_str(b, "uri", c->uri);
    w_str(b, "headers", c->headers);
    w_str(b, "key", c->key);
    w_str(b, "value", c->value);
}

static void w_config(ac_buf_t *b, const ac_config_t *c)
{
    ac_buf_puts(b, "{\"_\":0");
    w_str(b, "uri", c->uri);
    w_str(b, "host", c->host);
    w_str(b, "username", c->username);
    w_str(b, "password", c->password);
    w_str(b, "path", c->path);
    w_str(b, "task_name", c->task_name);
    w_str(b, "subprotocol", c->subprotocol);
    w_str(b, "user_agent", c->user_agent);
    w_str(b, "headers", c->headers);
    w_str(b, "cert_common_name", c->cert_common_name);
    struct { const char *k; int64_t v; } ints[] = {
        {"port", c->port}, {"task_prio", c->task_prio}, {"task_stack", c->task_stack},
        {"buffer_size", c->buffer_size}, {"pingpong_timeout_sec", c->pingpong_timeout_sec},
        {"keep_alive_idle", c->keep_alive_idle}, {"keep_alive_interval", c->keep_alive_interval},
        {"keep_alive_count", c->keep_alive_count}, {"reconnect_timeout_ms", c->reconnect_timeout_ms},
        {"network_timeout_ms", c->network_timeout_ms}, {"user_context", (int64_t)c->user_context},
        {"cert_len", (int64_t)c->cert_len}, {"client_cert_len", (int64_t)c->client_cert_len},
        {"client_key_len", (int64_t)c->client_key_len}, {"ping_interval_sec", (int64_t)c->ping_interval_sec},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (ints[i].v) {
            w_i64(b, ints[i].k, ints[i].v);
        }
    }
    if (c->task_core_id_set) {
        w_i64(b, "task_core_id", c->task_core_id);
    }
    struct { const char *k; bool v; } bools[] = {
        {"disable_auto_reconnect", c->disable_auto_reconnect}, {"enable_close_reconnect", c->enable_close_reconnect},
        {"disable_pingpong_discon", c->disable_pingpong_discon}, {"use_global_ca_store", c->use_global_ca_store},
        {"skip_cert_common_name_check", c->skip_cert_common_name_check}, {"keep_alive_enable", c->keep_alive_enable},
    };
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
        if (bools[i].v) {
            ac_buf_puts(b, ",");
            ac_json_key(b, bools[i].k);
            ac_buf_puts(b, "true");
        }
    }
    static const char *const tr[] = {"unknown", "over_tcp", "over_ssl"};
    if (c->transport != AC_TRANSPORT_UNKNOWN) {
        w_str(b, "transport", tr[c->transport]);
    }
    const ac_bytes_t *certs[] = {&c->cert_pem, &c->client_cert, &c->client_key};
    static const char *const cn[] = {"cert_pem", "client_cert", "client_key"};
    for (int i = 0; i < 3; i++) {
        if (certs[i]->kind != AC_SRC_NONE) {
            ac_buf_puts(b, ",");
            ac_json_key(b, cn[i]);
            w_bytes(b, certs[i]);
        }
    }
    ac_buf_puts(b, "}");
}

static void w_request(ac_buf_t *b, const ac_request_t *q)
{
    static const char *const ops[] = {"hello", "reset", "init", "call", "data", "destroy_all"};
    ac_buf_puts(b, "{\"t\":\"req\",\"id\":");
    ac_json_u64(b, q->id);
    w_str(b, "op", ops[q->op]);
    switch (q->op) {
    case AC_OP_RESET:
        ac_buf_puts(b, ",\"sdkconfig\":[");
        for (int i = 0; i < q->n_sdkconfig; i++) {
            ac_buf_puts(b, i ? "," : "");
            ac_json_str(b, q->sdkconfig[i], strlen(q->sdkconfig[i]));
        }
        ac_buf_puts(b, "]");
        if (q->global_ca.kind != AC_SRC_NONE) {
            ac_buf_puts(b, ",\"global_ca\":");
            w_bytes(b, &q->global_ca);
        }
        if (q->has_seed) {
            ac_buf_puts(b, ",\"seed\":");
            ac_json_u64(b, q->seed);
        }
        break;
    case AC_OP_INIT:
        w_str(b, "client", q->client);
        ac_buf_puts(b, ",\"config\":");
        w_config(b, &q->config);
        ac_buf_puts(b, ",\"reactions\":[");
        for (int i = 0; i < q->n_reactions; i++) {
            const ac_reaction_t *r = &q->reactions[i];
            ac_buf_puts(b, i ? ",{" : "{");
            if (r->kind == AC_REACT_CALL) {
                const ac_match_t *m = &r->on;
                ac_buf_puts(b, "\"kind\":\"call\",\"on\":{\"event\":");
                ac_json_str(b, ac_event_name(m->event), strlen(ac_event_name(m->event)));
                if (m->has_op_code) w_i64(b, "op_code", m->op_code);
                if (m->has_fin) {
                    ac_buf_puts(b, m->fin ? ",\"fin\":true" : ",\"fin\":false");
                }
                if (m->has_data_len) w_i64(b, "data_len", (int64_t)m->data_len);
                if (m->has_payload_len) w_i64(b, "payload_len", m->payload_len);
                if (m->has_payload_offset) w_i64(b, "payload_offset", m->payload_offset);
                if (m->has_text) {
                    ac_buf_puts(b, ",\"text\":");
                    ac_json_str(b, m->text, m->text_len);
                }
                ac_buf_puts(b, "},\"call\":{");
                w_call(b, &r->call);
                ac_buf_puts(b, "}");
            } else if (r->kind == AC_REACT_ECHO) {
                ac_buf_puts(b, "\"kind\":\"echo\"");
                w_i64(b, "timeout", r->timeout);
            } else {
                ac_buf_puts(b, "\"kind\":\"close_after\",\"messages\":");
                ac_json_u64(b, r->messages);
                w_i64(b, "code", r->code);
                ac_buf_puts(b, ",\"reason\":");
                ac_json_b64(b, r->reason, r->reason_len);
                w_i64(b, "timeout", r->timeout);
            }
            ac_buf_puts(b, "}");
        }
        ac_buf_puts(b, "]");
        break;
    case AC_OP_CALL:
        w_str(b, "client", q->client);
        ac_buf_puts(b, ",");
        w_call(b, &q->call);
        if (q->background) {
            ac_buf_puts(b, ",\"background\":true");
        }
        break;
    case AC_OP_DATA:
        w_i64(b, "buf", q->buf);
        ac_buf_puts(b, ",\"offset\":");
        ac_json_u64(b, q->offset);
        ac_buf_puts(b, ",\"b64\":");
        ac_json_b64(b, q->bytes, q->bytes_len);
        break;
    default:
        break;
    }
    ac_buf_puts(b, "}");
}

/* ---- agent messages: read with the C reader, written by the C encoders -------------------- */

static int64_t g_i(aj_doc_t *d, int o, const char *k)
{
    int n = aj_get(d, o, k);
    return n >= 0 && d->nodes[n].type == AJ_NUM ? d->nodes[n].i : 0;
}

static uint64_t g_u(aj_doc_t *d, int o, const char *k)
{
    int n = aj_get(d, o, k);
    return n >= 0 && d->nodes[n].type == AJ_NUM ? d->nodes[n].u : 0;
}

static const char *g_s(aj_doc_t *d, int o, const char *k)
{
    int n = aj_get(d, o, k);
    return n >= 0 && d->nodes[n].type == AJ_STR ? d->nodes[n].s : NULL;
}

static bool g_b(aj_doc_t *d, int o, const char *k)
{
    int n = aj_get(d, o, k);
    return n >= 0 && d->nodes[n].type == AJ_BOOL && d->nodes[n].b;
}

static void cmd_agent(const char *hex)
{
    size_t n;
    uint8_t *line = unhex(hex, &n);
    ac_line_t l = ac_classify(line, n, AC_MAX_MAX_LINE);
    if (l.kind != AC_LINE_FRAME) {
        printf("bad %s\n", l.why ? l.why : "log");
        free(line);
        return;
    }
    aj_doc_t d;
    if (aj_parse(&d, l.body, l.body_len) < 0) {
        printf("bad %s\n", d.err);
        aj_free(&d);
        free(line);
        return;
    }
    const char *t = g_s(&d, 0, "t");
    ac_buf_t out = {0};
    if (!t) {
        printf("bad no t\n");
    } else if (!strcmp(t, "hello")) {
        int sk = aj_get(&d, 0, "sdkconfig");
        const char *ab[8];
        int na = 0;
        int an = aj_get(&d, 0, "abilities");
        for (int c = an >= 0 ? d.nodes[an].first : -1; c >= 0 && na < 8; c = d.nodes[c].next) {
            ab[na++] = d.nodes[c].s;
        }
        ac_hello_t h = {
            .agent = g_s(&d, 0, "agent"), .chip = g_s(&d, 0, "chip"), .idf = g_s(&d, 0, "idf"),
            .client = g_s(&d, 0, "client"), .heap = g_u(&d, 0, "heap"),
            .tls_insecure = g_b(&d, sk, "CONFIG_ESP_TLS_INSECURE"),
            .skip_server_cert_verify = g_b(&d, sk, "CONFIG_ESP_TLS_SKIP_SERVER_CERT_VERIFY"),
            .have_time_date = g_b(&d, sk, "CONFIG_MBEDTLS_HAVE_TIME_DATE"),
            .dynamic_buffer = g_b(&d, sk, "CONFIG_ESP_WS_CLIENT_ENABLE_DYNAMIC_BUFFER"),
            .separate_tx_lock = g_b(&d, sk, "CONFIG_ESP_WS_CLIENT_SEPARATE_TX_LOCK"),
            .tx_lock_timeout_ms = (uint32_t)g_u(&d, sk, "CONFIG_ESP_WS_CLIENT_TX_LOCK_TIMEOUT_MS"),
            .freertos_hz = (uint32_t)g_u(&d, sk, "CONFIG_FREERTOS_HZ"),
            .max_line = (uint32_t)g_u(&d, 0, "max_line"), .inline_max = (uint32_t)g_u(&d, 0, "inline_max"),
            .abilities = ab, .n_abilities = na,
        };
        ac_msg_hello(&out, l.seq, &h);
    } else if (!strcmp(t, "resp") || !strcmp(t, "done")) {
        const char *e = g_s(&d, 0, "err");
        if (!strcmp(t, "done")) {
            ac_msg_done(&out, l.seq, g_u(&d, 0, "id"), e == NULL, g_i(&d, 0, "ret"), e);
        } else if (e) {
            ac_msg_err(&out, l.seq, g_u(&d, 0, "id"), e);
        } else {
            ac_msg_resp(&out, l.seq, g_u(&d, 0, "id"), g_i(&d, 0, "ret"), g_b(&d, 0, "pending"));
        }
    } else if (!strcmp(t, "hcall")) {
        ac_msg_hcall(&out, l.seq, g_s(&d, 0, "client"), g_u(&d, 0, "ms"), (unsigned)g_u(&d, 0, "reaction"),
                     g_s(&d, 0, "function"), g_i(&d, 0, "ret"));
    } else if (!strcmp(t, "event")) {
        int eh = aj_get(&d, 0, "error_handle");
        const char *data = g_s(&d, 0, "data");
        const char *sha = g_s(&d, 0, "sha256");
        size_t dl = 0, sl = 0;
        uint8_t *bytes = data ? ac_b64_decode(data, strlen(data), &dl) : NULL;
        uint8_t *digest = sha ? unhex(sha, &sl) : NULL;
        uint64_t data_len = g_u(&d, 0, "data_len");
        ac_event_msg_t m = {
            .client = g_s(&d, 0, "client"), .ms = g_u(&d, 0, "ms"),
            .event = (ac_event_t)ac_event_from_name(g_s(&d, 0, "event")),
            .op_code = (uint8_t)g_u(&d, 0, "op_code"), .fin = g_b(&d, 0, "fin"), .data_len = data_len,
            .payload_len = (int32_t)g_i(&d, 0, "payload_len"), .payload_offset = (int32_t)g_i(&d, 0, "payload_offset"),
            .close_status_code = (int32_t)g_i(&d, 0, "close_status_code"),
            .error_handle = {
                .esp_tls_last_esp_err = (int32_t)g_i(&d, eh, "esp_tls_last_esp_err"),
                .esp_tls_stack_err = (int32_t)g_i(&d, eh, "esp_tls_stack_err"),
                .esp_tls_cert_verify_flags = (int32_t)g_i(&d, eh, "esp_tls_cert_verify_flags"),
                .error_type = (ac_error_type_t)ac_error_type_from_name(g_s(&d, eh, "error_type")),
                .esp_ws_handshake_status_code = (int32_t)g_i(&d, eh, "esp_ws_handshake_status_code"),
                .esp_transport_sock_errno = (int32_t)g_i(&d, eh, "esp_transport_sock_errno"),
            },
            .data = bytes, .sha256 = digest,
        };
        /* inline when the Rust side sent it inline; otherwise the digest */
        ac_msg_event(&out, l.seq, &m, sha ? (size_t)(data_len ? data_len - 1 : 0) : (size_t)data_len);
        free(bytes);
        free(digest);
    } else {
        printf("bad unknown t\n");
    }
    if (out.len) {
        printf("ok %.*s\n", (int)(out.len - 1), out.p);
    }
    ac_buf_free(&out);
    aj_free(&d);
    free(line);
}

static void cmd_req(const char *hex)
{
    size_t n;
    uint8_t *line = unhex(hex, &n);
    ac_line_t l = ac_classify(line, n, AC_MAX_MAX_LINE);
    if (l.kind != AC_LINE_FRAME) {
        printf("garbled %s\n", l.why ? l.why : "log");
        free(line);
        return;
    }
    ac_request_t q;
    char err[300];
    ac_parse_result_t r = ac_parse_request(l.body, l.body_len, &q, err, sizeof err);
    if (r == AC_PARSE_OK) {
        ac_buf_t b = {0}, out = {0};
        w_request(&b, &q);
        ac_frame(&out, l.seq, b.p, b.len);
        printf("ok %.*s\n", (int)(out.len - 1), out.p);
        ac_buf_free(&b);
        ac_buf_free(&out);
    } else if (r == AC_PARSE_REFUSED) {
        printf("refused %" PRIu64 " %s\n", q.id, err);
    } else {
        printf("garbled %s\n", err);
    }
    ac_request_free(&q);
    free(line);
}

static bool g_first;

static void split_cb(void *ctx, const uint8_t *line, size_t len, bool too_long, size_t total)
{
    (void)ctx;
    printf(g_first ? "" : ";");
    g_first = false;
    if (too_long) {
        printf("long %zu ", total);
    } else {
        printf("line ");
    }
    puthex(line, len);
}

int main(void)
{
    static char cmd[1 << 22];
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    while (fgets(cmd, sizeof cmd, stdin)) {
        cmd[strcspn(cmd, "\n")] = 0;
        char *arg = strchr(cmd, ' ');
        if (arg) {
            *arg++ = 0;
        } else {
            arg = cmd + strlen(cmd);
        }
        if (!strcmp(cmd, "crc")) {
            size_t n;
            uint8_t *p = unhex(arg, &n);
            printf("%08" PRIx32 "\n", ac_crc32(p, n));
            free(p);
        } else if (!strcmp(cmd, "b64e")) {
            size_t n;
            uint8_t *p = unhex(arg, &n);
            char *t = malloc(ac_b64_len(n) + 1);
            ac_b64_encode(p, n, t);
            printf("%s\n", n ? t : "=");
            free(t);
            free(p);
        } else if (!strcmp(cmd, "b64d")) {
            size_t n;
            uint8_t *p = ac_b64_decode(arg, strlen(arg), &n);
            if (p) {
                printf("ok ");
                puthex(p, n);
                printf("\n");
                free(p);
            } else {
                printf("bad\n");
            }
        } else if (!strcmp(cmd, "classify")) {
            size_t max = strtoul(arg, &arg, 10), n;
            uint8_t *p = unhex(arg + 1, &n);
            ac_line_t l = ac_classify(p, n, max);
            switch (l.kind) {
            case AC_LINE_LOG: printf("log\n"); break;
            case AC_LINE_FRAME:
                printf("frame %" PRIu32 " ", l.seq);
                puthex((const uint8_t *)l.body, l.body_len);
                printf("\n");
                break;
            case AC_LINE_GARBLED: printf("garbled %s\n", l.why); break;
            case AC_LINE_OTHER_VERSION: printf("other %" PRIu32 "\n", l.version); break;
            }
            free(p);
        } else if (!strcmp(cmd, "req")) {
            cmd_req(arg);
        } else if (!strcmp(cmd, "agent")) {
            cmd_agent(arg);
        } else if (!strcmp(cmd, "split")) {
            size_t max = strtoul(arg, &arg, 10), n;
            uint8_t *p = unhex(arg + 1, &n);
            ac_splitter_t s;
            ac_splitter_init(&s, max);
            g_first = true;
            ac_splitter_push(&s, p, n, split_cb, NULL);
            ac_splitter_flush(&s, split_cb, NULL);
            printf("\n");
            ac_splitter_free(&s);
            free(p);
        } else if (!strcmp(cmd, "reasm")) {
            size_t max = strtoul(arg, &arg, 10);
            ac_reasm_t r = {.max = max};
            bool first = true;
            for (char *it = strtok(arg + 1, ";"); it; it = strtok(NULL, ";")) {
                int ev, op, fin, off, pl;
                char hx[4096] = "";
                sscanf(it, "%d,%d,%d,%d,%d,%4095s", &ev, &op, &fin, &off, &pl, hx);
                size_t n;
                uint8_t *p = unhex(hx, &n);
                int mop = 0;
                size_t len = 0;
                ac_reasm_result_t res = ac_reasm_push(&r, (ac_event_t)ev, (uint8_t)op, fin != 0, p, n, pl, off, &mop, &len);
                printf(first ? "" : ";");
                first = false;
                if (res == AC_REASM_PENDING) {
                    printf("pending");
                } else if (res == AC_REASM_MESSAGE) {
                    printf("msg %d ", mop);
                    puthex(r.data, len);
                } else {
                    printf("long %d %zu", mop, len);
                }
                free(p);
            }
            printf("\n");
            ac_reasm_free(&r);
        } else {
            printf("unknown command\n");
        }
    }
    return 0;
}
