"""Tests of the local event source mapping (poller.py).

Run: .venv/bin/python -B -m unittest discover -s infra/local -p 'test_*.py'

The pure parts (the mapping read from template.yaml, the SQS event, which messages an answer
deletes), then one poller step against moto in-process (receive, delete, the dead-letter queue
after maxReceiveCount), and the invoker against a fake `cargo lambda watch`.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import cfn  # noqa: E402
import poller  # noqa: E402

ARN = "arn:aws:sqs:us-east-1:123456789012:starter-jobs"
IDS = ["m1", "m2", "m3"]


def message(ident: str, **extra) -> dict:
    """A message as boto3's ReceiveMessage gives it."""
    return {
        "MessageId": ident,
        "ReceiptHandle": f"rh-{ident}",
        "MD5OfBody": "49f68a5c8493ec2c0bf489821c21fc3b",
        "Body": "hi",
        "Attributes": {
            "SenderId": "AIDAIT2UOQQY3AUEKVGXU",
            "SentTimestamp": "1796494331351",
            "ApproximateReceiveCount": "1",
            "ApproximateFirstReceiveTimestamp": "1796494331353",
        },
        **extra,
    }


def quiet_log(test: unittest.TestCase) -> list[str]:
    """poller.log into a list for the test's duration: its lines, for assertions."""
    lines: list[str] = []
    original = poller.log
    poller.log = lambda fmt, *args: lines.append(fmt % args if args else fmt)
    test.addCleanup(setattr, poller, "log", original)
    return lines


class TheTemplatesMapping(unittest.TestCase):
    def test_jobs_queue_mapping_is_read_from_template_yaml(self):
        mappings = poller.load_mappings(cfn.Stack(cfn.load(), environ={}))
        self.assertEqual([m.logical_id for m in mappings], ["JobsQueueMapping"])
        (m,) = mappings
        self.assertEqual(m.queue, "JobsQueue")
        self.assertEqual(m.queue_name, "starter-jobs")
        self.assertEqual(m.function, "JobsFunction")
        self.assertEqual(m.binary, "jobs")
        self.assertEqual(m.batch_size, 10)
        self.assertTrue(m.report_failures)
        self.assertEqual(m.timeout, 30)

    def test_a_mapping_to_something_other_than_a_template_function_is_refused(self):
        template = {
            "Resources": {
                "Q": {"Type": "AWS::SQS::Queue", "Properties": {}},
                "M": {"Type": "AWS::Lambda::EventSourceMapping",
                      "Properties": {"EventSourceArn": {"Fn::GetAtt": ["Q", "Arn"]}, "FunctionName": "some-arn"}},
            }
        }
        with self.assertRaises(cfn.TemplateError):
            poller.load_mappings(cfn.Stack(template, environ={}))

    def test_a_disabled_mapping_and_a_stream_are_not_polled_and_defaults_are_lambdas(self):
        fn = {"Type": "AWS::Serverless::Function", "Metadata": {"BuildProperties": {"Binary": "w"}}, "Properties": {}}
        template = {
            "Globals": {"Function": {"Timeout": 7}},
            "Resources": {
                "Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "named"}},
                "F": fn,
                "On": {"Type": "AWS::Lambda::EventSourceMapping",
                       "Properties": {"EventSourceArn": {"Fn::GetAtt": "Q.Arn"}, "FunctionName": {"Ref": "F"}}},
                "Off": {"Type": "AWS::Lambda::EventSourceMapping",
                        "Properties": {"Enabled": False, "EventSourceArn": {"Fn::GetAtt": ["Q", "Arn"]},
                                       "FunctionName": {"Ref": "F"}}},
                "Stream": {"Type": "AWS::Lambda::EventSourceMapping",
                           "Properties": {"EventSourceArn": "arn:aws:kinesis:...", "FunctionName": {"Ref": "F"}}},
            },
        }
        (m,) = poller.load_mappings(cfn.Stack(template, environ={}))
        self.assertEqual((m.logical_id, m.queue_name, m.batch_size, m.report_failures, m.timeout),
                         ("On", "named", 10, False, 7))


