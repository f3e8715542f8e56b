/*
 * The wsim agent protocol (docs/agent-protocol.md, version 1) in plain C: line framing
 * (`@W1 <seq> <crc32> <json>`), CRC-32, classification of received lines, a line
 * splitter that never holds more than max_line bytes, base64, a small JSON reader and
 * writer, parsing of every request into a C struct and encoding of every agent message.
 *
 * No ESP-IDF header is used here, so the codec compiles and is tested on any host
 * (tests/firmware_codec.rs). SHA-256 comes from the caller (mbedTLS/PSA in the glue).
 */
#ifndef AGENT_CODEC_H
#define AGENT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AC_PROTO 1
#define AC_DEFAULT_MAX_LINE 4096
#define AC_MAX_MAX_LINE (1u << 20)
#define AC_MAX_CLIENT_NAME 64
#define AC_MAX_JSON_DEPTH 32

/* ---- CRC-32 and base64 ---------------------------------------------------------------- */

/* IEEE 802.3 / zlib crc32 (crc32("123456789") == 0xcbf43926). */
uint32_t ac_crc32(const uint8_t *data, size_t len);

/* Length of the base64 text for n bytes (without a NUL). */
size_t ac_b64_len(size_t n);
/* Writes the base64 of data to out (ac_b64_len(n) bytes plus a NUL). */
void ac_b64_encode(const uint8_t *data, size_t n, char *out);
/* Decodes standard padded base64 (RFC 4648 §4). Returns a malloc'd buffer (NUL-terminated
 * after *out_len bytes) or NULL when the text is not valid base64 (or out of memory). */
uint8_t *ac_b64_decode(const char *s, size_t n, size_t *out_len);

/* ---- growable output buffer and JSON writer ------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
    bool oom; /* an allocation failed: the content is incomplete */
} ac_buf_t;

void ac_buf_put(ac_buf_t *b, const void *s, size_t n);
void ac_buf_puts(ac_buf_t *b, const char *s);
void ac_buf_free(ac_buf_t *b);
/* JSON string (quotes included): escapes ", \ and control bytes; other bytes as given. */
void ac_json_str(ac_buf_t *b, const char *s, size_t n);
void ac_json_i64(ac_buf_t *b, int64_t v);
void ac_json_u64(ac_buf_t *b, uint64_t v);
/* `"key":` */
void ac_json_key(ac_buf_t *b, const char *key);
/* A base64 JSON string of bytes. */
void ac_json_b64(ac_buf_t *b, const uint8_t *data, size_t n);

/* ---- JSON reader ---------------------------------------------------------------------- */

typedef enum { AJ_NULL, AJ_BOOL, AJ_NUM, AJ_STR, AJ_ARR, AJ_OBJ } aj_type_t;

typedef struct {
    aj_type_t type;
    bool b;
    bool is_int;   /* the number is an integer that fits int64 (no fraction or exponent) */
    bool is_u64;   /* an integer above INT64_MAX that fits uint64 (in u) */
    int64_t i;
    uint64_t u;
    double d;
    char *s;       /* decoded string (NUL-terminated; may contain NUL bytes, see slen) */
    size_t slen;
    const char *key; /* this node's key inside an object (points into a parent's key) */
    size_t keylen;
    int first, next; /* child / sibling node indices, -1 when none */
    int count;       /* children */
} aj_node_t;

typedef struct {
    aj_node_t *nodes;
    int n, cap;
    char *strings; /* all decoded strings and keys */
    size_t slen, scap;
    char err[96];
} aj_doc_t;

/* Parses one JSON value that spans the whole text (whitespace around it allowed). Returns
 * the root index (0) or -1 with doc->err set. Free with aj_free. */
int aj_parse(aj_doc_t *doc, const char *text, size_t len);
void aj_free(aj_doc_t *doc);
/* The member `key` of object node `obj`, or -1. */
int aj_get(const aj_doc_t *doc, int obj, const char *key);

/* ---- lines ------------------------------------------------------------------------------ */

