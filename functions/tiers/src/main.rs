//! Lambda entry point: the shared start-up, this function's state, its router.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::start(
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
        tiers::init,
        tiers::router,
    )
    .await
}
