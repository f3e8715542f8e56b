/* agent_io for a board: the protocol on the console UART, Wi-Fi from Kconfig. */
#include "sdkconfig.h"
#if !CONFIG_IDF_TARGET_LINUX
#include <string.h>

#include "agent_io.h"
#include "driver/uart.h"
#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_wifi.h"
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "nvs_flash.h"

#define UART_NUM CONFIG_WSIM_AGENT_UART_NUM
#define WIFI_UP BIT0

static const char *TAG = "wsim-agent";
static EventGroupHandle_t s_wifi;

void agent_io_init(void)
{
    /* A receive buffer of a whole line: the host sends one request at a time (§3.2). */
    uart_driver_install(UART_NUM, CONFIG_WSIM_AGENT_MAX_LINE * 2 + 256, 0, 0, NULL, 0);
}

static void on_wifi(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    (void)arg;
    (void)data;
    if (base == WIFI_EVENT && (id == WIFI_EVENT_STA_START || id == WIFI_EVENT_STA_DISCONNECTED)) {
        esp_wifi_connect();
    } else if (base == IP_EVENT && id == IP_EVENT_STA_GOT_IP) {
        xEventGroupSetBits(s_wifi, WIFI_UP);
    }
}

void agent_io_network_up(void)
{
    esp_err_t r = nvs_flash_init();
    if (r == ESP_ERR_NVS_NO_FREE_PAGES || r == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        nvs_flash_erase();
        nvs_flash_init();
    }
    esp_netif_init();
    esp_event_loop_create_default();
    esp_netif_create_default_wifi_sta();
    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    esp_wifi_init(&cfg);
    s_wifi = xEventGroupCreate();
    esp_event_handler_register(WIFI_EVENT, ESP_EVENT_ANY_ID, on_wifi, NULL);
    esp_event_handler_register(IP_EVENT, IP_EVENT_STA_GOT_IP, on_wifi, NULL);
    wifi_config_t wc = {0};
    strncpy((char *)wc.sta.ssid, CONFIG_WSIM_AGENT_WIFI_SSID, sizeof wc.sta.ssid);
    strncpy((char *)wc.sta.password, CONFIG_WSIM_AGENT_WIFI_PASSWORD, sizeof wc.sta.password);
    esp_wifi_set_mode(WIFI_MODE_STA);
    esp_wifi_set_config(WIFI_IF_STA, &wc);
    esp_wifi_set_ps(WIFI_PS_NONE);
    esp_wifi_start();
    EventBits_t b = xEventGroupWaitBits(s_wifi, WIFI_UP, pdFALSE, pdTRUE,
                                        pdMS_TO_TICKS(CONFIG_WSIM_AGENT_WIFI_TIMEOUT_MS));
    if (!(b & WIFI_UP)) {
        ESP_LOGE(TAG, "no Wi-Fi connection to \"%s\" within %d ms (the agent answers anyway)",
                 CONFIG_WSIM_AGENT_WIFI_SSID, CONFIG_WSIM_AGENT_WIFI_TIMEOUT_MS);
    }
}

void agent_io_write(const void *p, size_t n)
{
    uart_write_bytes(UART_NUM, p, n);
}

int agent_io_read(uint8_t *buf, size_t cap)
{
    int n = uart_read_bytes(UART_NUM, buf, cap, pdMS_TO_TICKS(20));
    return n < 0 ? 0 : n;
}

void agent_io_exit(void)
{
}
#endif