typedef enum {
    AC_LINE_LOG,      /* does not start with "@W" */
    AC_LINE_FRAME,    /* a protocol line of this version whose checksum holds */
    AC_LINE_GARBLED,  /* starts with "@W" and fails a check (why: a text) */
    AC_LINE_OTHER_VERSION, /* the marker of another major version (garbled) */
} ac_line_kind_t;

typedef struct {
    ac_line_kind_t kind;
    uint32_t seq;
    const char *body;   /* points into the line */
    size_t body_len;
    const char *why;    /* for garbled lines */
    uint32_t version;   /* for AC_LINE_OTHER_VERSION */
} ac_line_t;

/* Classifies one line (without its \n; a trailing \r is dropped here). */
ac_line_t ac_classify(const uint8_t *line, size_t len, size_t max_line);

/* Appends `@W1 <seq> <crc> <body>\n` to out. */
void ac_frame(ac_buf_t *out, uint32_t seq, const char *body, size_t body_len);

/* Splits a byte stream at \n holding at most max_line+1 bytes of a line; the rest of an
 * over-long line is discarded (counted). */
typedef struct {
    uint8_t *buf;
    size_t max, len, dropped;
} ac_splitter_t;

/* Called per complete line; too_long: the line was over max_line bytes (line holds its
 * first max bytes, total its whole length). */
typedef void (*ac_line_cb)(void *ctx, const uint8_t *line, size_t len, bool too_long, size_t total);

bool ac_splitter_init(ac_splitter_t *s, size_t max_line);
void ac_splitter_free(ac_splitter_t *s);
void ac_splitter_push(ac_splitter_t *s, const uint8_t *data, size_t n, ac_line_cb cb, void *ctx);
/* The unfinished line at the end of the stream (if any) goes to cb. */
void ac_splitter_flush(ac_splitter_t *s, ac_line_cb cb, void *ctx);

/* ---- requests ----------------------------------------------------------------------------- */

typedef enum { AC_OP_HELLO, AC_OP_RESET, AC_OP_INIT, AC_OP_CALL, AC_OP_DATA, AC_OP_DESTROY_ALL } ac_op_t;

/* Bytes: inline (owned) or a staged buffer. */
typedef enum { AC_SRC_NONE, AC_SRC_B64, AC_SRC_BUF, AC_SRC_PKI } ac_src_kind_t;
typedef struct {
    ac_src_kind_t kind;
    uint8_t *bytes; /* AC_SRC_B64: decoded, NUL-terminated after len */
    size_t len;
    uint32_t buf;   /* AC_SRC_BUF */
    char *pki;      /* AC_SRC_PKI */
} ac_bytes_t;

typedef enum {
    AC_CALL_START, AC_CALL_STOP, AC_CALL_DESTROY, AC_CALL_DESTROY_ON_EXIT, AC_CALL_IS_CONNECTED,
    AC_CALL_GET_PING_INTERVAL_SEC, AC_CALL_GET_RECONNECT_TIMEOUT, AC_CALL_CLOSE, AC_CALL_SEND_FIN,
    AC_CALL_CLOSE_WITH_CODE, AC_CALL_SEND_TEXT, AC_CALL_SEND_BIN, AC_CALL_SEND_TEXT_PARTIAL,
    AC_CALL_SEND_BIN_PARTIAL, AC_CALL_SEND_CONT_MSG, AC_CALL_SEND_WITH_OPCODE, AC_CALL_SET_URI,
    AC_CALL_SET_HEADERS, AC_CALL_APPEND_HEADER, AC_CALL_SET_PING_INTERVAL_SEC,
    AC_CALL_SET_RECONNECT_TIMEOUT, AC_CALL_COUNT
} ac_call_kind_t;

/* The C function's name without "esp_websocket_client_". */
const char *ac_call_name(ac_call_kind_t k);
/* Whether a handler (reaction) may make this call. */
bool ac_handler_may_call(ac_call_kind_t k);

typedef struct {
    ac_call_kind_t kind;
    ac_bytes_t data;   /* the payload of sends */
    uint32_t timeout;
    int32_t code;
    uint8_t *reason;   /* decoded close reason (owned) */
    size_t reason_len;
    uint8_t opcode;
    char *uri, *headers, *key, *value;
    uint64_t sec;      /* set_ping_interval_sec */
    int32_t ms;        /* set_reconnect_timeout */
} ac_call_t;

