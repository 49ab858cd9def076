#!/usr/bin/env python3
"""The local event source mapping: template.yaml's SQS → Lambda mappings, against the emulator.

Deployed, Lambda's pollers receive each `AWS::Lambda::EventSourceMapping`'s queue and invoke its
function with the messages. This does the same locally, from the template (nothing here names a
queue or a function): for every SQS mapping (JobsQueueMapping), its queue (`EventSourceArn:
!GetAtt <Queue>.Arn`, named as bootstrap.py names it), its function's binary
(`Metadata.BuildProperties.Binary` of `FunctionName: !Ref <Function>`), `BatchSize` and
`FunctionResponseTypes`. In a loop:

- ReceiveMessage, up to BatchSize (at most 10, SQS's limit per receive), every attribute and
  message attribute, with **WaitTimeSeconds=0**: infra/local/emulator.py serializes every
  request behind one lock, so a long poll would stop the whole emulator for its duration. An
  empty receive sleeps IDLE_SLEEP instead;
- the messages become the SQS event Lambda sends (`Records`: messageId, receiptHandle, body,
  attributes, messageAttributes in Lambda's camelCase shape, md5OfBody, eventSource `aws:sqs`,
  eventSourceARN, awsRegion), POSTed to `cargo lambda watch`'s invoke API, one invocation at a
  time (watch 1.9.2 can lose a response under parallel invocations);
- what to delete is what Lambda deletes: with ReportBatchItemFailures, every message not in the
  answer's `batchItemFailures` (an empty or null answer deletes all); a function error, an
  answer that is not JSON or names a message not in the batch (or an empty itemIdentifier)
  deletes none, the whole batch being retried, as Lambda does. Without ReportBatchItemFailures
  a success deletes all and an error none;
- a message left is not touched again: it reappears after the queue's visibility timeout (the
  worker may shorten it itself with ChangeMessageVisibility), and after the redrive policy's
  maxReceiveCount receives the emulator moves it to the dead-letter queue (moto does, as SQS).

One log line per batch (its size, what was deleted, what failed). Differences from AWS: one
invocation at a time and no scaling (Lambda runs up to a thousand or so batches side by side); a
response watch loses (its own 500) is asked for again, up to WATCH_ATTEMPTS times, as the local
gateway does for safe methods (the jobs are idempotent: SQS delivers at least once anyway);
MaximumBatchingWindowInSeconds is not waited for (the template's is 0); FilterCriteria is refused.

Usage: poller.py --endpoint http://127.0.0.1:5000 --watch-port 9001 [--template PATH]
                 [--parameter Name=Value]... [--invoke-url URL]
Exits cleanly on SIGTERM and SIGINT (a batch being worked on then reappears after its timeout).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

# No bytecode next to the sources, where a new file would make `cargo lambda watch` rebuild.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import cfn  # noqa: E402
from apigw_watch import COLD_TIMEOUT, TIMEOUT_GRACE, WATCH_ATTEMPTS, WATCH_OWN_500  # noqa: E402

# How long an empty receive waits before the next one (short polling, see above): the delay a
# job sees at most, and 5 cheap requests a second to the emulator.
IDLE_SLEEP = 0.2
# After the emulator or watch could not be reached: a pause, so a stopped emulator is not
# hammered, and one log line per outage rather than five a second.
ERROR_SLEEP = 1.0
# SQS hands out at most 10 messages per ReceiveMessage and deletes at most 10 per batch call.
SQS_MAX_BATCH = 10
# The system attributes Lambda copies into a record's `attributes` (the FIFO ones when present).
LAMBDA_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "DeadLetterQueueSourceArn",
    "AWSTraceHeader",
)


def log(fmt: str, *args: Any) -> None:
    print(time.strftime("%H:%M:%S ") + (fmt % args if args else fmt), flush=True)


@dataclass(frozen=True)
class Mapping:
    """One SQS event source mapping of the template, as the poller needs it."""

    logical_id: str
    queue: str  # the queue's logical id
    queue_name: str  # its local name (bootstrap.py's)
    function: str  # the function's logical id
    binary: str  # what watch invokes
    batch_size: int
    report_failures: bool
    timeout: int  # the function's Timeout, seconds


def local_queue_name(logical_id: str, props: dict) -> str:
    # bootstrap.py's naming (imported here, not at the top: it loads boto3 and cryptography).
    from bootstrap import local_name

    name = props.get("QueueName") or local_name(logical_id)
    fifo = cfn.truthy(props.get("FifoQueue", False))
    return name + ".fifo" if fifo and not name.endswith(".fifo") else name


def load_mappings(stack: cfn.Stack) -> list[Mapping]:
    """Every enabled event source mapping from an SQS queue of the template to one of its
    functions; anything the poller would get wrong is a TemplateError, not a silent difference."""
    resources = stack.template.get("Resources") or {}
    globals_timeout = ((stack.template.get("Globals") or {}).get("Function") or {}).get("Timeout", 3)
    out = []
    for logical_id, resource in stack.resources("AWS::Lambda::EventSourceMapping").items():
        props = stack.resolve(resource.get("Properties") or {})
        if not cfn.truthy(props.get("Enabled", True)):
            continue
        source = props.get("EventSourceArn")
        target = source.get("Fn::GetAtt") if isinstance(source, dict) else None
        if isinstance(target, str):
            target = target.split(".", 1)
        if not target or target[1] != "Arn" or (resources.get(target[0]) or {}).get("Type") != "AWS::SQS::Queue":
            continue  # not a queue of this template (a stream, another stack's queue)
        queue = target[0]
        function_ref = props.get("FunctionName")
        function = function_ref.get("Ref") if isinstance(function_ref, dict) else None
        fn_resource = resources.get(function) or {}
        binary = ((fn_resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        if not binary:
            raise cfn.TemplateError(
                f"{logical_id}: FunctionName {function_ref!r} is not a function of the template "
                "with Metadata.BuildProperties.Binary"
            )
        if "FilterCriteria" in props:
            raise cfn.TemplateError(f"{logical_id}: FilterCriteria is not emulated locally")
        fn_props = stack.resolve(fn_resource.get("Properties") or {})
        queue_props = stack.resolve((resources[queue].get("Properties")) or {})
        out.append(
            Mapping(
                logical_id=logical_id,
                queue=queue,
                queue_name=local_queue_name(queue, queue_props),
                function=function,
                binary=binary,
                # Lambda's default for an SQS source.
                batch_size=int(props.get("BatchSize", 10)),
                report_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                timeout=int(fn_props.get("Timeout", globals_timeout)),
            )
        )
    return out


def lambda_message_attribute(value: dict) -> dict:
    """An SQS message attribute (ReceiveMessage's shape, as boto3 gives it: binary as bytes)
    in the shape Lambda puts in a record: camelCase, binary values base64."""

    def b64(data: Any) -> str:
        return base64.b64encode(data if isinstance(data, bytes) else str(data).encode()).decode()

    out: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [b64(v) for v in value.get("BinaryListValues") or []],
        "dataType": value.get("DataType"),
    }
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = b64(value["BinaryValue"])
    return out


def lambda_record(message: dict, queue_arn: str, region: str) -> dict:
    """One received SQS message as a record of Lambda's SQS event."""
    attributes = message.get("Attributes") or {}
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {k: attributes[k] for k in LAMBDA_ATTRIBUTES if k in attributes},
        "messageAttributes": {
            name: lambda_message_attribute(value) for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def lambda_event(messages: list[dict], queue_arn: str, region: str) -> dict:
    return {"Records": [lambda_record(m, queue_arn, region) for m in messages]}


@dataclass(frozen=True)
class Outcome:
    """What Lambda does with a batch after the invocation: the message ids it deletes, those it
    leaves (failed), and why, for the log."""

    delete: list[str]
    failed: list[str]
    reason: str


def outcome(message_ids: list[str], status: int | None, body: bytes, report_failures: bool) -> Outcome:
    """Which messages of the batch Lambda deletes, given the invocation's answer (status None:
    no answer at all). As documented for ReportBatchItemFailures: a null or empty answer, or an
    empty `batchItemFailures`, is a success; an answer that is not JSON, or a failure with an
    empty itemIdentifier or one that is not in the batch, fails the whole batch."""
    everything = Outcome(list(message_ids), [], "ok")

    def whole_batch(reason: str) -> Outcome:
        return Outcome([], list(message_ids), reason)

    if status is None:
        return whole_batch("no answer")
    if status != 200:
        return whole_batch(f"function error ({status}): {body[:300].decode(errors='replace')}")
    if not report_failures:
        return everything
    text = body.strip()
    if not text:
        return everything
    try:
        answer = json.loads(text)
    except ValueError:
        return whole_batch(f"answer is not JSON: {text[:200].decode(errors='replace')}")
    if answer is None:
        return everything
    if not isinstance(answer, dict):
        return whole_batch(f"answer is not an object: {text[:200].decode(errors='replace')}")
    failures = answer.get("batchItemFailures")
    if failures is None:
        return everything
    if not isinstance(failures, list):
        return whole_batch("batchItemFailures is not a list")
    failed = []
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or not ident:
            return whole_batch(f"a failure without an itemIdentifier: {item!r}")
        if ident not in message_ids:
            return whole_batch(f"itemIdentifier {ident!r} is not a message of the batch")
        failed.append(ident)
    return Outcome(
        [m for m in message_ids if m not in failed],
        [m for m in message_ids if m in failed],
        f"{len(failed)} reported failed" if failed else "ok",
    )


class Invoker:
    """A function invoked through `cargo lambda watch`'s invoke API (or any URL answering it)."""

    def __init__(self, base: str, url: str | None = None):
        self.base = base.rstrip("/")
        self.url = url
        self.warm: set[str] = set()

    def invocation_url(self, binary: str) -> str:
        return self.url or f"{self.base}/2015-03-31/functions/{binary}/invocations"

    def __call__(self, mapping: Mapping, event: dict) -> tuple[int | None, bytes]:
        """(status, body), or (None, b"") when watch never answered."""
        url = urllib.parse.urlsplit(self.invocation_url(mapping.binary))
        payload = json.dumps(event).encode()
        # A first invocation may wait for watch to compile the function (`cargo run`).
        wait = mapping.timeout + TIMEOUT_GRACE if mapping.binary in self.warm else COLD_TIMEOUT
        for attempt in range(1, WATCH_ATTEMPTS + 1):
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=wait)
            try:
                conn.request("POST", url.path, body=payload, headers={"Content-Type": "application/json"})
                reply = conn.getresponse()
                status, body = reply.status, reply.read()
            except (TimeoutError, socket.timeout):
                log("%s: no answer from %s within %s s", mapping.logical_id, mapping.binary, wait)
                self.warm.discard(mapping.binary)
                return None, b""
            except OSError as err:
                log("%s: cannot invoke %s at %s: %s", mapping.logical_id, mapping.binary, url.geturl(), err)
                return None, b""
            finally:
                conn.close()
            if status == 500 and body.startswith(WATCH_OWN_500) and attempt < WATCH_ATTEMPTS:
                log("%s: cargo lambda watch lost %s's answer (attempt %d of %d): invoking again",
                    mapping.logical_id, mapping.binary, attempt, WATCH_ATTEMPTS)
                continue
            self.warm.add(mapping.binary)
            return status, body
        return None, b""  # not reached: the last attempt returns


class Poller:
    """One mapping's loop step against an SQS client (the emulator's, or moto's in-process)."""

    def __init__(self, sqs, mapping: Mapping, invoke: Callable[[Mapping, dict], tuple[int | None, bytes]],
                 region: str = cfn.PSEUDO["AWS::Region"]):
        self.sqs = sqs
        self.mapping = mapping
        self.invoke = invoke
        self.region = region
        self.queue_url: str | None = None
        self.queue_arn = ""
        self.max_receives: int | None = None

    def resolve(self) -> None:
        """The queue's URL and ARN, and its redrive policy's maxReceiveCount (for the log)."""
        self.queue_url = self.sqs.get_queue_url(QueueName=self.mapping.queue_name)["QueueUrl"]
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["All"])["Attributes"]
        self.queue_arn = attrs["QueueArn"]
        if "RedrivePolicy" in attrs:
            self.max_receives = int(json.loads(attrs["RedrivePolicy"])["maxReceiveCount"])

    def poll_once(self) -> int:
        """One receive, and when it got messages one invocation and its deletes: how many
        messages it received."""
        if self.queue_url is None:
            self.resolve()
        received = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.mapping.batch_size, SQS_MAX_BATCH),
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages") or []
        if not received:
            return 0
        started = time.monotonic()
        status, body = self.invoke(self.mapping, lambda_event(received, self.queue_arn, self.region))
        ids = [m["MessageId"] for m in received]
        result = outcome(ids, status, body, self.mapping.report_failures)
        handles = {m["MessageId"]: m["ReceiptHandle"] for m in received}
        not_deleted = self.delete([handles[i] for i in result.delete])
        receives = [int((m.get("Attributes") or {}).get("ApproximateReceiveCount", "1"))
                    for m in received if m["MessageId"] in result.failed]
        last = [n for n in receives if self.max_receives and n >= self.max_receives]
        log(
            "%s: batch of %d -> %s in %d ms: %d deleted, %d left for a retry (%s)%s%s",
            self.mapping.logical_id,
            len(received),
            self.mapping.binary,
            (time.monotonic() - started) * 1000,
            len(result.delete) - not_deleted,
            len(result.failed),
            result.reason,
            f"; {len(last)} received {self.max_receives} times (maxReceiveCount): "
            "the dead-letter queue on the next receive" if last else "",
            f"; {not_deleted} delete(s) refused" if not_deleted else "",
        )
        return len(received)

    def delete(self, handles: list[str]) -> int:
        """DeleteMessageBatch, 10 at a time: how many the queue refused."""
        refused = 0
        for start in range(0, len(handles), SQS_MAX_BATCH):
            chunk = handles[start:start + SQS_MAX_BATCH]
            answer = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": h} for n, h in enumerate(chunk)],
            )
            for failure in answer.get("Failed") or []:
                refused += 1
                log("%s: delete refused: %s", self.mapping.logical_id, failure)
        return refused


