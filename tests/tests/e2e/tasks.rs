//! The task API end to end: the tasks function over HTTP beside the identity fixture, enqueueing
//! into the fixture's own jobs queue, which its worker (`functions/jobs`) works as the event
//! source mapping does; and the dead-letter admin routes over a queue pair of their own.
//!
//! Locally the redrive takes its fallback path (moto has no `StartMessageMoveTask`): the messages
//! are moved by hand and the answer is `200 {"method": "moved"}`.

#![allow(clippy::expect_used, clippy::panic)] // Test code: a failed set-up should stop the test loudly.

use std::time::Duration;

use e2e::{Client, Identity, Reply, RunningWorker, TestQueues, align_to_window, emulator_env};
use http::Method;
use serde_json::{Value, json};

/// The tasks function over HTTP, beside `identity` (which signs its users up).
struct TasksApi {
    base: String,
    http: Client,
}

impl TasksApi {
    /// The function over `queues`, with `overrides` on top.
    async fn over(identity: &Identity, queues: &TestQueues, overrides: &[(&str, &str)]) -> Self {
        let queue_env = queues.env();
        let mut vars: Vec<(&str, &str)> = queue_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        vars.retain(|(k, _)| !overrides.iter().any(|(o, _)| o == k));
        vars.extend_from_slice(overrides);
        let router = e2e::router_for("tasks", identity.app.clone(), emulator_env(&vars)).await;
        Self {
            base: e2e::spawn_http(router).await,
            http: Client::new(),
        }
    }

    /// The function over the fixture's queues, which its worker works.
    async fn beside(identity: &Identity) -> Self {
        Self::over(identity, &identity.queues, &[]).await
    }