typedef enum { AC_EV_BEGIN, AC_EV_BEFORE_CONNECT, AC_EV_HEADER_RECEIVED, AC_EV_CONNECTED, AC_EV_DATA,
               AC_EV_ERROR, AC_EV_DISCONNECTED, AC_EV_CLOSED, AC_EV_FINISH, AC_EV_COUNT } ac_event_t;
const char *ac_event_name(ac_event_t e);
int ac_event_from_name(const char *s); /* -1 if unknown */

typedef enum { AC_ERR_NONE, AC_ERR_TCP_TRANSPORT, AC_ERR_PONG_TIMEOUT, AC_ERR_HANDSHAKE,
               AC_ERR_SERVER_CLOSE, AC_ERR_COUNT } ac_error_type_t;
const char *ac_error_type_name(ac_error_type_t e);
int ac_error_type_from_name(const char *s);

typedef struct {
    ac_event_t event;
    bool has_op_code, has_fin, has_data_len, has_payload_len, has_payload_offset, has_text;
    uint8_t op_code;
    bool fin;
    uint64_t data_len;
    int32_t payload_len, payload_offset;
    char *text;
    size_t text_len;
} ac_match_t;

typedef enum { AC_REACT_CALL, AC_REACT_ECHO, AC_REACT_CLOSE_AFTER } ac_react_kind_t;
typedef struct {
    ac_react_kind_t kind;
    ac_match_t on;       /* call */
    ac_call_t call;      /* call */
    uint32_t timeout;    /* echo, close_after */
    uint64_t messages;   /* close_after */
    int32_t code;        /* close_after */
    uint8_t *reason;     /* close_after (owned) */
    size_t reason_len;
} ac_reaction_t;

typedef enum { AC_TRANSPORT_UNKNOWN, AC_TRANSPORT_OVER_TCP, AC_TRANSPORT_OVER_SSL } ac_transport_t;

/* esp_websocket_client_config_t on the wire (NULL / 0 / false when absent). */
typedef struct {
    char *uri, *host, *username, *password, *path, *task_name, *subprotocol, *user_agent,
         *headers, *cert_common_name;
    int32_t port, task_prio, task_stack, buffer_size, pingpong_timeout_sec, keep_alive_idle,
            keep_alive_interval, keep_alive_count, reconnect_timeout_ms, network_timeout_ms;
    bool task_core_id_set;
    int32_t task_core_id;
    bool disable_auto_reconnect, enable_close_reconnect, disable_pingpong_discon,
         use_global_ca_store, skip_cert_common_name_check, keep_alive_enable;
    uint64_t user_context, cert_len, client_cert_len, client_key_len, ping_interval_sec;
    ac_transport_t transport;
    ac_bytes_t cert_pem, client_cert, client_key;
} ac_config_t;

#define AC_MAX_REACTIONS 16
#define AC_MAX_SDKCONFIG 32

typedef struct {
    uint64_t id;
    ac_op_t op;
    char client[AC_MAX_CLIENT_NAME + 1]; /* init, call */
    /* reset */
    char *sdkconfig[AC_MAX_SDKCONFIG];
    int n_sdkconfig;
    ac_bytes_t global_ca;
    bool has_seed;
    uint64_t seed;
    /* init */
    ac_config_t config;
    ac_reaction_t reactions[AC_MAX_REACTIONS];
    int n_reactions;
    /* call */
    ac_call_t call;
    bool background;
    /* data */
    uint32_t buf;
    uint64_t offset;
    uint8_t *bytes;
    size_t bytes_len;
} ac_request_t;

typedef enum {
    AC_PARSE_OK,       /* *req holds the request */
    AC_PARSE_GARBLED,  /* not a request at all: answer nothing */
    AC_PARSE_REFUSED,  /* a request with this id whose content is wrong: answer err */
} ac_parse_result_t;

/* Parses a frame's body. On AC_PARSE_REFUSED req->id is set and err holds why. Free a
 * parsed (or refused) request with ac_request_free. */
