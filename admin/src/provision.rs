//! Creates the stack's stateful resources from [`StackDefinition`] against the configured AWS
//! endpoint: the local emulator for `make dev` and the tests. Idempotent: what exists is kept.
//!
//! It speaks to AWS through the functions' own client (`shared::aws`), each request as AWS's
//! API reference writes it, so nothing the local stack builds or runs links the AWS SDK (the
//! tests keep the SDK as an independent reader of what the functions wrote).

use std::collections::BTreeMap;

use bytes::Bytes;
use hyper::Method;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value, json};
use shared::aws::s3::S3;
use shared::aws::sqs::Sqs;
use shared::aws::{AwsClient, AwsConfig, AwsError, DYNAMODB, SECRETS_MANAGER, SNS, xml_element};

use crate::template::{KeyElement, QueueDefinition, StackDefinition, TableDefinition};

/// Names and addresses of what was provisioned.
#[derive(Debug, Default)]
pub struct Provisioned {
    pub tables: Vec<String>,
    pub queue_urls: BTreeMap<String, String>,
    pub topic_arns: BTreeMap<String, String>,
    pub secrets: Vec<String>,
    pub buckets: Vec<String>,
}

/// `result`, where a failure whose code is one of `exists` (the resource is there already)
/// counts as done.
fn created_or_exists<T>(result: Result<T, AwsError>, exists: &[&str], what: &str) -> Result<bool, String> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.code.as_deref().is_some_and(|code| exists.contains(&code)) => Ok(false),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

fn key_schema(elements: &[KeyElement]) -> Vec<Value> {
    elements
        .iter()
        .map(|e| json!({ "AttributeName": e.attribute, "KeyType": e.key_type }))
        .collect()
}

async fn create_table(dynamodb: &AwsClient, table: &TableDefinition) -> Result<(), String> {
    let mut request = json!({
        "TableName": table.name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": key_schema(&table.key_schema),
        "AttributeDefinitions": table.attributes.iter()
            .map(|(name, kind)| json!({ "AttributeName": name, "AttributeType": kind }))
            .collect::<Vec<_>>(),
    });
    // DynamoDB refuses an empty list of indexes: a table without them sends none.
    if !table.indexes.is_empty() {
        request["GlobalSecondaryIndexes"] = table
            .indexes
            .iter()
            .map(|index| {
                json!({
                    "IndexName": index.name,
                    "KeySchema": key_schema(&index.key_schema),
                    "Projection": { "ProjectionType": index.projection },
                })
            })
            .collect();
    }
    let created = dynamodb.call::<IgnoredAny>("CreateTable", &request).await;
    if !created_or_exists(
        created,
        &["ResourceInUseException"],
        &format!("creating table {}", table.name),
    )? {
        return Ok(());
    }
    if let Some(attribute) = &table.ttl_attribute {
        let request = json!({
            "TableName": table.name,
            "TimeToLiveSpecification": { "AttributeName": attribute, "Enabled": true },
        });
        dynamodb
            .call::<IgnoredAny>("UpdateTimeToLive", &request)
            .await
            .map_err(|e| format!("enabling TTL on {}: {e}", table.name))?;
    }
    Ok(())
}

/// Creates `queue` (or finds it, with the same attributes) and answers its URL and ARN;
/// `dead_letter_arns` holds the ARNs of the queues created before it.
async fn create_queue(
    sqs: &Sqs,
    queue: &QueueDefinition,
    dead_letter_arns: &BTreeMap<String, String>,
) -> Result<(String, String), String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Created {
        queue_url: String,
    }
    let mut attributes = Map::new();
    if let Some(seconds) = queue.visibility_timeout {
        attributes.insert("VisibilityTimeout".into(), seconds.to_string().into());
    }
    if let Some(seconds) = queue.message_retention_period {
        attributes.insert("MessageRetentionPeriod".into(), seconds.to_string().into());
    }
    if let Some(redrive) = &queue.redrive {
        let target = dead_letter_arns.get(&redrive.dead_letter_queue).ok_or_else(|| {
            format!(
                "{}: dead-letter queue {} is not defined",
                queue.name, redrive.dead_letter_queue
            )
        })?;
        let policy = json!({ "deadLetterTargetArn": target, "maxReceiveCount": redrive.max_receive_count });
        attributes.insert("RedrivePolicy".into(), policy.to_string().into());
    }
    let created: Created = sqs
        .client()
        .call(
            "CreateQueue",
            &json!({ "QueueName": queue.name, "Attributes": attributes }),
        )
        .await
        .map_err(|e| format!("creating queue {}: {e}", queue.name))?;
    let arn = crate::queues::queue_arn(sqs, &created.queue_url)
        .await
        .map_err(|e| format!("reading queue {}: {e}", queue.name))?;
    Ok((created.queue_url, arn))
}

pub async fn provision(config: &AwsConfig, stack: &StackDefinition) -> Result<Provisioned, String> {
    let mut done = Provisioned::default();
    let dynamodb = AwsClient::from_config(DYNAMODB, config)?;
    for table in &stack.tables {
        create_table(&dynamodb, table).await?;
        done.tables.push(table.name.clone());
    }

    // Dead-letter queues first: a queue's redrive policy names its DLQ's ARN.
    let sqs = Sqs::from_config(config)?;
    let mut queues: Vec<_> = stack.queues.iter().collect();
    queues.sort_by_key(|q| q.redrive.is_some());
    let mut arns = BTreeMap::new();
    for queue in queues {
        let (url, arn) = create_queue(&sqs, queue, &arns).await?;
        arns.insert(queue.name.clone(), arn);
        done.queue_urls.insert(queue.name.clone(), url);
    }

    let sns = AwsClient::from_config(SNS, config)?;
    for topic in &stack.topics {
        // Creating a topic that exists answers the existing topic's ARN.
        let answer = sns
            .call_query("CreateTopic", &[("Name", topic)])
            .await
            .map_err(|e| format!("creating topic {topic}: {e}"))?;
        let answer = String::from_utf8_lossy(&answer);
        let arn = xml_element(&answer, "TopicArn").unwrap_or_default().trim();
        done.topic_arns.insert(topic.clone(), arn.to_string());
    }

    let secrets = AwsClient::from_config(SECRETS_MANAGER, config)?;
    for secret in &stack.secrets {
        let request = json!({ "Name": secret, "SecretString": shared::ids::random_base32(64) });
        let created = secrets.call::<IgnoredAny>("CreateSecret", &request).await;
        created_or_exists(
            created,
            &["ResourceExistsException"],
            &format!("creating secret {secret}"),
        )?;
        done.secrets.push(secret.clone());
    }

    for bucket in &stack.buckets {
        let name = crate::template::bucket_name(bucket);
        // Addressed by path: the emulator's endpoint is an address and port, which a bucket's
        // name cannot be prefixed to.
        let s3 = S3::from_config(config, &name, true)?;
        let created = s3.client().rest(&Method::PUT, "", &[], Bytes::new()).await;
        let exists = ["BucketAlreadyOwnedByYou", "BucketAlreadyExists"];
        created_or_exists(created, &exists, &format!("creating bucket {name}"))?;
        done.buckets.push(name);
    }
    Ok(done)
}
