//! The SQS wiring of `template.yaml`, as AWS advises for a queue that invokes a function. Every
//! queue and every event source mapping is read from the template (none is named here), and
//! [`problems`] reports:
//! 1. an event source mapping from a queue without `FunctionResponseTypes:
//!    [ReportBatchItemFailures]`: without it, the function cannot fail one message alone, and one
//!    failure returns its whole batch to the queue, to be worked again;
//! 2. a queue whose `VisibilityTimeout` is less than six times the `Timeout` of the function a
//!    mapping invokes with it (the function's own, else `Globals`', else Lambda's 3 s; the
//!    queue's default is 30 s): a message still being worked on, or being retried by the
//!    poller's throttling, would be handed out again;
//! 3. such a queue without a `RedrivePolicy` whose `maxReceiveCount` is a `!Ref` to a `Number`
//!    parameter (each deployment sets how often a job is tried) and whose `deadLetterTargetArn`
//!    is `!GetAtt <Queue>.Arn` of another queue of the template: a message that always fails
//!    would come back until its retention ends, and be lost;
//! 4. an `AWS::SQS::Queue` not encrypted at rest: `SqsManagedSseEnabled: true` or a
//!    `KmsMasterKeyId` (set in the template, so it does not rest on an account default);
//! 5. a SAM `SQS` event on a function: SAM then attaches `AWSLambdaSQSQueueExecutionRole`, which
//!    receives and deletes on every queue (`Resource: "*"`). A worker is invoked by its own
//!    `AWS::Lambda::EventSourceMapping`, and its `Policies` grant the poller's three actions on
//!    its queue alone (checked with the rest of its grants by [`crate::iam`]);
//! 6. what it cannot read: a mapping whose queue or function is written another way.
//!
//! The check is pure, from the parsed template to the list of problems; the tests break one
//! setting of the real template at a time, in memory, and expect it reported.

use std::collections::BTreeSet;

use crate::repo::{self, Yaml};

/// Lambda's timeout of a function that sets none (seconds).
const LAMBDA_DEFAULT_TIMEOUT: u64 = 3;
/// SQS's visibility timeout of a queue that sets none (seconds).
const SQS_DEFAULT_VISIBILITY: u64 = 30;
/// AWS: "set the source queue's visibility timeout to at least six times the timeout that you
/// configure on your function".
const VISIBILITY_PER_TIMEOUT: u64 = 6;

/// The resources of the template of type `kind`, by logical id.
fn resources_of<'a>(template: &'a Yaml, kind: &str) -> Vec<(&'a str, &'a Yaml)> {
    let resources = template.get("Resources").and_then(Yaml::as_mapping);
    let resources = resources.into_iter().flatten();
    let matching = resources.filter(|(_, r)| r.get("Type").and_then(Yaml::as_str) == Some(kind));
    matching
        .filter_map(|(id, r)| Some((id.as_str()?, r)))
        .collect()
}

/// A property of a resource.
fn property<'a>(resource: &'a Yaml, name: &str) -> Option<&'a Yaml> {
    resource.get("Properties")?.get(name)
}

