#!/usr/bin/env python3
"""Creates, on a running AWS emulator, what the functions expect: the table (from
aws/dynamodb-table.json, the definition template.yaml follows too), each worker's queue with
its dead-letter queue, and a verified SES sender. Prints the environment the functions need.

    python3 -m moto.server -p 5055 &
    python3 scripts/emulator-setup.py http://127.0.0.1:5055
"""
import json
import pathlib
import sys

import boto3

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Each worker's queue: the name after `ums-`, and the variable that gives its URL (as in
# shared::ports::Queue).
QUEUES = {"email": "UMS_EMAIL_QUEUE_URL"}

endpoint = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5055"
aws = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")

table = json.loads((ROOT / "aws" / "dynamodb-table.json").read_text())
dynamodb = boto3.client("dynamodb", **aws)
if "ums" not in dynamodb.list_tables()["TableNames"]:
    dynamodb.create_table(
        TableName="ums",
        **{k: table[k] for k in ("BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")},
    )
    dynamodb.update_time_to_live(TableName="ums", TimeToLiveSpecification=table["TimeToLiveSpecification"])

sqs = boto3.client("sqs", **aws)
exports = []
for name, variable in QUEUES.items():
    dlq_url = sqs.create_queue(QueueName=f"ums-{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})
    url = sqs.create_queue(QueueName=f"ums-{name}", Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "180"})["QueueUrl"]
    exports.append(f"{variable}={url}")

boto3.client("sesv2", **aws).create_email_identity(EmailIdentity="no-reply@blog.localhost")

print(f"export AWS_ENDPOINT_URL={endpoint} AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing")
print(f"export UMS_TABLE_NAME=ums {' '.join(exports)}")
