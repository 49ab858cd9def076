//! Tasks Lambda: `POST /api/v1/tasks` enqueues a sample job ([`create`]) and
//! `GET /api/v1/tasks/{id}` reads where it is ([`status`]), for its owner only; the admins list
//! and redrive the jobs' dead-letter queue ([`dead_letters`], over [`dlq`]). The contract is
//! `functions/docs/guide/api.md`. This file only merges the routes (the state is in `state.rs`).

mod body;
mod create;
mod dead_letters;
mod dlq;
mod quota;
mod state;
mod status;

use shared::Routes;

pub use body::{CreatedTask, DeadLetter, DeadLetterList, Redriven, TaskBody};
pub use dlq::MOVE_MAX;
pub use state::{State, TaskApi, init};

/// Every route of this function.
pub fn routes() -> Routes<State> {
    create::routes()
        .merge(status::routes())
        .merge(dead_letters::routes())
}

shared::function_api!(ApiDoc::openapi(), shared::openapi::Layers::API);

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create::create,
    status::get_task,
    dead_letters::list,
    dead_letters::redrive
))]
struct ApiDoc;
