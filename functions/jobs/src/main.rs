//! Lambda entry point: the shared start-up, the worker's state, then every SQS batch the event
//! source mapping (or, locally, infra/local/poller.py) hands over; several batches at once under
//! Lambda Managed Instances (`AWS_LAMBDA_MAX_CONCURRENCY`), one at a time otherwise.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};

fn main() -> Result<(), lambda_runtime::Error> {
    shared::runtime::block_on(async {
        shared::telemetry::init();
        let env = shared::Env::process();
        let app =
            shared::AppState::from_env(&env, env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
                .await?;
        // Shared, not borrowed: concurrent batches run on tasks of their own.
        let worker = Arc::new(jobs::init(app, env).await?);
        // `run_concurrent` polls once per concurrency slot, or sequentially, as `run` does, when
        // AWS_LAMBDA_MAX_CONCURRENCY is unset or 1.
        lambda_runtime::run_concurrent(service_fn(
            move |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| {
                let worker = Arc::clone(&worker);
                async move {
                    let deadline = event.context.deadline;
                    Ok::<_, lambda_runtime::Error>(
                        jobs::process(&worker, event.payload, deadline).await,
                    )
                }
            },
        ))
        .await
    })
}