class TheSqsEvent(unittest.TestCase):
    def test_a_record_has_the_fields_lambda_sends(self):
        (record,) = poller.lambda_event([message("m1")], ARN, "us-east-1")["Records"]
        self.assertEqual(record["messageId"], "m1")
        self.assertEqual(record["receiptHandle"], "rh-m1")
        self.assertEqual(record["body"], "hi")
        self.assertEqual(record["md5OfBody"], "49f68a5c8493ec2c0bf489821c21fc3b")
        self.assertEqual(record["eventSource"], "aws:sqs")
        self.assertEqual(record["eventSourceARN"], ARN)
        self.assertEqual(record["awsRegion"], "us-east-1")
        self.assertEqual(
            sorted(record["attributes"]),
            ["ApproximateFirstReceiveTimestamp", "ApproximateReceiveCount", "SenderId", "SentTimestamp"],
        )
        self.assertEqual(record["messageAttributes"], {})
        self.assertNotIn("md5OfMessageAttributes", record)

    def test_message_attributes_are_in_lambdas_camel_case_shape_with_binary_base64(self):
        m = message("m1", MD5OfMessageAttributes="abc", MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "mail"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
            "n": {"DataType": "Number", "StringValue": "3"},
        })
        (record,) = poller.lambda_event([m], ARN, "us-east-1")["Records"]
        attrs = record["messageAttributes"]
        self.assertEqual(attrs["kind"], {"stringValue": "mail", "stringListValues": [], "binaryListValues": [],
                                         "dataType": "String"})
        self.assertEqual(base64.b64decode(attrs["blob"]["binaryValue"]), b"\x00\x01")
        self.assertNotIn("stringValue", attrs["blob"])
        self.assertEqual(attrs["n"]["dataType"], "Number")
        self.assertEqual(record["md5OfMessageAttributes"], "abc")

    def test_the_event_serializes_to_json(self):
        m = message("m1", MessageAttributes={"blob": {"DataType": "Binary", "BinaryValue": b"\xff"}})
        json.dumps(poller.lambda_event([m], ARN, "us-east-1"))


class WhatIsDeleted(unittest.TestCase):
    def answer(self, body, status=200, report=True):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return poller.outcome(IDS, status, raw, report)

    def test_reported_failures_stay_and_the_rest_is_deleted(self):
        o = self.answer({"batchItemFailures": [{"itemIdentifier": "m2"}]})
        self.assertEqual((o.delete, o.failed), (["m1", "m3"], ["m2"]))

    def test_an_empty_or_null_answer_or_empty_failures_deletes_everything(self):
        for body in (b"", b"null", {}, {"batchItemFailures": []}, {"batchItemFailures": None}):
            with self.subTest(body=body):
                o = self.answer(body)
                self.assertEqual((o.delete, o.failed), (IDS, []))

    def test_a_function_error_or_no_answer_deletes_nothing(self):
        for status in (500, 502, None):
            with self.subTest(status=status):
                o = self.answer(b'{"errorType":"x"}', status=status)
                self.assertEqual((o.delete, o.failed), ([], IDS))

    def test_an_unreadable_answer_fails_the_whole_batch(self):
        for body in (b"not json", b"[1]", {"batchItemFailures": "m1"}, {"batchItemFailures": [{"itemIdentifier": ""}]},
                     {"batchItemFailures": [{}]}, {"batchItemFailures": [{"itemIdentifier": "elsewhere"}]}):
            with self.subTest(body=body):
                o = self.answer(body)
                self.assertEqual((o.delete, o.failed), ([], IDS), o.reason)

    def test_without_report_batch_item_failures_a_success_deletes_everything(self):
        o = self.answer({"batchItemFailures": [{"itemIdentifier": "m2"}]}, report=False)
        self.assertEqual((o.delete, o.failed), (IDS, []))


