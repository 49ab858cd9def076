//! [`Routes`]: an axum router that also knows its route table.
//!
//! Each route module of a function exposes `routes() -> Routes<State>`; the function's `lib.rs`
//! merges them, and [`Routes::finish`] makes the merged routes its router. The table lets the
//! route-group consistency test (`tests/tests/wiring/consistency/`) compare what a router serves
//! with `template.yaml`, the local gateway's route table and `events/`, without a running function or any AWS
//! access.

use std::sync::Arc;

use axum::{
    Router,
    extract::FromRef,
    handler::Handler,
    routing::{self, MethodRouter},
};

use crate::{AppState, ratelimit::RateLimiter};

/// One method and path a router serves, as written in the router (`/api/v1/users/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// `GET`, `POST`, ...
    pub method: &'static str,
    /// The path pattern, in axum's (and API Gateway's) `{param}` syntax.
    pub path: &'static str,
}

/// A router under construction plus the table of what it serves.
#[derive(Debug)]
pub struct Routes<S = ()> {
    router: Router<S>,
    table: Vec<Route>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! method {
    ($name:ident, $method:literal) => {
        #[doc = concat!("Serves `", $method, " path` with `handler`.")]
        pub fn $name<H, T>(self, path: &'static str, handler: H) -> Self
        where
            H: Handler<T, S>,
            T: 'static,
        {
            self.add($method, path, routing::$name(handler))
        }
    };
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    /// No routes yet.
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            table: Vec::new(),
        }
    }

    method!(get, "GET");
    method!(post, "POST");
    method!(put, "PUT");
    method!(patch, "PATCH");
    method!(delete, "DELETE");

    fn add(mut self, method: &'static str, path: &'static str, route: MethodRouter<S>) -> Self {
        // axum merges method routers registered on the same path.
        self.router = self.router.route(path, route);
        self.table.push(Route { method, path });
        self
    }

    /// Both sets of routes (a function's `lib.rs` merges its modules' `routes()`).
    pub fn merge(mut self, other: Routes<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }

    /// What this router serves, sorted.
    pub fn table(&self) -> Vec<Route> {
        let mut table = self.table.clone();
        table.sort();
        table
    }

    /// The function's finished router: these routes over `state`, inside the shared layer
    /// stack ([`crate::layers::apply`]) with the state's configuration and rate limiter.
    pub fn finish(self, state: S) -> Router
    where
        AppState: FromRef<S>,
        Arc<RateLimiter>: FromRef<S>,
    {
        let (app, limiter) = (AppState::from_ref(&state), Arc::from_ref(&state));
        crate::layers::apply(self.router.with_state(state), &app.config, limiter)
    }
}

/// Declares the two functions every function crate gives its `main`, the docs function and the
/// test harness, from the crate's `routes()` and `State`:
/// - `router(state)`: the routes inside the shared layer stack ([`Routes::finish`]);
/// - `openapi()`: the document `$doc` (usually `ApiDoc::openapi()`, the `#[derive(OpenApi)]`
///   over its handlers) with the [`conventions`](crate::openapi::conventions) of `$layers`.
///
/// A function's `lib.rs` merges its route modules' `routes()`, lists its handlers in `ApiDoc`,
/// and calls this once:
///
/// ```ignore
/// shared::function_api!(ApiDoc::openapi(), shared::openapi::Layers::API);
/// ```
#[macro_export]
macro_rules! function_api {
    ($doc:expr, $layers:expr $(,)?) => {
        /// The function's router: its routes inside the shared layer stack.
        pub fn router(state: State) -> ::axum::Router {
            routes().finish(state)
        }

        /// This function's OpenAPI document (merged with the others by the docs function).
        pub fn openapi() -> ::utoipa::openapi::OpenApi {
            #[allow(unused_imports)]
            use ::utoipa::OpenApi as _;
            $crate::openapi::conventions($doc, $layers)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_every_method_and_path() {
        let routes = Routes::<()>::new()
            .get("/a", || async { "a" })
            .patch("/a", || async { "a" })
            .merge(Routes::new().post("/b/{id}", || async { "b" }));
        assert_eq!(
            routes.table(),
            vec![
                Route {
                    method: "GET",
                    path: "/a"
                },
                Route {
                    method: "PATCH",
                    path: "/a"
                },
                Route {
                    method: "POST",
                    path: "/b/{id}"
                },
            ]
        );
    }
}