ac_parse_result_t ac_parse_request(const char *body, size_t len, ac_request_t *req, char *err, size_t errlen);
void ac_request_free(ac_request_t *req);
/* Frees the owned parts of a piece of a request moved out of it. */
void ac_bytes_free(ac_bytes_t *b);
void ac_call_free(ac_call_t *c);
void ac_config_free(ac_config_t *c);
void ac_reaction_free(ac_reaction_t *x);

/* ---- agent messages (each appends one whole line, framed with seq) ---------------------- */

typedef struct {
    const char *agent, *chip, *idf, *client;
    uint64_t heap;
    bool tls_insecure, skip_server_cert_verify, have_time_date, dynamic_buffer, separate_tx_lock;
    uint32_t tx_lock_timeout_ms, freertos_hz;
    uint32_t max_line, inline_max;
    const char *const *abilities;
    int n_abilities;
} ac_hello_t;

typedef struct {
    int32_t esp_tls_last_esp_err, esp_tls_stack_err, esp_tls_cert_verify_flags;
    ac_error_type_t error_type;
    int32_t esp_ws_handshake_status_code, esp_transport_sock_errno;
} ac_error_handle_t;

typedef struct {
    const char *client;
    uint64_t ms;
    ac_event_t event;
    uint8_t op_code;
    bool fin;
    uint64_t data_len;
    int32_t payload_len, payload_offset, close_status_code;
    ac_error_handle_t error_handle;
    const uint8_t *data;        /* data_len bytes (may be NULL when data_len is 0) */
    const uint8_t *sha256;      /* 32 bytes: used when data_len > inline_max */
} ac_event_msg_t;

/* The bodies (no framing), for tests and for callers that frame themselves. */
void ac_body_hello(ac_buf_t *b, const ac_hello_t *h);
void ac_body_resp(ac_buf_t *b, const char *t, uint64_t id, bool ok, int64_t ret, const char *err, bool pending);
/* inline_max: payloads up to this many bytes go inline; longer ones as e->sha256. */
void ac_body_event(ac_buf_t *b, const ac_event_msg_t *e, size_t inline_max);
void ac_body_hcall(ac_buf_t *b, const char *client, uint64_t ms, unsigned reaction, const char *function, int64_t ret);

/* Framed lines (bodies as above). */
void ac_msg_hello(ac_buf_t *out, uint32_t seq, const ac_hello_t *h);
void ac_msg_resp(ac_buf_t *out, uint32_t seq, uint64_t id, int64_t ret, bool pending);
void ac_msg_err(ac_buf_t *out, uint32_t seq, uint64_t id, const char *err);
void ac_msg_done(ac_buf_t *out, uint32_t seq, uint64_t id, bool ok, int64_t ret, const char *err);
void ac_msg_event(ac_buf_t *out, uint32_t seq, const ac_event_msg_t *e, size_t inline_max);
void ac_msg_hcall(ac_buf_t *out, uint32_t seq, const char *client, uint64_t ms, unsigned reaction,
                  const char *function, int64_t ret);

/* Reassembly of complete text/binary messages from DATA events (echo, close_after),
 * with the model's rules: control frames skipped, a new connection drops a partial
 * message, messages longer than max are counted but not kept. */
typedef struct {
    size_t max;
    int opcode; /* 0: none in progress */
    uint8_t *data;
    size_t len, cap;
    bool too_long;
} ac_reasm_t;

typedef enum { AC_REASM_PENDING, AC_REASM_MESSAGE, AC_REASM_TOO_LONG } ac_reasm_result_t;
/* Feeds one event; on AC_REASM_MESSAGE *opcode and the message (r->data, *len) are set
 * and stay valid until the next push. */
ac_reasm_result_t ac_reasm_push(ac_reasm_t *r, ac_event_t ev, uint8_t op_code, bool fin,
                                const uint8_t *data, size_t data_len, int32_t payload_len,
                                int32_t payload_offset, int *opcode, size_t *len);
void ac_reasm_free(ac_reasm_t *r);

/* Whether an event matches a reaction's `on`. */
bool ac_match(const ac_match_t *m, ac_event_t ev, uint8_t op_code, bool fin, size_t data_len,
              int32_t payload_len, int32_t payload_offset, const uint8_t *data);

#ifdef __cplusplus
}
#endif
#endif