class AgainstMoto(unittest.TestCase):
    """One poller step at a time against moto in-process: what is deleted is gone, what failed is
    received again, and after maxReceiveCount receives it is in the dead-letter queue."""

    def setUp(self):
        try:
            import boto3
            from moto import mock_aws
        except ImportError:  # pragma: no cover - .venv has both
            self.skipTest("boto3/moto not installed")
        self.mock = mock_aws()
        self.mock.start()
        self.addCleanup(self.mock.stop)
        self.sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
        dlq = self.sqs.create_queue(QueueName="starter-jobs-dead-letter")["QueueUrl"]
        self.dlq = dlq
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        # Visibility 0: a failed message is received again at once, not after 180 s.
        self.queue = self.sqs.create_queue(QueueName="starter-jobs", Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
        })["QueueUrl"]
        self.mapping = poller.Mapping("M", "JobsQueue", "starter-jobs", "JobsFunction", "jobs", 10, True, 30)
        self.events: list[dict] = []
        self.logged = quiet_log(self)

    def invoke_failing(self, bodies: set[str]):
        def invoke(_mapping, event):
            self.events.append(event)
            failed = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] in bodies]
            return 200, json.dumps({"batchItemFailures": failed}).encode()
        return invoke

    def bodies(self, url):
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages") or []
        return sorted(m["Body"] for m in got)

    def test_done_messages_are_deleted_and_a_failing_one_reaches_the_dead_letter_queue(self):
        for body in ("ok-1", "bad", "ok-2"):
            self.sqs.send_message(QueueUrl=self.queue, MessageBody=body,
                                  MessageAttributes={"kind": {"DataType": "String", "StringValue": "mail"}})
        step = poller.Poller(self.sqs, self.mapping, self.invoke_failing({"bad"}))
        self.assertEqual(step.poll_once(), 3)
        (first,) = self.events
        self.assertEqual(first["Records"][0]["eventSourceARN"], "arn:aws:sqs:us-east-1:123456789012:starter-jobs")
        self.assertEqual(first["Records"][0]["messageAttributes"]["kind"]["stringValue"], "mail")
        self.assertEqual(step.max_receives, 2)
        # Only the failed one is received again, with its receive count.
        self.assertEqual(step.poll_once(), 1)
        self.assertEqual([r["attributes"]["ApproximateReceiveCount"] for r in self.events[1]["Records"]], ["2"])
        # Its third receive moves it to the dead-letter queue instead.
        self.assertEqual(step.poll_once(), 0)
        self.assertEqual(self.bodies(self.dlq), ["bad"])
        self.assertEqual(self.bodies(self.queue), [])
        self.assertIn("batch of 3 -> jobs", self.logged[0])
        self.assertIn("2 deleted, 1 left for a retry", self.logged[0])
        self.assertIn("1 received 2 times (maxReceiveCount)", self.logged[1])

    def test_a_function_error_leaves_the_whole_batch(self):
        for body in ("a", "b"):
            self.sqs.send_message(QueueUrl=self.queue, MessageBody=body)
        step = poller.Poller(self.sqs, self.mapping, lambda _m, _e: (500, b'{"errorType":"Panic"}'))
        self.assertEqual(step.poll_once(), 2)
        self.assertEqual(self.bodies(self.queue), ["a", "b"])

    def test_an_empty_queue_invokes_nothing(self):
        step = poller.Poller(self.sqs, self.mapping, self.invoke_failing(set()))
        self.assertEqual(step.poll_once(), 0)
        self.assertEqual(self.events, [])


class FakeWatch(BaseHTTPRequestHandler):
    """Answers the invoke API with the next of `replies` (status, body), recording each path."""

    replies: list[tuple[int, bytes]] = []
    paths: list[str] = []

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        FakeWatch.paths.append(self.path)
        status, body = FakeWatch.replies.pop(0)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_):
        pass


class TheInvoker(unittest.TestCase):
    def setUp(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), FakeWatch)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        FakeWatch.paths = []
        self.mapping = poller.Mapping("M", "Q", "q", "F", "jobs", 10, True, 30)
        self.invoker = poller.Invoker(f"http://127.0.0.1:{self.server.server_port}")
        self.logged = quiet_log(self)

    def test_it_posts_to_watchs_invoke_path_for_the_binary(self):
        FakeWatch.replies = [(200, b'{"batchItemFailures":[]}')]
        self.assertEqual(self.invoker(self.mapping, {"Records": []}), (200, b'{"batchItemFailures":[]}'))
        self.assertEqual(FakeWatch.paths, ["/2015-03-31/functions/jobs/invocations"])

    def test_a_response_watch_lost_is_asked_for_again_but_a_function_error_is_not(self):
        lost = poller.WATCH_OWN_500 + b',"status":500}'
        FakeWatch.replies = [(500, lost), (200, b"{}")]
        self.assertEqual(self.invoker(self.mapping, {"Records": []}), (200, b"{}"))
        FakeWatch.replies = [(500, b'{"errorType":"Panic"}')]
        self.assertEqual(self.invoker(self.mapping, {"Records": []})[0], 500)
        self.assertEqual(len(FakeWatch.paths), 3)
        self.assertEqual(len([line for line in self.logged if "lost jobs's answer" in line]), 1)

    def test_nothing_listening_is_no_answer(self):
        self.server.shutdown()
        self.server.server_close()
        invoker = poller.Invoker("http://127.0.0.1:9", None)
        self.assertEqual(invoker(self.mapping, {"Records": []}), (None, b""))


if __name__ == "__main__":
    unittest.main()
