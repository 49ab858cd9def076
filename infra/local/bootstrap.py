#!/usr/bin/env python3
"""Create, in the local AWS emulator, every resource template.yaml declares. Idempotent.

template.yaml is the single source of truth: tables (keys, GSIs, TTL), the bucket (CORS), the
queues (visibility timeout, retention, SSE, the redrive policy to their dead-letter queue), the
secrets and the usage plans are read from it, and the function environment is derived from its
Globals and every function's own Environment, so a table added to the template appears locally
with no second definition to keep in sync.

Parameters (a queue's maxReceiveCount, a function's own variables) resolve as cfn.py does: the
template's default, then the environment under the SCREAMING_SNAKE name (JOBS_MAX_RECEIVE_COUNT=2),
then `--parameter Name=Value`.

Each usage plan (throttle and quota from the template's parameters, cfn.py) gets one local API
key, in the emulator's API Gateway, where infra/local/gateway.py reads keys and plans.

Writes an env file (KEY=VALUE lines) that `make dev` and `make test` export for the functions:
their environment, and the local API keys as LOCAL_API_KEY_<PLAN> (LOCAL_API_KEY_FREE, ...).
One `cargo lambda watch` runs every function with one environment, so the file holds the union
of Globals and each function's variables (a name two functions set differently is an error).

Usage: bootstrap.py --endpoint http://127.0.0.1:5000 --env-out .local/dev.env [--parameter Name=Value]...
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import hashlib
import re
import secrets
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

import boto3
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError
# cryptography comes with moto (it signs STS and S3 presigns): the same Ed25519 as aws-lc.
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# cfn.py, beside this file: no bytecode written there (cargo lambda watch would rebuild).
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import cfn  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
PREFIX = cfn.STACK_NAME


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, ...) as {"Fn": value} dicts."""


def _cfn_tag(loader, tag_suffix, node):
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def local_name(logical_id: str) -> str:
    """UsersTable -> starter-users, WebhookDeliveriesTable -> starter-webhook-deliveries,
    JobsDeadLetterQueue -> starter-jobs-dead-letter."""
    base = re.sub(r"(Table|Bucket|Secret|Queue)$", "", logical_id)
    return PREFIX + "-" + re.sub(r"(?<!^)(?=[A-Z])", "-", base).lower()


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 2}, connect_timeout=3, read_timeout=10),
    )


def ensure_table(ddb, name: str, props: dict) -> None:
    args = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    try:
        ddb.create_table(**args)
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
        created = "created"
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceInUseException":
            raise
        created = "exists"
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
    print(f"  table  {name:<32} {created}")


def ensure_bucket(s3, name: str, props: dict, cors_origins: list[str]) -> None:
    try:
        s3.create_bucket(Bucket=name)
        state = "created"
    except ClientError as err:
        if err.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
        state = "exists"
    rules = []
    for rule in props.get("CorsConfiguration", {}).get("CorsRules", []):
        rules.append(
            {
                "AllowedMethods": rule["AllowedMethods"],
                # The template takes origins from a stack parameter; locally they come from env.
                "AllowedOrigins": cors_origins,
                "AllowedHeaders": rule.get("AllowedHeaders", ["*"]),
                "ExposeHeaders": rule.get("ExposedHeaders", []),
                "MaxAgeSeconds": rule.get("MaxAge", 3000),
            }
        )
    if rules:
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
    # The rest of the template's bucket settings, as declared (the emulator stores them; it
    # does not enforce them, nor run lifecycle rules).
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
    if "BucketEncryption" in props:
        s3.put_bucket_encryption(
            Bucket=name,
            # CloudFormation says ServerSideEncryptionByDefault; the S3 API, Apply...
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]}
                    for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                ]
            },
        )
    lifecycle = [lifecycle_rule(r) for r in props.get("LifecycleConfiguration", {}).get("Rules", [])]
    if lifecycle:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name, LifecycleConfiguration={"Rules": lifecycle}
        )
    print(f"  bucket {name:<32} {state}")


def lifecycle_rule(rule: dict) -> dict:
    """A CloudFormation lifecycle rule in the S3 API's shape."""
    out = {"ID": rule["Id"], "Status": rule["Status"]}
    tags = [{"Key": t["Key"], "Value": t["Value"]} for t in rule.get("TagFilters", [])]
    prefix = rule.get("Prefix", "")
    if len(tags) == 1 and not prefix:
        out["Filter"] = {"Tag": tags[0]}
    elif tags:
        out["Filter"] = {"And": {"Prefix": prefix, "Tags": tags}}
    else:
        out["Filter"] = {"Prefix": prefix}
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": rule["ExpirationInDays"]}
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    return out