def sqs_client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=cfn.PSEUDO["AWS::Region"],
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        config=Config(retries={"max_attempts": 2}, connect_timeout=3, read_timeout=10),
    )


def run(pollers: list[Poller], stop: threading.Event) -> None:
    """Round-robin over the mappings until `stop`: sleeps only when every queue was empty."""
    failing = False
    while not stop.is_set():
        got = 0
        try:
            for poller in pollers:
                got += poller.poll_once()
            if failing:
                log("the emulator answers again")
            failing = False
        except Exception as err:  # noqa: BLE001 - the emulator stopped, a queue missing: keep going
            if not failing:
                log("cannot poll: %s: %s (retrying every %s s)", type(err).__name__, err, ERROR_SLEEP)
            failing = True
            stop.wait(ERROR_SLEEP)
            continue
        if not got:
            stop.wait(IDLE_SLEEP)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"),
                        help="the AWS emulator (default: $AWS_ENDPOINT_URL)")
    parser.add_argument("--watch-port", type=int, help="cargo lambda watch's port (its invoke API)")
    parser.add_argument("--invoke-url", help="the full invocations URL instead, for every mapping")
    parser.add_argument("--template", default=str(cfn.TEMPLATE))
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="a template parameter, over its default and the environment")
    args = parser.parse_args()
    if not args.endpoint:
        parser.error("--endpoint (or AWS_ENDPOINT_URL) is required")
    if args.watch_port is None and not args.invoke_url:
        parser.error("--watch-port or --invoke-url is required")
    overrides = {}
    for item in args.parameter:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--parameter {item!r}: expected NAME=VALUE")
        overrides[name] = value
    try:
        mappings = load_mappings(cfn.Stack(cfn.load(args.template), overrides))
    except cfn.TemplateError as err:
        print(f"poller.py: {args.template}: {err}", file=sys.stderr)
        return 2
    if not mappings:
        log("no SQS event source mapping in %s: nothing to poll", args.template)
        return 0

    stop = threading.Event()

    def on_signal(signum, _frame):
        # Out at once, even mid-invocation: what was received and not deleted reappears after
        # its visibility timeout, as when a Lambda poller goes away.
        stop.set()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    invoker = Invoker(f"http://127.0.0.1:{args.watch_port}", args.invoke_url)
    sqs = sqs_client(args.endpoint)
    pollers = [Poller(sqs, m, invoker) for m in mappings]
    for m in mappings:
        log("%s: %s -> %s (%s), batches of %d%s, short polling every %s s when empty",
            m.logical_id, m.queue_name, m.binary, invoker.invocation_url(m.binary), m.batch_size,
            ", ReportBatchItemFailures" if m.report_failures else "", IDLE_SLEEP)
    try:
        run(pollers, stop)
    except SystemExit:
        pass
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
