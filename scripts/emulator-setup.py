#!/usr/bin/env python3
"""Creates, on a running AWS emulator, what the functions expect: the table (as template.yaml
defines it), the job queue with its dead-letter queue, and a verified SES sender. Prints the
environment the functions need.

    python3 -m moto.server -p 5055 &
    python3 scripts/emulator-setup.py http://127.0.0.1:5055
"""
import json
import sys

import boto3

endpoint = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5055"
aws = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")

dynamodb = boto3.client("dynamodb", **aws)
if "ums" not in dynamodb.list_tables()["TableNames"]:
    dynamodb.create_table(
        TableName="ums",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "GSI1PK", "GSI1SK")],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "GSI1",
            "KeySchema": [{"AttributeName": "GSI1PK", "KeyType": "HASH"}, {"AttributeName": "GSI1SK", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
    )
    dynamodb.update_time_to_live(TableName="ums", TimeToLiveSpecification={"AttributeName": "ttl", "Enabled": True})

sqs = boto3.client("sqs", **aws)
dlq_url = sqs.create_queue(QueueName="ums-jobs-dlq")["QueueUrl"]
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
queue_url = sqs.create_queue(
    QueueName="ums-jobs",
    Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}), "VisibilityTimeout": "180"},
)["QueueUrl"]

boto3.client("sesv2", **aws).create_email_identity(EmailIdentity="no-reply@blog.localhost")

print(f"export AWS_ENDPOINT_URL={endpoint} AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing")
print(f"export UMS_TABLE_NAME=ums UMS_JOBS_QUEUE_URL={queue_url}")
