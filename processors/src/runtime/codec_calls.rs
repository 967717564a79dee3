//! Codec calls from the loop thread: the codec is async (registry lookups), the loop is not.

use super::error::RuntimeError;
use shop_schemas::CodecError;
use std::future::Future;
use std::time::Duration;
use tokio::runtime::Handle;

/// How often a transient registry failure is retried, with doubling pauses from 100 ms, before
/// the instance gives up and exits for its supervisor to restart it.
const TRANSIENT_RETRIES: u32 = 6;

/// Runs a codec call to completion on `runtime`, retrying while the registry is unreachable.
/// `Ok(Err(_))` is a codec error that retrying cannot fix; `Err(_)` means the registry stayed
/// away.
pub(crate) fn retrying<T, F, Fut>(
    runtime: &Handle,
    call: F,
) -> Result<Result<T, CodecError>, RuntimeError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, CodecError>>,
{
    let mut pause = Duration::from_millis(100);
    for attempt in 1..=TRANSIENT_RETRIES {
        match runtime.block_on(call()) {
            Err(error) if error.is_transient() => {
                if attempt == TRANSIENT_RETRIES {
                    return Err(RuntimeError::Registry(error));
                }
                tracing::warn!(%error, attempt, "schema registry unavailable; retrying");
                std::thread::sleep(pause);
                pause *= 2;
            }
            other => return Ok(other),
        }
    }
    unreachable!("the last attempt returns")
}
