#!/usr/bin/env python3
"""Creates, on a running AWS emulator, what the functions expect, from the definitions the
deployment uses: the table from aws/dynamodb-table.json, each worker's queue and dead-letter
queue from template.yaml, the photos bucket with its upload notifications, a verified SES sender, a signing key in SSM
Parameter Store, and the account events' bus with its rule to the webhook queue. Prints the environment the functions
need.

    python3 scripts/emulator -p 5055 &
    python3 scripts/emulator_setup.py http://127.0.0.1:5055
"""
import json
import pathlib
import sys

import boto3
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
TABLE = "ums"
BUCKET = "ums-photos"
SENDER = "no-reply@blog.localhost"
KEY_PARAMETER = "/ums/jwt-signing-key"
# The sign-in providers' settings, as the template's parameter names them; written only when
# the caller has some (scripts/aws-local: AWS_LOCAL_SIGN_IN_PROVIDERS).
PROVIDERS_PARAMETER = "/ums/sign-in-providers"
EVENT_BUS = "ums-accounts"
WEBHOOK_PARAMETER = "/ums/webhook-endpoints"


class _Template(yaml.SafeLoader):
    """Reads template.yaml, keeping CloudFormation's short-form intrinsics as plain values."""


_Template.add_multi_constructor("!", lambda loader, suffix, node: loader.construct_scalar(node)
                                if isinstance(node, yaml.ScalarNode) else loader.construct_sequence(node))


def template():
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_Template)


def worker_queues():
    """Each worker queue of the template: (name, url variable, visibility, max receives, the
    worker function it feeds)."""
    resources = template()["Resources"]
    queues = []
    for name, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in properties:
            prefix = name.removesuffix("Queue")  # EmailQueue -> Email
            queues.append((prefix.lower(), f"UMS_{prefix.upper()}_QUEUE_URL", int(properties["VisibilityTimeout"]),
                           int(properties["RedrivePolicy"]["maxReceiveCount"]), consumer(resources, name)))
    return queues


def consumer(resources, queue):
    """The binary of the function an SQS event of `queue` invokes."""
    for resource in resources.values():
        events = resource.get("Properties", {}).get("Events") or {}
        for event in events.values():
            if event.get("Type") == "SQS" and event["Properties"]["Queue"] == f"{queue}.Arn":
                return resource["Metadata"]["BuildProperties"]["Binary"]
    raise SystemExit(f"no function takes the messages of {queue}")


def signing_key():
    """A P-256 key: its PKCS#8 PEM and its public point (base64url x, y), as a key set lists it."""
    import base64
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    numbers = key.public_key().public_numbers()
    coordinate = lambda n: base64.urlsafe_b64encode(n.to_bytes(32, "big")).decode().rstrip("=")  # noqa: E731
    return {"private_key": pem, "x": coordinate(numbers.x), "y": coordinate(numbers.y)}


def key_set():
    """A new JWT key set, as `ums jwt-key new` prints it: the signing key, the next one, a seal secret."""
    import base64
    import datetime
    import secrets
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({
        "seal_secret": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="),
        "keys": [{"status": "next", "since": now, **signing_key()},
                 {"status": "signing", "since": now, **signing_key()}],
    })