/// A whole number of seconds, written as a number or a string of one.
fn seconds(value: &Yaml) -> Option<u64> {
    match value {
        Yaml::Number(n) => n.as_u64(),
        Yaml::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Everything in `template` that goes against the list above, one message each.
pub(crate) fn problems(template: &Yaml) -> Vec<String> {
    let mut out = Vec::new();
    let queues = resources_of(template, "AWS::SQS::Queue");
    for (id, queue) in &queues {
        let managed = property(queue, "SqsManagedSseEnabled").and_then(Yaml::as_bool);
        let kms = property(queue, "KmsMasterKeyId").is_some_and(|k| !k.is_null());
        if managed != Some(true) && !kms {
            out.push(format!(
                "template.yaml: {id} is not encrypted at rest: set SqsManagedSseEnabled: true \
                 (or a KmsMasterKeyId)"
            ));
        }
    }
    for (id, function) in resources_of(template, "AWS::Serverless::Function") {
        let events = property(function, "Events").and_then(Yaml::as_mapping);
        for (name, event) in events.into_iter().flatten() {
            if event.get("Type").and_then(Yaml::as_str) == Some("SQS") {
                out.push(format!(
                    "template.yaml: {id}'s event {} is a SAM SQS event: SAM then attaches \
                     AWSLambdaSQSQueueExecutionRole, which receives and deletes on every queue \
                     (Resource \"*\"); invoke it with an AWS::Lambda::EventSourceMapping instead, \
                     and grant the poller's actions on its queue alone",
                    name.as_str().unwrap_or_default()
                ));
            }
        }
    }
    let mut redriven = BTreeSet::new();
    for mapping in repo::event_source_mappings(template) {
        let Some(queue) = mapping_queue(template, &mapping, &mut out) else {
            continue;
        };
        let types = property(mapping.resource, "FunctionResponseTypes");
        let types = types.and_then(Yaml::as_sequence).into_iter().flatten();
        let reports = types
            .filter_map(Yaml::as_str)
            .any(|t| t == "ReportBatchItemFailures");
        let function = mapping.function.as_deref();
        if !reports {
            out.push(format!(
                "template.yaml: {} ({queue} -> {}) does not set FunctionResponseTypes: \
                 [ReportBatchItemFailures]: one failed message would return its whole batch to \
                 the queue, to be worked again",
                mapping.id,
                function.unwrap_or("?")
            ));
        }
        match function {
            Some(function) => {
                out.extend(visibility_problems(template, &mapping, &queue, function));
            }
            None => out.push(format!(
                "template.yaml: {}'s FunctionName is {}, not !Ref <Function> of a function of the \
                 template: this check cannot read the Timeout its queue's VisibilityTimeout must \
                 cover",
                mapping.id,
                property(mapping.resource, "FunctionName")
                    .map_or("missing".to_owned(), repo::shown)
            )),
        }
        if redriven.insert(queue.clone()) {
            out.extend(redrive_problems(template, &mapping, &queue));
        }
    }
    out
}

/// The queue of an SQS mapping; `None` for a mapping from another source (a stream), and for one
/// whose source cannot be read, which is reported unless it names a resource of another type.
fn mapping_queue(
    template: &Yaml,
    mapping: &repo::Mapping,
    out: &mut Vec<String>,
) -> Option<String> {
    let source = property(mapping.resource, "EventSourceArn");
    let reference = source.and_then(repo::reference);
    let kind = (reference.as_ref()).and_then(|(id, _)| repo::resource_type(template, id));
    match (reference, kind) {
        (Some((id, Some(attribute))), Some("AWS::SQS::Queue")) if attribute == "Arn" => Some(id),
        (_, Some(other)) if other != "AWS::SQS::Queue" => None,
        _ => {
            out.push(format!(
                "template.yaml: {}'s EventSourceArn is {}, not !GetAtt <Queue>.Arn of a queue of \
                 the template or a reference to another resource: this check cannot read its \
                 source",
                mapping.id,
                source.map_or("missing".to_owned(), repo::shown)
            ));
            None
        }
    }
}

/// The queue's `VisibilityTimeout` covers six times the `Timeout` of `function`.
fn visibility_problems(
    template: &Yaml,
    mapping: &repo::Mapping,
    queue: &str,
    function: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    let resource = &template["Resources"][function];
    // Globals apply to SAM's functions only, not to a plain AWS::Lambda::Function.
    let sam = repo::resource_type(template, function) == Some("AWS::Serverless::Function");
    let global = (template.get("Globals"))
        .and_then(|g| g.get("Function")?.get("Timeout"))
        .filter(|_| sam);
    let (timeout, from) = match (property(resource, "Timeout"), global) {
        (Some(own), _) => (own, "its own"),
        (None, Some(global)) => (global, "Globals'"),
        (None, None) => (&Yaml::Null, "Lambda's default"),
    };
    let timeout = match timeout {
        Yaml::Null => Some(LAMBDA_DEFAULT_TIMEOUT),
        written => seconds(written),
    };
    let visibility = match property(&template["Resources"][queue], "VisibilityTimeout") {
        None => Some(SQS_DEFAULT_VISIBILITY),
        Some(written) => seconds(written),
    };
    let (Some(timeout), Some(visibility)) = (timeout, visibility) else {
        out.push(format!(
            "template.yaml: {queue}'s VisibilityTimeout or {function}'s Timeout ({from}) is not \
             a number of seconds: this check cannot compare them"
        ));
        return out;
    };
    let needed = timeout * VISIBILITY_PER_TIMEOUT;
    if visibility < needed {
        out.push(format!(
            "template.yaml: {queue}'s VisibilityTimeout is {visibility} s, less than six times \
             the Timeout of {function} ({timeout} s, {from}), which {} invokes: a message still \
             being worked on would be handed out again (at least {needed} s)",
            mapping.id
        ));
    }
    out
}

/// The queue redrives to a dead-letter queue of the template after a parameter's receives.
fn redrive_problems(template: &Yaml, mapping: &repo::Mapping, queue: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(policy) = property(&template["Resources"][queue], "RedrivePolicy") else {
        out.push(format!(
            "template.yaml: {queue} ({}'s queue) has no RedrivePolicy: a message that always \
             fails would come back until its retention ends, never reaching a dead-letter queue",
            mapping.id
        ));
        return out;
    };
    let count = policy.get("maxReceiveCount");
    let parameter = count.and_then(repo::reference).and_then(|(id, attribute)| {
        let kind = template.get("Parameters")?.get(&id)?.get("Type")?.as_str();
        (attribute.is_none() && kind == Some("Number")).then_some(id)
    });
    if parameter.is_none() {
        out.push(format!(
            "template.yaml: the maxReceiveCount of {queue}'s RedrivePolicy is {}, not a !Ref to \
             a Number parameter (each deployment sets how often a job is tried)",
            count.map_or("missing".to_owned(), repo::shown)
        ));
    }
    let target = policy.get("deadLetterTargetArn");
    let dead_letter = target.and_then(repo::reference).filter(|(id, attribute)| {
        attribute.as_deref() == Some("Arn")
            && id != queue
            && repo::resource_type(template, id) == Some("AWS::SQS::Queue")
    });
    if dead_letter.is_none() {
        out.push(format!(
            "template.yaml: {queue}'s RedrivePolicy sends to {}, not !GetAtt <Queue>.Arn of \
             another queue of the template",
            target.map_or("nothing".to_owned(), repo::shown)
        ));
    }
    out
}

#[test]
fn every_queue_and_sqs_mapping_is_wired_as_aws_advises() {
    let template = repo::template();
    let mappings = repo::event_source_mappings(&template);
    let from_queues = mappings.iter().filter(|m| {
        let source = property(m.resource, "EventSourceArn").and_then(repo::reference);
        source.is_some_and(|(id, _)| repo::resource_type(&template, &id) == Some("AWS::SQS::Queue"))
    });
    assert!(
        from_queues.count() > 0,
        "no event source mapping from a queue in template.yaml: is this check still reading them?"
    );
    crate::assert_no_problems(
        "template.yaml's queues and their mappings",
        &problems(&template),
    );
}

// The changes name the job worker's queue, mapping and function: the real template's.

/// The properties of the resource `id`, which must exist.
fn properties<'a>(template: &'a mut Yaml, id: &str) -> &'a mut Yaml {
    let resource = template["Resources"].get_mut(id);
    let resource = resource.unwrap_or_else(|| panic!("{id} in template.yaml"));
    resource
        .get_mut("Properties")
        .unwrap_or_else(|| panic!("{id} has Properties"))
}

