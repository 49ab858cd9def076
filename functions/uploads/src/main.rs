//! Lambda entry point: the shared start-up (on the runtime its Lambda mode needs), this
//! function's state, its router.

fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::main(
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
        uploads::init,
        uploads::router,
    )
}