def setup(endpoint, visibility_timeout=None, signing_key=None, sign_in_providers=None):
    """Creates everything (idempotently) and returns the functions' environment. Each queue's
    visibility timeout is the template's unless `visibility_timeout` overrides it."""
    aws = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
               aws_secret_access_key="testing")
    table = json.loads((ROOT / "aws" / "dynamodb-table.json").read_text())
    dynamodb = boto3.client("dynamodb", **aws)
    if TABLE not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(
            TableName=TABLE,
            **{k: table[k] for k in ("BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")},
            StreamSpecification=dict(table["StreamSpecification"], StreamEnabled=True),
        )
        dynamodb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification=table["TimeToLiveSpecification"])

    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
           "UMS_TABLE_NAME": TABLE, "UMS_JWT_KEY_PARAMETER": KEY_PARAMETER,
           "UMS_SIGN_IN_PROVIDERS_PARAMETER": PROVIDERS_PARAMETER}
    sqs = boto3.client("sqs", **aws)
    resources = template()["Resources"]
    for name, variable, visibility, max_receives, _ in worker_queues():
        # An ordered queue (the webhook queue) is FIFO, and so is its dead-letter queue.
        queue_properties = resources[f"{name.capitalize()}Queue"]["Properties"]
        fifo = {"FifoQueue": "true"} if queue_properties.get("FifoQueue") else {}
        suffix = ".fifo" if fifo else ""
        dlq_url = sqs.create_queue(QueueName=f"ums-{name}-dlq{suffix}", Attributes=fifo)["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)})
        attributes = {"RedrivePolicy": redrive, "VisibilityTimeout": str(visibility_timeout or visibility)}
        if fifo:
            fifo["ContentBasedDeduplication"] = str(bool(queue_properties.get("ContentBasedDeduplication"))).lower()
        url = sqs.create_queue(QueueName=f"ums-{name}{suffix}", Attributes=dict(attributes, **fifo))["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        env[variable] = url

    # The account events' bus, and its rule to the webhook queue, as the template has them.
    events = boto3.client("events", **aws)
    if EVENT_BUS not in [b["Name"] for b in events.list_event_buses()["EventBuses"]]:
        events.create_event_bus(Name=EVENT_BUS)
    rule = resources["AccountEventsToWebhooks"]["Properties"]
    events.put_rule(Name="ums-account-events-to-webhooks", EventBusName=EVENT_BUS,
                    EventPattern=json.dumps(rule["EventPattern"]))
    targets = []
    for target in rule["Targets"]:
        queue = target["Arn"].removesuffix("Queue.Arn").lower()  # WebhookQueue.Arn -> webhook
        url = env[f"UMS_{queue.upper()}_QUEUE_URL"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        targets.append({"Id": target["Id"], "Arn": arn, "SqsParameters": target["SqsParameters"]})
    events.put_targets(Rule="ums-account-events-to-webhooks", EventBusName=EVENT_BUS, Targets=targets)
    env["UMS_EVENT_BUS_NAME"] = EVENT_BUS
    env["UMS_WEBHOOK_ENDPOINTS_PARAMETER"] = WEBHOOK_PARAMETER

    s3 = boto3.client("s3", **aws)
    if BUCKET not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=BUCKET)
    # The bucket announces uploads on the queues the template names, as on AWS.
    notifications = template()["Resources"]["PhotosBucket"]["Properties"]["NotificationConfiguration"]
    queue_configurations = []
    for configuration in notifications["QueueConfigurations"]:
        name = configuration["Queue"].removesuffix("Queue.Arn").lower()  # PhotoQueue.Arn -> photo
        url = env[f"UMS_{name.upper()}_QUEUE_URL"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_configurations.append({"QueueArn": arn, "Events": [configuration["Event"]],
                                     "Filter": {"Key": {"FilterRules": configuration["Filter"]["S3Key"]["Rules"]}}})
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET, NotificationConfiguration={"QueueConfigurations": queue_configurations})
    env["UMS_PHOTO_BUCKET"] = BUCKET
    boto3.client("sesv2", **aws).create_email_identity(EmailIdentity=SENDER)
    ssm = boto3.client("ssm", **aws)
    ssm.put_parameter(Name=KEY_PARAMETER, Type="SecureString", Overwrite=True, Value=signing_key or key_set())
    if sign_in_providers:
        ssm.put_parameter(Name=PROVIDERS_PARAMETER, Type="SecureString", Overwrite=True, Value=sign_in_providers)
    return env


if __name__ == "__main__":
    environment = setup(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5055")
    print("export " + " ".join(f"{k}={v}" for k, v in environment.items()))