    /// `method /api/v1/tasks<path>` with an optional bearer and JSON body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| vec![("authorization", b)])
            .unwrap_or_default();
        let url = format!("{}/api/v1/tasks{path}", self.base);
        match body {
            Some(body) => self.http.json(method, &url, &headers, body).await,
            None => self.http.send(method, &url, &headers, "").await,
        }
    }

    /// `POST /api/v1/tasks` with `body`.
    async fn create(&self, token: &str, body: &Value) -> Reply {
        self.call(Method::POST, "", Some(token), Some(body)).await
    }

    /// `GET /api/v1/tasks/{id}`.
    async fn get(&self, token: &str, id: &str) -> Reply {
        self.call(Method::GET, &format!("/{id}"), Some(token), None)
            .await
    }

    /// Polls the task until it is `succeeded` or `failed` (up to 20 s); its last body.
    async fn finished(&self, token: &str, id: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..200 {
            let reply = self.get(token, id).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
            last = reply.json();
            if last["status"] == "succeeded" || last["status"] == "failed" {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("task {id} never finished: {last}");
    }

    /// `GET /api/v1/tasks/dead-letters` as `token`.
    async fn dead_letters(&self, token: &str) -> Reply {
        self.call(Method::GET, "/dead-letters", Some(token), None)
            .await
    }

    /// Polls the dead-letter listing until `pred` holds for it (up to 20 s); the listing.
    async fn dead_letters_until(&self, token: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..200 {
            let reply = self.dead_letters(token).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
            last = reply.json();
            if pred(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the dead-letter listing never got there: {last}");
    }
}

/// The created task's id, after checking the 202's shape.
fn accepted(reply: &Reply) -> String {
    assert_eq!(reply.status, 202, "{}", reply.text());
    let body = reply.json();
    let id = body["id"].as_str().expect("id").to_owned();
    assert!(uuid::Uuid::try_parse(&id).is_ok(), "{id}");
    assert_eq!(body["status"], "queued");
    assert!(
        body["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert_eq!(reply.header("location"), format!("tasks/{id}"));
    id
}

#[tokio::test]
async fn a_task_is_accepted_then_worked_to_succeeded_with_its_result_and_times() {
    let identity = Identity::start().await;
    let api = TasksApi::beside(&identity).await;
    let user = identity.signup().await;

    let reply = api
        .create(&user.access, &json!({"message": "hello", "delay_ms": 50}))
        .await;
    let id = accepted(&reply);
    let created_at = reply.json()["created_at"].clone();

    let task = api.finished(&user.access, &id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["id"], id.as_str());
    assert_eq!(task["kind"], "sample");
    assert_eq!(task["attempts"], 1);
    assert_eq!(
        task["created_at"], created_at,
        "the POST's created_at is the record's"
    );
    assert_eq!(
        task["result"],
        json!({"message": "Task hello is complete!"})
    );
    assert_eq!(task["error"], Value::Null);
    let started = task["started_at"].as_str().expect("started_at");
    let finished = task["finished_at"].as_str().expect("finished_at");
    // RFC 3339 UTC with whole seconds sorts as text.
    assert!(created_at.as_str().expect("text") <= started && started <= finished);

    let read = api.get(&user.access, &id).await;
    assert_eq!(read.header("cache-control"), "no-store");
}

#[tokio::test]
async fn a_task_asked_to_fail_ends_failed_with_an_error_and_no_result() {
    let identity = Identity::start().await;
    let api = TasksApi::beside(&identity).await;
    let user = identity.signup().await;

    let id = accepted(
        &api.create(&user.access, &json!({"message": "doomed", "fail": true}))
            .await,
    );
    let task = api.finished(&user.access, &id).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["error"], "the task was asked to fail");
    assert_eq!(task["result"], Value::Null);
    assert!(task["finished_at"].is_string());
}

#[tokio::test]
async fn another_users_task_is_a_404_like_an_unknown_or_malformed_id() {
    let identity = Identity::start().await;
    let api = TasksApi::beside(&identity).await;
    let owner = identity.signup().await;
    let stranger = identity.signup().await;
    let id = accepted(&api.create(&owner.access, &json!({"message": "mine"})).await);

    let theirs = api.get(&stranger.access, &id).await;
    let unknown = api
        .get(&stranger.access, &uuid::Uuid::now_v7().to_string())
        .await;
    let malformed = api.get(&stranger.access, "not-a-task-id").await;
    for reply in [&theirs, &unknown, &malformed] {
        assert_eq!(reply.status, 404, "{}", reply.text());
        let body = reply.json();
        assert_eq!(body["error_code"], "NOT_FOUND");
        // The same answer, so an id cannot be probed: nothing of the task shows.
        assert_eq!(body["detail"], theirs.json()["detail"]);
        assert!(!reply.text().contains(&id), "{}", reply.text());
    }
    assert_eq!(api.get(&owner.access, &id).await.status, 200);
    assert_eq!(
        api.call(Method::GET, &format!("/{id}"), None, None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn bodies_that_break_a_rule_are_422_naming_the_field() {
    let identity = Identity::start().await;
    let api = TasksApi::beside(&identity).await;
    let user = identity.signup().await;

    let long = "x".repeat(201);
    for (body, field) in [
        (json!({"message": ""}), "message"),
        (json!({"message": long}), "message"),
        (json!({}), "message"),
        (json!({"message": 5}), "message"),
        (json!({"message": "x", "delay_ms": 10_001}), "delay_ms"),
        (json!({"message": "x", "delay_ms": -1}), "delay_ms"),
        (json!({"message": "x", "delay_ms": "5"}), "delay_ms"),
        (json!({"message": "x", "fail": "yes"}), "fail"),
        (json!({"message": "x", "owner": "someone-else"}), "owner"),
    ] {
        let reply = api.create(&user.access, &body).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.text());
        let answer = reply.json();
        assert_eq!(answer["error_code"], "VALIDATION_ERROR");
        let locs: Vec<&Value> = answer["detail"]
            .as_array()
            .expect("a field list")
            .iter()
            .map(|e| &e["loc"])
            .collect();
        assert!(locs.contains(&&json!(["body", field])), "{body}: {answer}");
    }
    // The bounds themselves pass: 200 characters (not bytes), a 10 s delay.
    let widest = "é".repeat(200);
    accepted(
        &api.create(
            &user.access,
            &json!({"message": widest, "delay_ms": 10_000, "fail": false}),
        )
        .await,
    );
}

#[tokio::test]
async fn creating_tasks_past_task_rate_limit_is_429_for_that_user_only() {
    let identity = Identity::start().await;
    let api = TasksApi::over(&identity, &identity.queues, &[("TASK_RATE_LIMIT", "2")]).await;
    let greedy = identity.signup().await;
    let other = identity.signup().await;
    let window = std::env::var("RATE_LIMIT_WINDOW")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(60);
    align_to_window(window, 10).await;

    for _ in 0..2 {
        accepted(&api.create(&greedy.access, &json!({"message": "one"})).await);
    }
    let refused = api.create(&greedy.access, &json!({"message": "one"})).await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(refused.json()["error_code"], "RATE_LIMITED");
    let retry: u64 = refused.header("retry-after").parse().expect("Retry-After");
    assert!((1..=window).contains(&retry), "{retry}");
    // An invalid body is refused before the quota: still 422, not 429.
    assert_eq!(
        api.create(&greedy.access, &json!({"message": ""}))
            .await
            .status,
        422
    );
    accepted(&api.create(&other.access, &json!({"message": "mine"})).await);
}

#[tokio::test]
async fn a_job_that_cannot_be_enqueued_is_503_and_leaves_no_task_behind() {
    let identity = Identity::start().await;
    let missing = format!("{}-missing", identity.queues.url);
    let api = TasksApi::over(&identity, &identity.queues, &[("JOBS_QUEUE_URL", &missing)]).await;
    let user = identity.signup().await;

    let reply = api.create(&user.access, &json!({"message": "lost"})).await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(reply.json()["error_code"], "SERVICE_UNAVAILABLE");

    let table = std::env::var("JOBS_TABLE").expect("JOBS_TABLE");
    let left = identity
        .app
        .dynamo
        .scan()
        .table_name(&table)
        .filter_expression("#owner = :owner AND begins_with(pk, :task)")
        .expression_attribute_names("#owner", "owner")
        .expression_attribute_values(
            ":owner",
            aws_sdk_dynamodb::types::AttributeValue::S(user.id.clone()),
        )
        .expression_attribute_values(
            ":task",
            aws_sdk_dynamodb::types::AttributeValue::S("TASK#".to_owned()),
        )
        .send()
        .await
        .expect("scan the jobs table");
    assert_eq!(left.count, 0, "{:?}", left.items);
}

#[tokio::test]
async fn the_dead_letter_routes_are_for_admins_only() {
    let identity = Identity::start().await;
    let api = TasksApi::beside(&identity).await;
    let user = identity.signup().await;
    for (method, path) in [
        (Method::GET, "/dead-letters"),
        (Method::POST, "/dead-letters/redrive"),
    ] {
        let reply = api
            .call(method.clone(), path, Some(&user.access), None)
            .await;
        assert_eq!(reply.status, 403, "{method} {path}: {}", reply.text());
        assert_eq!(reply.json()["error_code"], "FORBIDDEN");
        let anonymous = api.call(method.clone(), path, None, None).await;
        assert_eq!(anonymous.status, 401, "{method} {path}");
    }
}

#[tokio::test]
async fn an_admin_lists_dead_letters_without_their_bodies_and_redrives_them_to_the_jobs_queue() {
    let identity = Identity::start().await;
    let admin = identity.admin().await;
    let user = identity.signup().await;
    // A queue pair of its own, so the listing holds only what this test put there.
    let queues = TestQueues::create(&identity.app, 5, 30).await;
    let api = TasksApi::over(&identity, &queues, &[]).await;

    // A task whose job failed every attempt: SQS's redrive policy moved it to the dead-letter
    // queue (here by hand, before any worker saw it).
    let id = accepted(
        &api.create(&user.access, &json!({"message": "second chance"}))
            .await,
    );
    let received = queues.receive(&queues.url, 30).await;
    assert_eq!(received.len(), 1);
    let job = received[0].body.clone().expect("a body");
    queues
        .sqs
        .send_message()
        .queue_url(&queues.dead_letter_url)
        .message_body(&job)
        .send()
        .await
        .expect("dead-letter the job");
    queues
        .sqs
        .delete_message()
        .queue_url(&queues.url)
        .receipt_handle(received[0].receipt_handle.clone().expect("receipt"))
        .send()
        .await
        .expect("delete the original");

    // An unreadable body holding an address: the worker moves it to the dead-letter queue at once.
    let unreadable = "to: someone-private@example.com, not a job";
    queues
        .sqs
        .send_message()
        .queue_url(&queues.url)
        .message_body(unreadable)
        .send()
        .await
        .expect("send the unreadable body");
    let worker_env = {
        let queue_env = queues.env();
        let mut vars: Vec<(&str, &str)> = queue_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        vars.push(("JOBS_RETRY_BASE_SECS", "1"));
        emulator_env(&vars)
    };
    let _worker = RunningWorker::spawn(identity.app.clone(), worker_env, queues.clone()).await;
    let listing = api
        .dead_letters_until(&admin.access, |l| {
            l["approximate_count"] == 2 && l["messages"].as_array().is_some_and(|m| m.len() == 2)
        })
        .await;

    let text = listing.to_string();
    assert!(!text.contains("someone-private"), "a body shows: {text}");
    assert!(!text.contains("second chance"), "a body shows: {text}");
    let messages = listing["messages"].as_array().expect("messages");
    let by_job = |job_id: &Value| {
        messages
            .iter()
            .find(|m| &m["job_id"] == job_id)
            .unwrap_or_else(|| panic!("no message with job_id {job_id}: {listing}"))
    };
    let sample = by_job(&json!(id));
    assert_eq!(sample["kind"], "sample");
    assert_eq!(sample["reason"], Value::Null);
    assert!(sample["sent_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(sample["receive_count"].as_i64().is_some_and(|n| n >= 1));
    let broken = by_job(&Value::Null);
    assert_eq!(broken["kind"], Value::Null);
    assert!(
        broken["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not a JSON object")),
        "{broken}"
    );
    let broken_id = broken["message_id"].clone();

    let redriven = api
        .call(
            Method::POST,
            "/dead-letters/redrive",
            Some(&admin.access),
            None,
        )
        .await;
    assert_eq!(redriven.status, 200, "{}", redriven.text());
    assert_eq!(redriven.json(), json!({"method": "moved", "moved": 2}));

    // Back in the jobs queue, the sample job runs this time...
    let task = api.finished(&user.access, &id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(
        task["result"],
        json!({"message": "Task second chance is complete!"})
    );
    // ...and the unreadable body, read again, is dead-lettered again: a new message.
    let after = api
        .dead_letters_until(&admin.access, |l| {
            l["messages"]
                .as_array()
                .is_some_and(|m| m.len() == 1 && m[0]["message_id"] != broken_id)
        })
        .await;
    assert_eq!(after["messages"][0]["job_id"], Value::Null);
    assert!(after["messages"][0]["reason"].is_string());
}
