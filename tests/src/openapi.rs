//! The routes an OpenAPI document describes, in the form the route tables are compared in.

/// The `(METHOD, path)` pairs of an OpenAPI document, paths as written there (`{param}`).
pub fn openapi_routes(doc: &utoipa::openapi::OpenApi) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for (path, item) in &doc.paths.paths {
        for (method, operation) in [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
            ("HEAD", &item.head),
            ("OPTIONS", &item.options),
            ("TRACE", &item.trace),
        ] {
            if operation.is_some() {
                routes.push((method.to_owned(), path.clone()));
            }
        }
    }
    routes
}