/// Removes `key` from `mapping`, which must have it: a break of what the template no longer has
/// would prove nothing.
fn remove(mapping: &mut Yaml, key: &str) {
    let removed = mapping.as_mapping_mut().and_then(|m| m.remove(key));
    assert!(removed.is_some(), "{key} is not in the real template");
}

/// YAML written as in the template.
fn written(text: &str) -> Yaml {
    repo::yaml("a snippet", text)
}

const BREAKING: &[crate::Change<Yaml>] = &[
    crate::Change {
        case: "a mapping that does not report batch item failures is reported",
        expected: &[
            "template.yaml: JobsQueueMapping (JobsQueue -> JobsFunction) does not set \
             FunctionResponseTypes: [ReportBatchItemFailures]: one failed message would return \
             its whole batch to the queue, to be worked again",
        ],
        change: |t| remove(properties(t, "JobsQueueMapping"), "FunctionResponseTypes"),
    },
    crate::Change {
        case: "a function timeout longer than a sixth of its queue's visibility is reported",
        expected: &[
            "template.yaml: JobsQueue's VisibilityTimeout is 180 s, less than six times the \
             Timeout of JobsFunction (31 s, its own), which JobsQueueMapping invokes: a message \
             still being worked on would be handed out again (at least 186 s)",
        ],
        change: |t| properties(t, "JobsFunction")["Timeout"] = written("31"),
    },
    crate::Change {
        case: "a function without a timeout of its own is held to the global one",
        expected: &[
            "template.yaml: JobsQueue's VisibilityTimeout is 180 s, less than six times the \
             Timeout of JobsFunction (60 s, Globals'), which JobsQueueMapping invokes: a message \
             still being worked on would be handed out again (at least 360 s)",
        ],
        change: |t| {
            remove(properties(t, "JobsFunction"), "Timeout");
            t["Globals"]["Function"]["Timeout"] = written("60");
        },
    },
    crate::Change {
        case: "a queue without a visibility timeout is held to the default of thirty seconds",
        expected: &[
            "template.yaml: JobsQueue's VisibilityTimeout is 30 s, less than six times the \
             Timeout of JobsFunction (30 s, its own), which JobsQueueMapping invokes: a message \
             still being worked on would be handed out again (at least 180 s)",
        ],
        change: |t| remove(properties(t, "JobsQueue"), "VisibilityTimeout"),
    },
    crate::Change {
        case: "a queue without a redrive policy is reported",
        expected: &[
            "template.yaml: JobsQueue (JobsQueueMapping's queue) has no RedrivePolicy: a message \
             that always fails would come back until its retention ends, never reaching a \
             dead-letter queue",
        ],
        change: |t| remove(properties(t, "JobsQueue"), "RedrivePolicy"),
    },
    crate::Change {
        case: "a receive count written in the template is reported",
        expected: &[
            "template.yaml: the maxReceiveCount of JobsQueue's RedrivePolicy is 5, not a !Ref to \
             a Number parameter (each deployment sets how often a job is tried)",
        ],
        change: |t| {
            properties(t, "JobsQueue")["RedrivePolicy"]["maxReceiveCount"] = written("5");
        },
    },
    crate::Change {
        case: "a receive count from a parameter that is not a number is reported",
        expected: &[
            "template.yaml: the maxReceiveCount of JobsQueue's RedrivePolicy is !Ref \
             JobsMaxReceiveCount, not a !Ref to a Number parameter (each deployment sets how \
             often a job is tried)",
        ],
        change: |t| {
            let parameter = &mut t["Parameters"]["JobsMaxReceiveCount"];
            assert!(!parameter.is_null(), "JobsMaxReceiveCount in template.yaml");
            parameter["Type"] = written("String");
        },
    },
    crate::Change {
        case: "a redrive to a queue the template does not have is reported",
        expected: &[
            "template.yaml: JobsQueue's RedrivePolicy sends to !GetAtt GoneQueue.Arn, not \
             !GetAtt <Queue>.Arn of another queue of the template",
        ],
        change: |t| {
            let policy = &mut properties(t, "JobsQueue")["RedrivePolicy"];
            policy["deadLetterTargetArn"] = written("!GetAtt GoneQueue.Arn");
        },
    },
    crate::Change {
        case: "a queue redriving to itself is reported",
        expected: &[
            "template.yaml: JobsQueue's RedrivePolicy sends to !GetAtt JobsQueue.Arn, not \
             !GetAtt <Queue>.Arn of another queue of the template",
        ],
        change: |t| {
            let policy = &mut properties(t, "JobsQueue")["RedrivePolicy"];
            policy["deadLetterTargetArn"] = written("!GetAtt JobsQueue.Arn");
        },
    },
    crate::Change {
        case: "a queue not encrypted at rest is reported",
        expected: &[
            "template.yaml: JobsDeadLetterQueue is not encrypted at rest: set \
             SqsManagedSseEnabled: true (or a KmsMasterKeyId)",
            "template.yaml: JobsQueue is not encrypted at rest: set SqsManagedSseEnabled: true \
             (or a KmsMasterKeyId)",
        ],
        change: |t| {
            remove(properties(t, "JobsDeadLetterQueue"), "SqsManagedSseEnabled");
            properties(t, "JobsQueue")["SqsManagedSseEnabled"] = written("false");
        },
    },
    crate::Change {
        case: "a sam sqs event is reported",
        expected: &[
            "template.yaml: JobsFunction's event Jobs is a SAM SQS event: SAM then attaches \
             AWSLambdaSQSQueueExecutionRole, which receives and deletes on every queue (Resource \
             \"*\"); invoke it with an AWS::Lambda::EventSourceMapping instead, and grant the \
             poller's actions on its queue alone",
        ],
        change: |t| {
            properties(t, "JobsFunction")["Events"] = written(
                "Jobs: {Type: SQS, Properties: {Queue: !GetAtt JobsQueue.Arn, BatchSize: 10}}",
            );
        },
    },
    crate::Change {
        case: "a mapping whose queue or function cannot be read is reported",
        expected: &["template.yaml: JobsQueueMapping's EventSourceArn is \
             arn:aws:sqs:us-east-1:123456789012:jobs, not !GetAtt <Queue>.Arn of a queue of the \
             template or a reference to another resource: this check cannot read its source"],
        change: |t| {
            let mapping = properties(t, "JobsQueueMapping");
            mapping["EventSourceArn"] = written("arn:aws:sqs:us-east-1:123456789012:jobs");
        },
    },
    crate::Change {
        case: "a mapping whose function is not the template's is reported",
        expected: &[
            "template.yaml: JobsQueueMapping's FunctionName is jobs-worker, not !Ref <Function> \
             of a function of the template: this check cannot read the Timeout its queue's \
             VisibilityTimeout must cover",
        ],
        change: |t| properties(t, "JobsQueueMapping")["FunctionName"] = written("jobs-worker"),
    },
];

#[test]
fn breaking_a_queue_or_its_mapping_reports_it() {
    crate::each_change_is_reported(&repo::template(), problems, BREAKING);
}

/// The other ways to pass: a KMS key instead of the SQS-managed one, a mapping from a stream
/// (not a queue: none of the SQS rules apply).
#[test]
fn a_kms_key_and_a_stream_mapping_pass() {
    let mut template = repo::template();
    let queue = properties(&mut template, "JobsDeadLetterQueue");
    remove(queue, "SqsManagedSseEnabled");
    queue["KmsMasterKeyId"] = written("alias/aws/sqs");
    template["Resources"]["AuditMapping"] = written(
        "Type: AWS::Lambda::EventSourceMapping\n\
         Properties: {EventSourceArn: !GetAtt UsersTable.StreamArn, FunctionName: !Ref \
         JobsFunction}",
    );
    crate::assert_no_problems("a KMS key and a stream mapping", &problems(&template));
}
