//! How the harness's dashboards open their WebSockets: shared by the
//! fan-out scenario and `fanout-floor`, so the floor is measured with the
//! same client.

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// tungstenite zero-fills its whole read buffer before every read
/// (snapview/tungstenite-rs#547): at the default 128 KiB that was an eighth
/// of the machine's CPU at 10,000 dashboards, spent by the client. A browser
/// pays nothing like it, and updates are ~2 KB, so a small buffer.
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(8 * 1024)
}
