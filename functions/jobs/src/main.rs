//! Lambda entry point: the shared start-up, the worker's state, then every SQS batch the event
//! source mapping (or, locally, infra/local/poller.py) hands over.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let env = shared::Env::process();
    let app =
        shared::AppState::from_env(&env, env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")).await?;
    let worker = jobs::init(app, env).await?;
    let worker = &worker;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| async move {
            let deadline = event.context.deadline;
            Ok::<_, lambda_runtime::Error>(jobs::process(worker, event.payload, deadline).await)
        },
    ))
    .await
}