def local_secret_value(logical_id: str, props: dict) -> str:
    """Mirror GenerateSecretString's shape, with fresh random material of our own."""
    if "SecretString" in props:
        # A literal value (nothing to generate, e.g. the empty public key set): the same locally.
        return props["SecretString"]
    gen = props.get("GenerateSecretString", {})
    if "SecretStringTemplate" not in gen:
        # A bare generated string (e.g. the cursor key): 256 random bits, base64url.
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    template = json.loads(gen["SecretStringTemplate"])
    key = gen.get("GenerateStringKey")
    if key:
        # 256 random bits, base64url without padding (43 characters).
        template[key] = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    if logical_id == "WebhookSecretsSecret":
        # Known local values so webhook events and tests can be signed reproducibly: the RSA
        # source verifies with the public half of infra/local/webhook-rsa-local.pem, a key made
        # for local signing only (never deploy it).
        private = serialization.load_pem_private_key(
            (ROOT / "infra/local/webhook-rsa-local.pem").read_bytes(), password=None
        )
        public = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        template = {
            "github": "local-github-webhook-secret",
            "stripe": "whsec_local_stripe_secret",
            "standard": {"local": "whsec_bG9jYWwtc3RhbmRhcmQtd2ViaG9va3Mtc2VjcmV0"},
            "rsa": {"local": public},
        }
    return json.dumps(template)


# CloudFormation's AWS::SQS::Queue properties that are queue attributes of the same name.
QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "SqsManagedSseEnabled",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "FifoQueue",
    "ContentBasedDeduplication",
)


def ensure_queue(sqs, name: str, fifo: bool) -> str:
    """The queue, created bare if missing (its attributes are set by queue_attributes, once
    every queue exists, since a redrive policy names another queue's ARN): its URL."""
    name = name + ".fifo" if fifo and not name.endswith(".fifo") else name
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        state = "exists"
    except ClientError as err:
        if err.response["Error"]["Code"] not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
        url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]
        state = "created"
    print(f"  queue  {name:<32} {state}")
    return url


def queue_attributes(props: dict, arns: dict[str, str]) -> dict[str, str]:
    """A resolved AWS::SQS::Queue's properties as SetQueueAttributes takes them; `arns` maps a
    queue's logical id to its local ARN (for `Fn::GetAtt Queue.Arn` in a redrive policy)."""

    def arn(value):
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            logical_id, attribute = target.split(".", 1) if isinstance(target, str) else target
            if attribute == "Arn" and logical_id in arns:
                return arns[logical_id]
        if isinstance(value, str):
            return value
        raise cfn.TemplateError(f"cannot resolve {value!r} to a queue ARN locally")

    out = {}
    for key in QUEUE_ATTRIBUTES:
        if key in props and key != "FifoQueue":
            out[key] = cfn.scalar(props[key])
    if "RedrivePolicy" in props:
        policy = props["RedrivePolicy"]
        out["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": arn(policy["deadLetterTargetArn"]),
                "maxReceiveCount": int(policy["maxReceiveCount"]),
            }
        )
    if "RedriveAllowPolicy" in props:
        out["RedriveAllowPolicy"] = json.dumps(props["RedriveAllowPolicy"])
    return out


