//! Shared by the `make bench` floors: the tokio runtime they run on. `FLOOR_FLAVOR=multi` is the
//! multi-thread runtime (`#[tokio::main]`'s default), anything else the current-thread runtime
//! the functions use, so the bench can show what the flavor alone costs.

/// The runtime `FLOOR_FLAVOR` asks for, with I/O and timers.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if std::env::var("FLOOR_FLAVOR").is_ok_and(|f| f == "multi") {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build()
}
