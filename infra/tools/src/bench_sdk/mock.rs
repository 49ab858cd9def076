//! (a) An in-process HTTP client that answers every request at once with DynamoDB's canned
//! answer, as smithy-rs's `aws/sdk/benchmarks` do: what is left is the SDK's own pipeline
//! (orchestrator, serialization, endpoint, signing, deserialization), with no socket at all.

use std::sync::Arc;

use aws_smithy_runtime_api::client::{
    http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
    },
    orchestrator::{HttpRequest, HttpResponse},
    result::ConnectorError,
    runtime_components::RuntimeComponents,
};
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;

use crate::canned::{Op, Tables, response_body};

/// Answers by `X-Amz-Target`; the bodies are built once.
#[derive(Debug, Clone)]
pub struct MockDynamo {
    bodies: Arc<[Bytes; 3]>,
}

impl MockDynamo {
    pub fn new(tables: &Tables) -> Self {
        let body = |op| Bytes::from(response_body(op, tables));
        Self {
            bodies: Arc::new([
                body(Op::GetItem),
                body(Op::UpdateItem),
                body(Op::BatchGetItem),
            ]),
        }
    }
}

impl HttpConnector for MockDynamo {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let op = request
            .headers()
            .get("x-amz-target")
            .and_then(|target| Op::from_target(target.as_bytes()));
        let Some(op) = op else {
            return HttpConnectorFuture::ready(Err(ConnectorError::other(
                "the mock answers GetItem, UpdateItem and BatchGetItem only".into(),
                None,
            )));
        };
        let index = Op::ALL.iter().position(|o| *o == op).unwrap_or_default();
        let mut response = HttpResponse::new(
            200u16
                .try_into()
                .unwrap_or_else(|_| unreachable!("200 is a status")),
            SdkBody::from(self.bodies[index].clone()),
        );
        let headers = response.headers_mut();
        headers.insert("content-type", "application/x-amz-json-1.0");
        headers.insert(
            "x-amzn-requestid",
            "BENCHBENCHBENCHBENCHBENCHBENCHBENCHBENCHBENCHBENCH",
        );
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl HttpClient for MockDynamo {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}