def ensure_queues(sqs, stack: cfn.Stack) -> dict[str, str]:
    """Every AWS::SQS::Queue of the template with its attributes (set again on an existing
    queue, so a changed parameter such as JOBS_MAX_RECEIVE_COUNT applies): logical id -> URL,
    which is what the queue's `!Ref` gives."""
    queues = stack.resources("AWS::SQS::Queue")
    urls, arns = {}, {}
    for logical_id, resource in queues.items():
        props = stack.resolve(resource.get("Properties") or {})
        name = props.get("QueueName") or local_name(logical_id)
        urls[logical_id] = ensure_queue(sqs, name, cfn.truthy(props.get("FifoQueue", False)))
        arns[logical_id] = sqs.get_queue_attributes(QueueUrl=urls[logical_id], AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
    for logical_id, resource in queues.items():
        attributes = queue_attributes(stack.resolve(resource.get("Properties") or {}), arns)
        if attributes:
            sqs.set_queue_attributes(QueueUrl=urls[logical_id], Attributes=attributes)
    return urls


def ensure_secret(sm, name: str, logical_id: str, props: dict) -> None:
    try:
        sm.describe_secret(SecretId=name)
        # Keep existing keys: rotating them on every bootstrap would log every local user out.
        print(f"  secret {name:<32} exists")
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        sm.create_secret(
            Name=name,
            Description=props.get("Description", ""),
            SecretString=local_secret_value(logical_id, props),
        )
        print(f"  secret {name:<32} created")


def publish_verifying_keys(sm, signing: str, verifying: str) -> None:
    """What auth does when it first signs: the ring's Ed25519 public keys into the verifying
    secret, so users can check tokens before auth ever ran. Seed = SHA-256 of each key string."""
    ring = json.loads(sm.get_secret_value(SecretId=signing)["SecretString"])
    keys = {}
    for kid, key in ring.items():
        if kid == "active_kid":
            continue
        seed = hashlib.sha256(key.encode()).digest()
        public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        keys[kid] = base64.urlsafe_b64encode(public).rstrip(b"=").decode()
    sm.put_secret_value(SecretId=verifying, SecretString=json.dumps({"keys": keys}))
    print(f"  secret {verifying:<32} public keys of {', '.join(sorted(keys))}")


def seed_tiers(ddb, table: str, env: dict[str, str]) -> None:
    """The environment's tiers as the tiers function seeds them deployed (functions/tiers,
    TiersStore::ensure_seeded): free, pro and enterprise, each with one rule `*` (id `all`) of
    its RATE_LIMIT_TIER_* quota per RATE_LIMIT_WINDOW, marked `seed` (the limiter then applies
    the environment's policy for it), and the marker SEEDED. Idempotent, and never over an
    admin's edits: every put is conditional on the item being absent, nothing is written once
    the marker exists (an admin who deleted a seeded tier does not see it again), and a later
    run only refreshes the quota of seed rules no admin has touched (`seed = true`)."""
    def var(name: str, default) -> int:
        # Globals' value (a shell override included), else the shell's (RATE_LIMIT_TIER_FREE is
        # not in Globals: it defaults to RATE_LIMIT_USER), else the limiter's default.
        return int(env.get(name) or os.environ.get(name) or default)

    user = var("RATE_LIMIT_USER", 300)
    quotas = {
        "free": var("RATE_LIMIT_TIER_FREE", user),
        "pro": var("RATE_LIMIT_TIER_PRO", 1000),
        "enterprise": var("RATE_LIMIT_TIER_ENTERPRISE", 5000),
    }
    window = var("RATE_LIMIT_WINDOW", 60)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def put_new(item: dict) -> bool:
        try:
            ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
            return True
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False

    marker = ddb.get_item(TableName=table, Key={"pk": {"S": "SEEDED"}}, ConsistentRead=True).get("Item")
    if marker is None:
        for name, quota in quotas.items():
            put_new({
                "pk": {"S": f"TIER#{name}"}, "kind": {"S": "tier"}, "name": {"S": name},
                "rules": {"N": "1"}, "version": {"N": "1"},
                "created_at": {"S": now}, "updated_at": {"S": now},
            })
            put_new({
                "pk": {"S": f"TIER#{name}#RULE#all"}, "kind": {"S": "rule"}, "tier": {"S": name},
                "id": {"S": "all"}, "path": {"S": "*"}, "limit": {"N": str(quota)},
                "period": {"N": str(window)}, "seed": {"BOOL": True}, "version": {"N": "1"},
                "created_at": {"S": now}, "updated_at": {"S": now},
            })
        put_new({"pk": {"S": "SEEDED"}, "kind": {"S": "seeded"}, "at": {"S": now}})
        print(f"  tiers  {table:<32} seeded {', '.join(f'{k} {v}/{window}s' for k, v in quotas.items())}")
        return
    for name, quota in quotas.items():
        try:
            ddb.update_item(
                TableName=table,
                Key={"pk": {"S": f"TIER#{name}#RULE#all"}},
                UpdateExpression="SET #limit = :limit, period = :period",
                ConditionExpression="seed = :t",
                ExpressionAttributeNames={"#limit": "limit"},
                ExpressionAttributeValues={":limit": {"N": str(quota)}, ":period": {"N": str(window)}, ":t": {"BOOL": True}},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
    print(f"  tiers  {table:<32} seeded before (untouched seed rules follow the environment)")


def ensure_ses_identity(ses, address: str) -> None:
    try:
        ses.create_email_identity(EmailIdentity=address)
        print(f"  ses    {address:<32} created")
    except ClientError as err:
        if err.response["Error"]["Code"] != "AlreadyExistsException":
            raise
        print(f"  ses    {address:<32} exists")


def ensure_usage_plans(apigw, stack: cfn.Stack, stage: str) -> dict[str, str]:
    """The template's usage plans on a local REST API's stage, with one enabled API key each:
    plan logical id -> key value. The REST API stands for the template's Api in the emulator
    (moto keeps keys and plans, and gives key values back); gateway.py serves its routes."""
    plans = stack.resources("AWS::ApiGateway::UsagePlan")
    if not plans:
        return {}
    apis = [a for a in apigw.get_rest_apis(limit=500)["items"] if a["name"] == cfn.REST_API_NAME]
    api_id = apis[0]["id"] if apis else apigw.create_rest_api(name=cfn.REST_API_NAME, apiKeySource="HEADER")["id"]
    existing_plans = {p["name"]: p for p in apigw.get_usage_plans(limit=500)["items"]}
    existing_keys = {k["name"]: k for k in apigw.get_api_keys(includeValues=True, limit=500)["items"]}
    values = {}
    for logical_id, resource in plans.items():
        props = stack.resolve(resource.get("Properties") or {})
        name = props.get("UsagePlanName") or f"{PREFIX}-{logical_id}"
        spec = {"apiStages": [{"apiId": api_id, "stage": stage}]}
        if "Throttle" in props:
            spec["throttle"] = {
                "rateLimit": float(props["Throttle"]["RateLimit"]),
                "burstLimit": int(props["Throttle"]["BurstLimit"]),
            }
        if "Quota" in props:
            spec["quota"] = {"limit": int(props["Quota"]["Limit"]), "period": props["Quota"]["Period"]}
        plan = existing_plans.get(name)
        if plan is None:
            plan = apigw.create_usage_plan(name=name, description=props.get("Description", ""), **spec)
            state = "created"
        else:
            # A parameter changed since (FREE_PLAN_RATE_LIMIT=...): the plan follows.
            values_now = {}
            if "throttle" in spec:
                values_now["/throttle/rateLimit"] = f"{spec['throttle']['rateLimit']:g}"
                values_now["/throttle/burstLimit"] = str(spec["throttle"]["burstLimit"])
            if "quota" in spec:
                values_now["/quota/limit"] = str(spec["quota"]["limit"])
                values_now["/quota/period"] = spec["quota"]["period"]
            ops = [{"op": "replace", "path": path, "value": value} for path, value in values_now.items()]
            if ops:
                apigw.update_usage_plan(usagePlanId=plan["id"], patchOperations=ops)
            state = "exists"
        key_name = f"{PREFIX}-local-{plan_label(logical_id).lower()}"
        key = existing_keys.get(key_name)
        if key is None:
            key = apigw.create_api_key(
                name=key_name,
                description=f"local key on {name}",
                enabled=True,
                value=base64.urlsafe_b64encode(secrets.token_bytes(30)).decode(),
            )
        attached = {k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan["id"], limit=500)["items"]}
        if key["id"] not in attached:
            apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
        values[logical_id] = key["value"]
        print(f"  plan   {name:<32} {state}, key {key_name}")
    return values


def plan_label(logical_id: str) -> str:
    """FreeUsagePlan -> FREE: the suffix of LOCAL_API_KEY_<label>."""
    return re.sub(r"UsagePlan$", "", logical_id).upper() or logical_id.upper()


def resolve_env(value, names: dict[str, str], params: dict[str, str]) -> str | None:
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, dict) and "Ref" in value:
        ref = value["Ref"]
        if ref in names:
            return names[ref]
        return params.get(ref)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--template", default=str(ROOT / "template.yaml"))
    parser.add_argument("--env-out", required=True)
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="a template parameter, over its default and the environment")
    args = parser.parse_args()
    overrides = {}
    for item in args.parameter:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--parameter {item!r}: expected NAME=VALUE")
        overrides[name] = value

    template = yaml.load(Path(args.template).read_text(), Loader=CfnLoader)
    resources = template["Resources"]
    mail_from = os.environ.get("MAIL_FROM", "no-reply@example.com")
    cors = os.environ.get("CORS_ALLOWED_ORIGINS", "http://localhost:3000,http://127.0.0.1:3000")
    # The template's own defaults, then the local values below.
    params = {
        name: str(spec["Default"])
        for name, spec in template.get("Parameters", {}).items()
        if "Default" in spec
    }
    params |= {
        "MailFrom": mail_from,
        "CorsAllowedOrigins": cors,
        "StageName": "v1",
        "PublicAppUrl": os.environ.get("PUBLIC_APP_URL", "http://localhost:3000"),
        "MailConfigurationSet": os.environ.get("MAIL_CONFIGURATION_SET", ""),
    }

    ddb = client("dynamodb", args.endpoint)
    s3 = client("s3", args.endpoint)
    sm = client("secretsmanager", args.endpoint)
    ses = client("sesv2", args.endpoint)
    apigw = client("apigateway", args.endpoint)
    sqs = client("sqs", args.endpoint)
    # Parameters as gateway.py reads them (defaults, then FREE_PLAN_RATE_LIMIT=... in the env,
    # then --parameter).
    try:
        stack = cfn.Stack(cfn.load(args.template), overrides)
    except cfn.TemplateError as err:
        print(f"bootstrap: {err}", file=sys.stderr)
        return 1

    print(f"bootstrapping {args.endpoint} from {args.template}")
    names: dict[str, str] = {}
    for logical_id, res in resources.items():
        kind, props = res["Type"], res.get("Properties", {})
        name = local_name(logical_id)
        if kind == "AWS::DynamoDB::Table":
            # Resolved: an index can hang on a condition (UsersTable's gsi1, KeepUsersIndexGsi1).
            ensure_table(ddb, name, stack.resolve(props))
        elif kind == "AWS::S3::Bucket":
            ensure_bucket(s3, name, props, [o.strip() for o in cors.split(",") if o.strip()])
        elif kind == "AWS::SecretsManager::Secret":
            ensure_secret(sm, name, logical_id, props)
        else:
            continue
        names[logical_id] = name
    if "SigningKeysSecret" in names and "VerifyingKeysSecret" in names:
        publish_verifying_keys(sm, names["SigningKeysSecret"], names["VerifyingKeysSecret"])
    # A queue's !Ref is its URL, which is what the functions' variables carry.
    names |= ensure_queues(sqs, stack)
    ensure_ses_identity(ses, mail_from)
    keys = ensure_usage_plans(apigw, stack, stack.params["StageName"])

    env = {}
    for key, value in template["Globals"]["Function"]["Environment"]["Variables"].items():
        resolved = resolve_env(value, names, params)
        if resolved is None:
            print(f"cannot resolve {key} for local use", file=sys.stderr)
            return 1
        env[key] = resolved
        # `RATE_LIMIT_STRICT=1000 make dev`: a limit set in the shell wins over the template's.
        if key.startswith("RATE_LIMIT_") and os.environ.get(key):
            env[key] = os.environ[key]
    # Each function's own variables (UploadsFunction's UPLOAD_*, TasksFunction's
    # JOBS_DEAD_LETTER_QUEUE_URL, ...): one watch runs every function with one environment, so
    # the union, which only works while no two functions give a name different values.
    owner: dict[str, str] = {}
    for logical_id, resource in stack.resources("AWS::Serverless::Function").items():
        variables = ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
        for key, value in variables.items():
            resolved = resolve_env(stack.resolve(value), names, {})
            if resolved is None:
                print(f"cannot resolve {logical_id}'s {key} for local use", file=sys.stderr)
                return 1
            if key in env and env[key] != resolved:
                print(f"{key} is {env[key]!r} for {owner.get(key, 'Globals')} but {resolved!r} for "
                      f"{logical_id}: one local watch cannot give them both", file=sys.stderr)
                return 1
            env[key] = resolved
            owner[key] = logical_id
    if "TiersTable" in names:
        seed_tiers(ddb, names["TiersTable"], env)
    # Local differences from a deployed stage. (AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH stays as
    # deployed: gateway.py sends REST events with the stage in requestContext.path.)
    env["APP_ENV"] = "local"
    for logical_id, value in keys.items():
        env[f"LOCAL_API_KEY_{plan_label(logical_id)}"] = value
    out = Path(args.env_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(env_file_text(env))
    print(f"wrote {out}")
    return 0


def env_file_text(env: dict) -> str:
    """The env file, one `NAME=value` per line. It is sourced by the shell (lib.sh's
    export_env), so each value is quoted: one with spaces (`WEBAUTHN_RP_NAME=My App`) or shell
    characters arrives as written."""
    return "".join(f"{k}={shlex.quote(str(v))}\n" for k, v in sorted(env.items()))


if __name__ == "__main__":
    sys.exit(main())
