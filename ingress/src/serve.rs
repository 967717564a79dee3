//! Serving the router on a listener until shutdown.

use crate::api::router;
use crate::state::AppState;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves `state`'s router on `listener` until `shutdown` is cancelled, then stops accepting,
/// lets open requests finish (waits and long polls answer at once) and returns.
///
/// # Errors
/// If the listener fails.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = router(state.with_stopping(shutdown.clone()));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving HTTP");
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
